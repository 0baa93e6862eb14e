//! Validation of a whole pod spec and of pod templates (upstream's `ValidatePodSpec`
//! and `ValidatePodTemplateSpec`), built on the container and volume checks.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, Toleration};

use super::containers::{ContainerContext, ContainerRole, validate_containers};
use super::volumes::validate_volumes;
use crate::kinds::common::labels::{validate_annotations, validate_labels};
use crate::validation::names::{dns1123_label, dns1123_subdomain, label_value, qualified_name};
use crate::validation::{FieldError, FieldPath};

pub const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
pub const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
const MAX_DNS_NAMESERVERS: usize = 3;

/// Whether a spec belongs to a pod or to a template (some rules apply to pods only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecOwner {
    Pod,
    Template,
}

/// Validates a pod spec found at `path` (`spec`, `spec.template.spec`, ...). Run it on
/// a defaulted spec: required fields that defaulting fills are reported as missing.
pub fn validate_pod_spec(spec: &PodSpec, path: &FieldPath, owner: SpecOwner) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let (volumes, verrs) = validate_volumes(spec.volumes.as_deref().unwrap_or_default(), &path.child("volumes"));
    errs.extend(verrs);

    let mut names = HashSet::new();
    let mut ctx = ContainerContext { volumes: &volumes, names: &mut names, is_pod: owner == SpecOwner::Pod };
    let init = spec.init_containers.as_deref().unwrap_or_default();
    errs.extend(validate_containers(init, ContainerRole::Init, &path.child("initContainers"), &mut ctx));
    if spec.containers.is_empty() {
        errs.push(FieldError::required(path.child("containers"), ""));
    } else {
        errs.extend(validate_containers(&spec.containers, ContainerRole::Regular, &path.child("containers"), &mut ctx));
    }
    errs.extend(validate_host_ports(spec, path));

    match spec.restart_policy.as_deref() {
        None | Some("") => errs.push(FieldError::required(path.child("restartPolicy"), "")),
        Some(p) if !RESTART_POLICIES.contains(&p) => {
            errs.push(FieldError::not_supported(path.child("restartPolicy"), p, RESTART_POLICIES))
        }
        _ => {}
    }
    match spec.dns_policy.as_deref() {
        None | Some("") => errs.push(FieldError::required(path.child("dnsPolicy"), "")),
        Some(p) if !DNS_POLICIES.contains(&p) => {
            errs.push(FieldError::not_supported(path.child("dnsPolicy"), p, DNS_POLICIES))
        }
        _ => {}
    }
    errs.extend(validate_dns_config(spec, &path.child("dnsConfig")));
    if let Some(sel) = &spec.node_selector {
        errs.extend(validate_labels(sel, &path.child("nodeSelector")));
    }
    for (field, value) in [("serviceAccountName", &spec.service_account_name), ("nodeName", &spec.node_name)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(dns1123_subdomain(v).into_iter().map(|m| FieldError::invalid(path.child(field), v, m)));
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            errs.extend(dns1123_label(v).into_iter().map(|m| FieldError::invalid(path.child(field), v, m)));
        }
    }
    if let Some(d) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&d)
    {
        errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            d,
            "must be between 1 and 2147483647, inclusive",
        ));
    }
    errs.extend(validate_tolerations(spec.tolerations.as_deref().unwrap_or_default(), &path.child("tolerations")));
    errs
}

/// Validates a pod template at `path` (`spec.template`): its labels and annotations,
/// its spec (which must be present), and that it has no ephemeral containers.
pub fn validate_pod_template_spec(template: &PodTemplateSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let meta_path = path.child("metadata");
    if let Some(meta) = &template.metadata {
        if let Some(labels) = &meta.labels {
            errs.extend(validate_labels(labels, &meta_path.child("labels")));
        }
        if let Some(annotations) = &meta.annotations {
            errs.extend(validate_annotations(annotations, &meta_path.child("annotations")));
        }
    }
    let spec_path = path.child("spec");
    match &template.spec {
        Some(spec) => {
            errs.extend(validate_pod_spec(spec, &spec_path, SpecOwner::Template));
            if spec.ephemeral_containers.as_ref().is_some_and(|e| !e.is_empty()) {
                errs.push(FieldError::forbidden(
                    spec_path.child("ephemeralContainers"),
                    "ephemeral containers not allowed in pod template",
                ));
            }
        }
        None => errs.push(FieldError::required(spec_path.child("containers"), "")),
    }
    errs
}

