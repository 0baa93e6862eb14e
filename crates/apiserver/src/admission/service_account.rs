//! ServiceAccount admission for pods: the service account defaults to `default` and must
//! exist; unless automounting is turned off (on the pod or its service account) every
//! container gets the `kube-api-access-<suffix>` projected volume (a bound token, the cluster
//! CA and the namespace) at `/var/run/secrets/kubernetes.io/serviceaccount`. Mirror pods may
//! not use service accounts at all.
//!
//! Also: a new Secret of type `kubernetes.io/service-account-token` gets its legacy token,
//! the CA and the namespace, as upstream's token controller fills them in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k3rs_api::{ApiError, meta};
use serde_json::{Value, json};

use crate::rest::ResourceRequest;
use crate::serviceaccounts::{DEFAULT_SERVICE_ACCOUNT, ROOT_CA_CONFIG_MAP};

pub const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
/// Upstream's projected token lifetime: an hour plus a margin the kubelet refreshes within.
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

fn forbidden(r: &ResourceRequest, obj: &Value, why: String) -> ApiError {
    let name = meta::name(obj);
    ApiError::forbidden(format!("pods {name:?} is forbidden: {why}")).with_details(&r.def.group, "pods", name)
}

pub async fn admit_pod(r: &ResourceRequest, pod: &mut Value) -> Result<(), ApiError> {
    let ns = meta::namespace(pod).to_string();
    if meta::annotation(pod, MIRROR_ANNOTATION).is_some() {
        let sa = pod.pointer("/spec/serviceAccountName").and_then(Value::as_str).unwrap_or("");
        if !sa.is_empty() {
            return Err(forbidden(r, pod, "a mirror pod may not reference service accounts".into()));
        }
        return Ok(());
    }
    let sa_name = match pod.pointer("/spec/serviceAccountName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(s) => s.to_string(),
        None => pod
            .pointer("/spec/serviceAccount")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_SERVICE_ACCOUNT)
            .to_string(),
    };
    pod["spec"]["serviceAccountName"] = json!(sa_name);
    pod["spec"]["serviceAccount"] = json!(sa_name);
    let Some(sa) = r.state.get_object(&format!("/registry/serviceaccounts/{ns}/{sa_name}")).await? else {
        return Err(forbidden(
            r,
            pod,
            format!("error looking up service account {ns}/{sa_name}: serviceaccount {sa_name:?} not found"),
        ));
    };
    let automount = pod
        .pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| sa.get("automountServiceAccountToken").and_then(Value::as_bool))
        .unwrap_or(true);
    if automount {
        mount_token(pod);
    }
    Ok(())
}

fn has_mount_at(container: &Value, path: &str) -> bool {
    container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .is_some_and(|m| m.iter().any(|vm| vm.get("mountPath").and_then(Value::as_str) == Some(path)))
}

fn random_suffix() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// Adds the projected token volume and mounts it where no container mounts something else.
fn mount_token(pod: &mut Value) {
    let volume_name = format!("kube-api-access-{}", random_suffix());
    let mut mounted = false;
    for list in ["containers", "initContainers"] {
        let Some(containers) = pod.pointer_mut(&format!("/spec/{list}")).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut() {
            if has_mount_at(c, MOUNT_PATH) {
                continue;
            }
            if !c.get("volumeMounts").is_some_and(Value::is_array) {
                c["volumeMounts"] = json!([]);
            }
            if let Some(mounts) = c["volumeMounts"].as_array_mut() {
                mounts.push(json!({"name": volume_name, "readOnly": true, "mountPath": MOUNT_PATH}));
                mounted = true;
            }
        }
    }
    if !mounted {
        return;
    }
    let volume = json!({
        "name": volume_name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        },
    });
    if !pod["spec"].get("volumes").is_some_and(Value::is_array) {
        pod["spec"]["volumes"] = json!([]);
    }
    if let Some(volumes) = pod["spec"]["volumes"].as_array_mut() {
        volumes.push(volume);
    }
}

/// Fills a new `kubernetes.io/service-account-token` Secret with its legacy token.
pub async fn admit_token_secret(r: &ResourceRequest, secret: &mut Value) -> Result<(), ApiError> {
    if secret.get("type").and_then(Value::as_str) != Some("kubernetes.io/service-account-token") {
        return Ok(());
    }
    let ns = meta::namespace(secret).to_string();
    let name = meta::name(secret).to_string();
    let Some(sa_name) = meta::annotation(secret, "kubernetes.io/service-account.name").map(String::from) else {
        return Ok(());
    };
    let Some(sa) = r.state.get_object(&format!("/registry/serviceaccounts/{ns}/{sa_name}")).await? else {
        return Err(ApiError::forbidden(format!(
            "secrets {name:?} is forbidden: service account {ns}/{sa_name} does not exist"
        ))
        .with_details("", "secrets", &name));
    };
    let sa_uid = meta::uid(&sa).to_string();
    let token = r
        .state
        .tokens
        .issue_legacy(&ns, &sa_name, &sa_uid, &name)
        .map_err(|e| ApiError::internal(format!("signing the service-account token: {e}")))?;
    let annotations = meta::metadata_mut(secret).entry("annotations").or_insert_with(|| json!({}));
    annotations["kubernetes.io/service-account.uid"] = json!(sa_uid);
    if !secret.get("data").is_some_and(Value::is_object) {
        secret["data"] = json!({});
    }
    secret["data"]["token"] = json!(STANDARD.encode(token));
    secret["data"]["ca.crt"] = json!(STANDARD.encode(r.state.options.pki.server_ca_pem()));
    secret["data"]["namespace"] = json!(STANDARD.encode(&ns));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_volume_is_mounted_in_every_container_once() {
        let mut pod = json!({"spec": {
            "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]}],
            "initContainers": [{"name": "i"}],
        }});
        mount_token(&mut pod);
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        assert_eq!(volumes.len(), 1);
        let name = volumes[0]["name"].as_str().unwrap();
        assert!(name.starts_with("kube-api-access-") && name.len() == 21, "{name}");
        assert_eq!(pod["spec"]["containers"][0]["volumeMounts"][0]["name"], name);
        assert_eq!(pod["spec"]["containers"][1]["volumeMounts"].as_array().unwrap().len(), 1);
        assert_eq!(pod["spec"]["initContainers"][0]["volumeMounts"][0]["readOnly"], true);
        assert_eq!(volumes[0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3607);
    }
}
