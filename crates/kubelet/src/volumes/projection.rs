//! The files of ConfigMap, Secret, downward API and projected volumes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, KeyToPath, Pod, Secret, VolumeProjection};

use crate::downward;

/// One file of a volume: a path relative to the volume, its bytes and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// Upstream's default file mode for these volumes (0644).
pub const DEFAULT_MODE: i32 = 0o644;

fn mode(item: Option<i32>, default: Option<i32>) -> u32 {
    item.or(default).unwrap_or(DEFAULT_MODE) as u32 & 0o777
}

/// Selects the files of a key/value source: every key, or only the listed items.
fn select(
    kind: &str,
    name: &str,
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Vec<File>, String> {
    match items {
        None => Ok(data.into_iter().map(|(k, v)| File { path: k, data: v, mode: mode(None, default_mode) }).collect()),
        Some(items) => {
            let mut out = Vec::new();
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        out.push(File { path: item.path.clone(), data: v.clone(), mode: mode(item.mode, default_mode) })
                    }
                    None if optional => {}
                    None => return Err(format!("{kind} {name:?} references non-existent config key: {}", item.key)),
                }
            }
            Ok(out)
        }
    }
}

fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> =
        cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    data.extend(cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
    data
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

/// The files of a ConfigMap volume; `cm` is `None` when the ConfigMap does not exist.
pub fn config_map_files(
    name: &str,
    cm: Option<&ConfigMap>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Vec<File>, String> {
    match cm {
        Some(cm) => select("configmap", name, config_map_data(cm), items, default_mode, optional),
        None if optional => Ok(Vec::new()),
        None => Err(format!("configmap {name:?} not found")),
    }
}

/// The files of a Secret volume; `secret` is `None` when the Secret does not exist.
pub fn secret_files(
    name: &str,
    secret: Option<&Secret>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Vec<File>, String> {
    match secret {
        Some(s) => select("secret", name, secret_data(s), items, default_mode, optional),
        None if optional => Ok(Vec::new()),
        None => Err(format!("secret {name:?} not found")),
    }
}

/// The files of a downward API volume.
pub fn downward_files(
    pod: &Pod,
    items: &[k8s_openapi::api::core::v1::DownwardAPIVolumeFile],
    default_mode: Option<i32>,
    node: &downward::Allocatable,
) -> Result<Vec<File>, String> {
    let mut out = Vec::new();
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            downward::field(pod, &f.field_path)?
        } else if let Some(r) = &item.resource_field_ref {
            let spec = pod.spec.as_ref().ok_or("pod has no spec")?;
            let name = r.container_name.as_deref().unwrap_or("");
            let container = spec
                .containers
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("container {name:?} not found in pod"))?;
            downward::resource(container, r, node)?
        } else {
            String::new()
        };
        out.push(File { path: item.path.clone(), data: value.into_bytes(), mode: mode(item.mode, default_mode) });
    }
    Ok(out)
}

/// What projected volumes need from the outside world.
pub trait ProjectionSources {
    fn config_map(&self, name: &str) -> Option<ConfigMap>;
    fn secret(&self, name: &str) -> Option<Secret>;
    /// A token for the pod's service account with this audience and lifetime.
    fn service_account_token(&self, audience: Option<&str>, expiration_seconds: i64) -> Result<String, String>;
    /// The node's allocatable resources (unset limits in downward API items).
    fn node_allocatable(&self) -> downward::Allocatable;
}

/// The files of a projected volume.
pub fn projected_files(
    pod: &Pod,
    sources: &[VolumeProjection],
    default_mode: Option<i32>,
    from: &dyn ProjectionSources,
) -> Result<Vec<File>, String> {
    let mut out = Vec::new();
    for s in sources {
        if let Some(c) = &s.config_map {
            let cm = from.config_map(&c.name);
            out.extend(config_map_files(
                &c.name,
                cm.as_ref(),
                c.items.as_ref(),
                default_mode,
                c.optional == Some(true),
            )?);
        }
        if let Some(c) = &s.secret {
            let secret = from.secret(&c.name);
            out.extend(secret_files(
                &c.name,
                secret.as_ref(),
                c.items.as_ref(),
                default_mode,
                c.optional == Some(true),
            )?);
        }
        if let Some(d) = &s.downward_api {
            out.extend(downward_files(
                pod,
                d.items.as_deref().unwrap_or_default(),
                default_mode,
                &from.node_allocatable(),
            )?);
        }
        if let Some(t) = &s.service_account_token {
            let token = from.service_account_token(t.audience.as_deref(), t.expiration_seconds.unwrap_or(3600))?;
            // Tokens are readable by the owner only unless a mode says otherwise.
            out.push(File {
                path: t.path.clone(),
                data: token.into_bytes(),
                mode: mode(None, default_mode.or(Some(0o600))),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_modes_and_missing_keys() {
        let cm: ConfigMap =
            serde_json::from_value(json!({"data": {"a": "1", "b": "2"}, "binaryData": {"bin": "AAE="}})).unwrap();
        let all = config_map_files("c", Some(&cm), None, None, false).unwrap();
        assert_eq!(all.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), vec!["a", "b", "bin"]);
        assert_eq!(all[2].data, vec![0, 1]);
        assert_eq!(all[0].mode, 0o644);
        let items: Vec<KeyToPath> =
            serde_json::from_value(json!([{"key": "a", "path": "dir/a.txt", "mode": 0o400}])).unwrap();
        let some = config_map_files("c", Some(&cm), Some(&items), Some(0o600), false).unwrap();
        assert_eq!(some, vec![File { path: "dir/a.txt".into(), data: b"1".to_vec(), mode: 0o400 }]);
        let missing: Vec<KeyToPath> = serde_json::from_value(json!([{"key": "zz", "path": "z"}])).unwrap();
        assert_eq!(
            config_map_files("c", Some(&cm), Some(&missing), None, false).unwrap_err(),
            "configmap \"c\" references non-existent config key: zz"
        );
        assert!(config_map_files("c", Some(&cm), Some(&missing), None, true).unwrap().is_empty());
        assert_eq!(secret_files("s", None, None, None, false).unwrap_err(), "secret \"s\" not found");
        assert!(secret_files("s", None, None, None, true).unwrap().is_empty());
    }
}
