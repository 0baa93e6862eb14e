//! The Node's labels and taints: the well-known labels every kubelet sets, the
//! `--node-label key=value` and `--node-taint key=value:Effect` flags, and which labels
//! a kubelet may set on its own Node (upstream's NodeRestriction rule, which the kubelet
//! checks too, so that a refused label is reported before registration instead of
//! failing it).

use std::collections::BTreeMap;

use k3rs_api::validation::names::{label_value, qualified_name};
use k8s_openapi::api::core::v1::Taint;

pub const HOSTNAME: &str = "kubernetes.io/hostname";
pub const OS: &str = "kubernetes.io/os";
pub const ARCH: &str = "kubernetes.io/arch";
pub const BETA_OS: &str = "beta.kubernetes.io/os";
pub const BETA_ARCH: &str = "beta.kubernetes.io/arch";
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
pub const BETA_INSTANCE_TYPE: &str = "beta.kubernetes.io/instance-type";
/// The role label of control-plane nodes. A kubelet may not set it (it is in the
/// `kubernetes.io` namespace): the server applies it with its own identity.
pub const CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";
/// The older role label K3s servers still carry next to [`CONTROL_PLANE`].
pub const MASTER: &str = "node-role.kubernetes.io/master";
/// What K3s puts in the instance-type labels.
pub const INSTANCE_TYPE_VALUE: &str = "k3rs";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("invalid node label {given:?}: {reason}")]
    Label { given: String, reason: String },
    #[error("invalid node taint {given:?}: {reason}")]
    Taint { given: String, reason: String },
}

/// The labels every node gets, as the kubelet sets them.
pub fn well_known(hostname: &str, os: &str, arch: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (HOSTNAME.to_string(), hostname.to_string()),
        (OS.to_string(), os.to_string()),
        (ARCH.to_string(), arch.to_string()),
        (BETA_OS.to_string(), os.to_string()),
        (BETA_ARCH.to_string(), arch.to_string()),
        (INSTANCE_TYPE.to_string(), INSTANCE_TYPE_VALUE.to_string()),
        (BETA_INSTANCE_TYPE.to_string(), INSTANCE_TYPE_VALUE.to_string()),
    ])
}

/// Parses `key=value` (a bare `key` means an empty value), checking both halves as the
/// API server would.
pub fn parse_label(given: &str) -> Result<(String, String), LabelError> {
    let (key, value) = given.split_once('=').unwrap_or((given, ""));
    let err = |reason: String| LabelError::Label { given: given.to_string(), reason };
    if let Some(problem) = qualified_name(key).into_iter().next() {
        return Err(err(format!("key: {problem}")));
    }
    if let Some(problem) = label_value(value).into_iter().next() {
        return Err(err(format!("value: {problem}")));
    }
    Ok((key.to_string(), value.to_string()))
}

const EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// Parses `key=value:Effect` or `key:Effect` (kubectl taint's syntax, as K3s' `--node-taint`).
pub fn parse_taint(given: &str) -> Result<Taint, LabelError> {
    let err = |reason: String| LabelError::Taint { given: given.to_string(), reason };
    let (key_value, effect) =
        given.rsplit_once(':').ok_or_else(|| err("expected key=value:Effect or key:Effect".into()))?;
    if !EFFECTS.contains(&effect) {
        return Err(err(format!("effect {effect:?} is not one of {}", EFFECTS.join(", "))));
    }
    let (key, value) = match key_value.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (key_value, None),
    };
    if let Some(problem) = qualified_name(key).into_iter().next() {
        return Err(err(format!("key: {problem}")));
    }
    if let Some(problem) = value.and_then(|v| label_value(v).into_iter().next()) {
        return Err(err(format!("value: {problem}")));
    }
    Ok(Taint {
        key: key.to_string(),
        value: value.filter(|v| !v.is_empty()).map(str::to_string),
        effect: effect.to_string(),
        time_added: None,
    })
}