/// The template's labels (empty when it has none).
pub fn template_labels(template: &PodTemplateSpec) -> BTreeMap<String, String> {
    template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default()
}

fn validate_dns_config(spec: &PodSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let none = spec.dns_policy.as_deref() == Some("None");
    let Some(cfg) = &spec.dns_config else {
        if none {
            errs.push(FieldError::required(path, "must provide `dnsConfig` when `dnsPolicy` is None"));
        }
        return errs;
    };
    let servers = cfg.nameservers.as_deref().unwrap_or_default();
    if none && servers.is_empty() {
        errs.push(FieldError::required(
            path.child("nameservers"),
            "must provide at least one DNS nameserver when `dnsPolicy` is None",
        ));
    }
    if servers.len() > MAX_DNS_NAMESERVERS {
        errs.push(FieldError::invalid(
            path.child("nameservers"),
            serde_json::to_value(servers).unwrap_or_default(),
            format!("must not have more than {MAX_DNS_NAMESERVERS} nameservers"),
        ));
    }
    for (i, s) in servers.iter().enumerate() {
        if s.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                path.child("nameservers").index(i),
                s.as_str(),
                "must be a valid IP address",
            ));
        }
    }
    errs
}

/// Host ports must be unique per (hostIP, protocol) and equal the container port under `hostNetwork`.
fn validate_host_ports(spec: &PodSpec, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    let host_network = spec.host_network == Some(true);
    let lists: [(&str, &[Container]); 2] =
        [("initContainers", spec.init_containers.as_deref().unwrap_or_default()), ("containers", &spec.containers)];
    for (field, containers) in lists {
        for (ci, c) in containers.iter().enumerate() {
            for (pi, p) in c.ports.iter().flatten().enumerate() {
                let pp = path.child(field).index(ci).child("ports").index(pi);
                let host_port = p.host_port.unwrap_or(0);
                if host_network && host_port != p.container_port {
                    errs.push(FieldError::invalid(
                        pp.child("hostPort"),
                        host_port,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
                if host_port == 0 {
                    continue;
                }
                let key = format!(
                    "{}/{}/{host_port}",
                    p.host_ip.as_deref().unwrap_or(""),
                    p.protocol.as_deref().unwrap_or("")
                );
                if !seen.insert(key.clone()) {
                    errs.push(FieldError::duplicate(pp.child("hostPort"), key));
                }
            }
        }
    }
    errs
}

/// A taint or toleration effect.
pub fn validate_taint_effect(effect: &str, allow_empty: bool, path: &FieldPath) -> Vec<FieldError> {
    if effect.is_empty() {
        return if allow_empty { Vec::new() } else { vec![FieldError::required(path, "")] };
    }
    if TAINT_EFFECTS.contains(&effect) {
        Vec::new()
    } else {
        vec![FieldError::not_supported(path, effect, TAINT_EFFECTS)]
    }
}

/// Upstream's `validateTolerations`.
pub fn validate_tolerations(tolerations: &[Toleration], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, t) in tolerations.iter().enumerate() {
        let ip = path.index(i);
        let key = t.key.as_deref().unwrap_or("");
        let op = t.operator.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        if !key.is_empty() {
            errs.extend(qualified_name(key).into_iter().map(|m| FieldError::invalid(ip.child("key"), key, m)));
        } else if op != "Exists" {
            errs.push(FieldError::invalid(
                ip.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                ip.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "" | "Equal" => {
                let msgs = label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(ip.child("operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        ip.child("operator"),
                        serde_json::to_value(t).unwrap_or_default(),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(ip.child("operator"), other, &["Equal", "Exists"])),
        }
        errs.extend(validate_taint_effect(effect, true, &ip.child("effect")));
    }
    errs
}
