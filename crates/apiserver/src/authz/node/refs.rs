//! What a pod uses: the Secrets, ConfigMaps, PersistentVolumeClaims and ServiceAccount a
//! kubelet must read to run it. The Node authorizer grants a node exactly these.

use serde_json::Value;

fn strs<'a>(v: &'a Value, ptr: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(ptr).and_then(Value::as_array).into_iter().flatten()
}

fn push(out: &mut Vec<String>, name: Option<&str>) {
    if let Some(n) = name.filter(|n| !n.is_empty())
        && !out.iter().any(|x| x == n)
    {
        out.push(n.to_string());
    }
}

fn containers(pod: &Value) -> impl Iterator<Item = &Value> {
    strs(pod, "/spec/containers").chain(strs(pod, "/spec/initContainers")).chain(strs(pod, "/spec/ephemeralContainers"))
}

/// Names of the Secrets `pod` references: volumes (including projected and plugin
/// `secretRef`s), image pull secrets, env and envFrom.
pub fn secrets(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for v in strs(pod, "/spec/volumes") {
        push(&mut out, v.pointer("/secret/secretName").and_then(Value::as_str));
        for source in strs(v, "/projected/sources") {
            push(&mut out, source.pointer("/secret/name").and_then(Value::as_str));
        }
        // Volume plugins name their credentials `secretRef` (cephfs, rbd, iscsi, ...) or,
        // for CSI, `nodePublishSecretRef`.
        if let Some(map) = v.as_object() {
            for source in map.values() {
                push(&mut out, source.pointer("/secretRef/name").and_then(Value::as_str));
                push(&mut out, source.pointer("/nodePublishSecretRef/name").and_then(Value::as_str));
            }
        }
    }
    for s in strs(pod, "/spec/imagePullSecrets") {
        push(&mut out, s.get("name").and_then(Value::as_str));
    }
    for c in containers(pod) {
        for e in strs(c, "/env") {
            push(&mut out, e.pointer("/valueFrom/secretKeyRef/name").and_then(Value::as_str));
        }
        for e in strs(c, "/envFrom") {
            push(&mut out, e.pointer("/secretRef/name").and_then(Value::as_str));
        }
    }
    out
}

/// Names of the ConfigMaps `pod` references.
pub fn config_maps(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for v in strs(pod, "/spec/volumes") {
        push(&mut out, v.pointer("/configMap/name").and_then(Value::as_str));
        for source in strs(v, "/projected/sources") {
            push(&mut out, source.pointer("/configMap/name").and_then(Value::as_str));
        }
    }
    for c in containers(pod) {
        for e in strs(c, "/env") {
            push(&mut out, e.pointer("/valueFrom/configMapKeyRef/name").and_then(Value::as_str));
        }
        for e in strs(c, "/envFrom") {
            push(&mut out, e.pointer("/configMapRef/name").and_then(Value::as_str));
        }
    }
    out
}

/// Names of the PersistentVolumeClaims `pod` uses (generic ephemeral volumes included, whose
/// claims are named `<pod>-<volume>`).
pub fn claims(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let pod_name = k3rs_api::meta::name(pod);
    for v in strs(pod, "/spec/volumes") {
        push(&mut out, v.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str));
        if v.get("ephemeral").is_some() {
            let name = format!("{pod_name}-{}", v.get("name").and_then(Value::as_str).unwrap_or(""));
            push(&mut out, Some(&name));
        }
    }
    out
}

/// The pod's service account (`default` when unset).
pub fn service_account(pod: &Value) -> &str {
    pod.pointer("/spec/serviceAccountName").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("default")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_found_everywhere_a_pod_names_them() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "serviceAccountName": "builder",
                "imagePullSecrets": [{"name": "pull"}],
                "volumes": [
                    {"name": "a", "secret": {"secretName": "vol-secret"}},
                    {"name": "b", "configMap": {"name": "vol-cm"}},
                    {"name": "c", "projected": {"sources": [{"secret": {"name": "proj-secret"}}, {"configMap": {"name": "kube-root-ca.crt"}}]}},
                    {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
                    {"name": "e", "ephemeral": {"volumeClaimTemplate": {}}},
                    {"name": "f", "cephfs": {"secretRef": {"name": "ceph"}}},
                ],
                "containers": [{"name": "c", "env": [
                    {"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}},
                    {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                ], "envFrom": [{"secretRef": {"name": "from-secret"}}, {"configMapRef": {"name": "from-cm"}}]}],
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init-secret"}}]}],
            },
        });
        assert_eq!(
            secrets(&pod),
            vec!["vol-secret", "proj-secret", "ceph", "pull", "env-secret", "from-secret", "init-secret"]
        );
        assert_eq!(config_maps(&pod), vec!["vol-cm", "kube-root-ca.crt", "env-cm", "from-cm"]);
        assert_eq!(claims(&pod), vec!["data", "p-e"]);
        assert_eq!(service_account(&pod), "builder");
        assert_eq!(service_account(&json!({})), "default");
    }
}
