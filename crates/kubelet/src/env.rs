//! A container's environment, as upstream's kubelet builds it: Service link
//! variables, `envFrom` sources (with prefixes), `env` entries with values,
//! `$(VAR)` references and `valueFrom` (downward API fields, resource fields,
//! ConfigMap and Secret keys). Missing required sources are errors that leave
//! the container waiting in `CreateContainerConfigError`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, Pod, Secret, Service};

use crate::downward;

/// What the environment may read besides the pod itself.
pub trait Sources {
    fn config_map(&self, namespace: &str, name: &str) -> Option<ConfigMap>;
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret>;
}

/// The variables, in the order the container gets them (later names override
/// earlier ones, as in upstream's list).
pub type Environment = Vec<(String, String)>;

fn set(env: &mut Environment, name: String, value: String) {
    if let Some(existing) = env.iter_mut().find(|(n, _)| *n == name) {
        existing.1 = value;
    } else {
        env.push((name, value));
    }
}

/// `$(VAR)` expands to an earlier variable (or stays as written when unknown);
/// `$$` is a literal `$`.
pub fn expand(input: &str, vars: &Environment) -> String {
    let mut out = String::new();
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' && i + 1 < bytes.len() {
            if bytes[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if bytes[i + 1] == b'('
                && let Some(close) = input[i + 2..].find(')')
            {
                let name = &input[i + 2..i + 2 + close];
                match vars.iter().rev().find(|(n, _)| n == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&input[i..i + 3 + close]),
                }
                i += 3 + close;
                continue;
            }
        }
        let ch = input[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Upstream's relaxed environment variable name rule (default since v1.32):
/// printable ASCII without `=`.
fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (32..=126).contains(&b) && b != b'=')
}

fn service_env_name(service: &str) -> String {
    service.to_uppercase().replace('-', "_")
}

/// Docker-link-style variables for the Services visible to the pod: those of its
/// namespace and the master Service (`kubernetes` in `default`).
pub fn service_links(services: &[Service], pod_namespace: &str, enable_links: bool) -> Environment {
    let mut env = Environment::new();
    let mut services: Vec<&Service> = services
        .iter()
        .filter(|s| {
            let ns = s.metadata.namespace.as_deref().unwrap_or("");
            let name = s.metadata.name.as_deref().unwrap_or("");
            (enable_links && ns == pod_namespace) || (ns == "default" && name == "kubernetes")
        })
        .collect();
    services.sort_by_key(|s| s.metadata.name.clone());
    for svc in services {
        let Some(spec) = &svc.spec else { continue };
        let ip = spec.cluster_ip.as_deref().unwrap_or("");
        if ip.is_empty() || ip == "None" {
            continue;
        }
        let prefix = service_env_name(svc.metadata.name.as_deref().unwrap_or(""));
        let ports = spec.ports.clone().unwrap_or_default();
        let Some(first) = ports.first() else { continue };
        set(&mut env, format!("{prefix}_SERVICE_HOST"), ip.to_string());
        set(&mut env, format!("{prefix}_SERVICE_PORT"), first.port.to_string());
        for p in &ports {
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                set(&mut env, format!("{prefix}_SERVICE_PORT_{}", service_env_name(name)), p.port.to_string());
            }
        }
        let proto = |p: &k8s_openapi::api::core::v1::ServicePort| p.protocol.clone().unwrap_or_else(|| "TCP".into());
        set(&mut env, format!("{prefix}_PORT"), format!("{}://{ip}:{}", proto(first).to_lowercase(), first.port));
        for p in &ports {
            let pr = proto(p);
            let base = format!("{prefix}_PORT_{}_{}", p.port, pr.to_uppercase());
            set(&mut env, base.clone(), format!("{}://{ip}:{}", pr.to_lowercase(), p.port));
            set(&mut env, format!("{base}_PROTO"), pr.to_lowercase());
            set(&mut env, format!("{base}_PORT"), p.port.to_string());
            set(&mut env, format!("{base}_ADDR"), ip.to_string());
        }
    }
    env
}

fn decode_secret_value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return Some(String::from_utf8_lossy(&v.0).into_owned());
    }
    secret.string_data.as_ref().and_then(|d| d.get(key)).cloned()
}

fn env_var_value(
    var: &EnvVar,
    pod: &Pod,
    container: &Container,
    env: &Environment,
    sources: &dyn Sources,
    node_allocatable: &downward::Allocatable,
) -> Result<Option<String>, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    if let Some(v) = &var.value {
        return Ok(Some(expand(v, env)));
    }
    let Some(from) = &var.value_from else { return Ok(Some(String::new())) };
    if let Some(f) = &from.field_ref {
        return downward::field(pod, &f.field_path).map(Some);
    }
    if let Some(r) = &from.resource_field_ref {
        let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
            Some(name) => pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.iter().find(|c| c.name == name))
                .ok_or_else(|| format!("container {name:?} not found in pod"))?,
            None => container,
        };
        return downward::resource(target, r, node_allocatable).map(Some);
    }
    if let Some(k) = &from.config_map_key_ref {
        let optional = k.optional == Some(true);
        let Some(cm) = sources.config_map(ns, &k.name) else {
            return if optional { Ok(None) } else { Err(format!("configmap {:?} not found", k.name)) };
        };
        let value = cm.data.as_ref().and_then(|d| d.get(&k.key).cloned()).or_else(|| {
            cm.binary_data.as_ref().and_then(|d| d.get(&k.key)).map(|b| String::from_utf8_lossy(&b.0).into_owned())
        });
        return match value {
            Some(v) => Ok(Some(v)),
            None if optional => Ok(None),
            None => Err(format!("couldn't find key {} in ConfigMap {ns}/{}", k.key, k.name)),
        };
    }
    if let Some(k) = &from.secret_key_ref {
        let optional = k.optional == Some(true);
        let Some(secret) = sources.secret(ns, &k.name) else {
            return if optional { Ok(None) } else { Err(format!("secret {:?} not found", k.name)) };
        };
        return match decode_secret_value(&secret, &k.key) {
            Some(v) => Ok(Some(v)),
            None if optional => Ok(None),
            None => Err(format!("couldn't find key {} in Secret {ns}/{}", k.key, k.name)),
        };
    }
    Ok(Some(String::new()))
}