/// Whether a kubelet may set `key` on its own Node: labels outside the `kubernetes.io` and
/// `k8s.io` namespaces, the well-known topology, OS and instance-type labels, and those
/// under `kubelet.kubernetes.io/` and `node.kubernetes.io/`; never
/// `node-restriction.kubernetes.io/`.
pub fn kubelet_may_set(key: &str) -> bool {
    const WELL_KNOWN: &[&str] = &[
        HOSTNAME,
        OS,
        ARCH,
        BETA_OS,
        BETA_ARCH,
        INSTANCE_TYPE,
        BETA_INSTANCE_TYPE,
        "failure-domain.beta.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
    ];
    let prefix = key.split_once('/').map(|(p, _)| p).unwrap_or("");
    let under = |domain: &str| prefix == domain || prefix.ends_with(&format!(".{domain}"));
    if under("node-restriction.kubernetes.io") {
        return false;
    }
    if WELL_KNOWN.contains(&key) {
        return true;
    }
    if under("kubernetes.io") || under("k8s.io") {
        return under("kubelet.kubernetes.io") || under("node.kubernetes.io");
    }
    true
}

/// Labels split by who may set them: `(kubelet, privileged)`.
pub fn split_by_setter(labels: &BTreeMap<String, String>) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    labels.iter().map(|(k, v)| (k.clone(), v.clone())).partition(|(k, _)| kubelet_may_set(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_and_validate() {
        assert_eq!(parse_label("a.example/zone=east").unwrap(), ("a.example/zone".into(), "east".into()));
        assert_eq!(parse_label("gpu").unwrap(), ("gpu".into(), "".into()));
        assert!(matches!(parse_label("bad key=x"), Err(LabelError::Label { .. })));
        assert!(parse_label("k=not a value").is_err());
        assert!(parse_label("=x").is_err());
    }

    #[test]
    fn taints_parse_with_and_without_value() {
        let t = parse_taint("dedicated=gpu:NoSchedule").unwrap();
        assert_eq!((t.key.as_str(), t.value.as_deref(), t.effect.as_str()), ("dedicated", Some("gpu"), "NoSchedule"));
        let t = parse_taint("node-role.kubernetes.io/control-plane:NoExecute").unwrap();
        assert_eq!(
            (t.key.as_str(), t.value, t.effect.as_str()),
            ("node-role.kubernetes.io/control-plane", None, "NoExecute")
        );
        assert!(parse_taint("dedicated=gpu").unwrap_err().to_string().contains("expected key=value:Effect"));
        assert!(parse_taint("a=b:Sometimes").unwrap_err().to_string().contains("NoSchedule, PreferNoSchedule"));
        assert!(parse_taint("bad key:NoSchedule").is_err());
    }

    #[test]
    fn who_may_set_which_label() {
        for ok in [HOSTNAME, ARCH, "node.kubernetes.io/exclude", "example.com/x", "plain", "kubelet.kubernetes.io/a"] {
            assert!(kubelet_may_set(ok), "{ok}");
        }
        for refused in [
            CONTROL_PLANE,
            "node-restriction.kubernetes.io/x",
            "kubernetes.io/other",
            "x.k8s.io/y",
            "a.node-restriction.kubernetes.io/b",
        ] {
            assert!(!kubelet_may_set(refused), "{refused}");
        }
        let labels = BTreeMap::from([(CONTROL_PLANE.to_string(), "true".to_string()), ("a".into(), "b".into())]);
        let (kubelet, privileged) = split_by_setter(&labels);
        assert_eq!(kubelet.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(privileged.keys().collect::<Vec<_>>(), vec![CONTROL_PLANE]);
    }

    #[test]
    fn well_known_labels_include_beta_twins() {
        let labels = well_known("n1", "linux", "amd64");
        assert_eq!(labels[HOSTNAME], "n1");
        assert_eq!(labels[BETA_ARCH], "amd64");
        assert_eq!(labels[BETA_OS], "linux");
    }
}