/// The environment of `container`. `Err` carries the message of the
/// `CreateContainerConfigError` the container waits in.
pub fn build(
    pod: &Pod,
    container: &Container,
    services: &[Service],
    sources: &dyn Sources,
    node_allocatable: &downward::Allocatable,
) -> Result<Environment, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let links = pod.spec.as_ref().and_then(|s| s.enable_service_links).unwrap_or(true);
    let mut env = Environment::new();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let entries: BTreeMap<String, String> = if let Some(r) = &from.config_map_ref {
            match sources.config_map(ns, &r.name) {
                Some(cm) => cm.data.unwrap_or_default(),
                None if r.optional == Some(true) => BTreeMap::new(),
                None => return Err(format!("configmap {:?} not found", r.name)),
            }
        } else if let Some(r) = &from.secret_ref {
            match sources.secret(ns, &r.name) {
                Some(s) => s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect(),
                None if r.optional == Some(true) => BTreeMap::new(),
                None => return Err(format!("secret {:?} not found", r.name)),
            }
        } else {
            BTreeMap::new()
        };
        for (k, v) in entries {
            let name = format!("{prefix}{k}");
            // Names that are not valid variable names are skipped (upstream records an event).
            if valid_env_name(&name) {
                set(&mut env, name, v);
            }
        }
    }
    for var in container.env.iter().flatten() {
        if let Some(value) = env_var_value(var, pod, container, &env, sources, node_allocatable)? {
            set(&mut env, var.name.clone(), value);
        }
    }
    // Service links come first in the final list but never override explicit variables.
    let mut out = Environment::new();
    for (k, v) in service_links(services, ns, links) {
        if !env.iter().any(|(n, _)| *n == k) {
            out.push((k, v));
        }
    }
    out.extend(env);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fixed;
    impl Sources for Fixed {
        fn config_map(&self, _ns: &str, name: &str) -> Option<ConfigMap> {
            (name == "cfg").then(|| {
                serde_json::from_value(
                    json!({"metadata": {"name": "cfg"}, "data": {"MODE": "fast", "1OK": "x", "BAD=": "y"}}),
                )
                .unwrap()
            })
        }
        fn secret(&self, _ns: &str, name: &str) -> Option<Secret> {
            (name == "sec").then(|| {
                serde_json::from_value(json!({"metadata": {"name": "sec"}, "data": {"pw": "aHVudGVyMg=="}})).unwrap()
            })
        }
    }

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i",
                "resources": {"limits": {"memory": "64Mi"}},
                "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"}],
                "env": [
                    {"name": "A", "value": "1"},
                    {"name": "B", "value": "$(A)-$(NOPE)-$$(A)"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                    {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
                    {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k", "optional": true}}}
                ]}]},
            "status": {"podIP": "10.42.0.7"}
        }))
        .unwrap()
    }

    #[test]
    fn builds_like_upstream() {
        let p = pod();
        let c = &p.spec.as_ref().unwrap().containers[0];
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "kubernetes", "namespace": "default"},
            "spec": {"clusterIP": "10.43.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}))
        .unwrap();
        let env = build(&p, c, &[svc], &Fixed, &downward::Allocatable::default()).unwrap();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.43.0.1"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP"), Some("tcp://10.43.0.1:443"));
        assert_eq!(get("CFG_MODE"), Some("fast"));
        assert_eq!(get("CFG_1OK"), Some("x"));
        assert!(env.iter().all(|(n, _)| !n.contains('=')));
        assert_eq!(get("B"), Some("1-$(NOPE)-$(A)"));
        assert_eq!(get("POD"), Some("p"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(get("MEM"), Some("64"));
        assert_eq!(get("PW"), Some("hunter2"));
        assert_eq!(get("OPT"), None);
    }

    #[test]
    fn missing_sources_are_config_errors() {
        let mut p = pod();
        let c = &mut p.spec.as_mut().unwrap().containers[0];
        c.env = Some(vec![
            serde_json::from_value(
                json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}),
            )
            .unwrap(),
        ]);
        let c = c.clone();
        assert_eq!(
            build(&p, &c, &[], &Fixed, &downward::Allocatable::default()).unwrap_err(),
            "couldn't find key nope in ConfigMap ns/cfg"
        );
    }
}
