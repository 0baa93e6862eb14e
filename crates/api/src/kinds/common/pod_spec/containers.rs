//! Validation of containers (regular and init): names, images, ports, environment,
//! volume mounts, probes and lifecycle hooks, with upstream's messages.

use std::collections::{BTreeSet, HashSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, HTTPGetAction, Lifecycle, LifecycleHandler, Probe, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::resources::validate_resource_requirements;
use crate::validation::names::{dns1123_label, dns1123_subdomain, port_name};
use crate::validation::{FieldError, FieldPath};

pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["FallbackToLogsOnError", "File"];
const NONNEGATIVE: &str = "must be greater than or equal to 0";
/// Field paths the downward API may expose as environment variables.
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Which list a container is in; init containers have extra rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerRole {
    Regular,
    Init,
}

/// What container validation needs to know about the rest of the spec.
pub struct ContainerContext<'a> {
    pub volumes: &'a HashSet<String>,
    /// Container names already seen in the pod (init and regular share one namespace).
    pub names: &'a mut HashSet<String>,
    /// Whether the object is a pod (rules that apply to pods but not to templates).
    pub is_pod: bool,
}

/// `message` when `n` is out of the port range, as upstream's `IsValidPortNum`.
pub fn port_number_errors(n: i64) -> Vec<String> {
    if (1..=65535).contains(&n) { Vec::new() } else { vec!["must be between 1 and 65535, inclusive".to_string()] }
}

/// A port given by number or IANA name.
pub fn validate_port_num_or_name(port: &IntOrString, path: &FieldPath) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) => {
            port_number_errors(i64::from(*n)).into_iter().map(|m| FieldError::invalid(path, *n, m)).collect()
        }
        IntOrString::String(s) => port_name(s).into_iter().map(|m| FieldError::invalid(path, s.as_str(), m)).collect(),
    }
}

/// Validates one list of containers.
pub fn validate_containers(
    containers: &[Container],
    role: ContainerRole,
    path: &FieldPath,
    ctx: &mut ContainerContext<'_>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, c) in containers.iter().enumerate() {
        errs.extend(validate_container(c, role, &path.index(i), ctx));
    }
    errs
}

fn validate_container(
    c: &Container,
    role: ContainerRole,
    path: &FieldPath,
    ctx: &mut ContainerContext<'_>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name_path = path.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        let msgs = dns1123_label(&c.name);
        let valid = msgs.is_empty();
        errs.extend(msgs.into_iter().map(|m| FieldError::invalid(&name_path, c.name.as_str(), m)));
        if valid && !ctx.names.insert(c.name.clone()) {
            errs.push(FieldError::duplicate(&name_path, c.name.as_str()));
        }
    }
    let image = c.image.as_deref().unwrap_or("");
    if image.is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    } else if ctx.is_pod && image.trim() != image {
        errs.push(FieldError::invalid(path.child("image"), image, "must not have leading or trailing whitespace"));
    }
    match c.image_pull_policy.as_deref() {
        None | Some("") => errs.push(FieldError::required(path.child("imagePullPolicy"), "")),
        Some(p) if !PULL_POLICIES.contains(&p) => {
            errs.push(FieldError::not_supported(path.child("imagePullPolicy"), p, PULL_POLICIES))
        }
        _ => {}
    }
    match c.termination_message_policy.as_deref() {
        None | Some("") => errs.push(FieldError::required(path.child("terminationMessagePolicy"), "")),
        Some(p) if !TERMINATION_MESSAGE_POLICIES.contains(&p) => errs.push(FieldError::not_supported(
            path.child("terminationMessagePolicy"),
            p,
            TERMINATION_MESSAGE_POLICIES,
        )),
        _ => {}
    }

    let sidecar = c.restart_policy.as_deref() == Some("Always");
    match (role, c.restart_policy.as_deref()) {
        (ContainerRole::Regular, Some(_)) => {
            errs.push(FieldError::forbidden(path.child("restartPolicy"), "may not be set for non-init containers"))
        }
        (ContainerRole::Init, Some(p)) if p != "Always" => {
            errs.push(FieldError::not_supported(path.child("restartPolicy"), p, &["Always"]))
        }
        _ => {}
    }

    // Probes and hooks: init containers may have them only as sidecars (restartPolicy Always).
    let probes = [
        ("livenessProbe", &c.liveness_probe),
        ("readinessProbe", &c.readiness_probe),
        ("startupProbe", &c.startup_probe),
    ];
    if role == ContainerRole::Init && !sidecar {
        if c.lifecycle.is_some() {
            errs.push(FieldError::forbidden(
                path.child("lifecycle"),
                "may not be set for init containers without restartPolicy=Always",
            ));
        }
        for (field, probe) in probes {
            if probe.is_some() {
                errs.push(FieldError::forbidden(
                    path.child(field),
                    "may not be set for init containers without restartPolicy=Always",
                ));
            }
        }
    } else {
        if let Some(lc) = &c.lifecycle {
            errs.extend(validate_lifecycle(lc, &path.child("lifecycle")));
        }
        for (field, probe) in probes {
            let Some(probe) = probe else { continue };
            let p = path.child(field);
            errs.extend(validate_probe(probe, &p));
            if field != "readinessProbe" && probe.success_threshold.is_some_and(|t| t != 1) {
                errs.push(FieldError::invalid(
                    p.child("successThreshold"),
                    probe.success_threshold.unwrap_or(0),
                    "must be 1",
                ));
            }
            if field == "readinessProbe"
                && let Some(g) = probe.termination_grace_period_seconds
            {
                errs.push(FieldError::invalid(
                    p.child("terminationGracePeriodSeconds"),
                    g,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }

    errs.extend(validate_container_ports(c.ports.as_deref().unwrap_or_default(), &path.child("ports")));
    errs.extend(validate_env(c.env.as_deref().unwrap_or_default(), &path.child("env")));
    errs.extend(validate_env_from(c.env_from.as_deref().unwrap_or_default(), &path.child("envFrom")));
    errs.extend(validate_volume_mounts(
        c.volume_mounts.as_deref().unwrap_or_default(),
        ctx.volumes,
        &path.child("volumeMounts"),
    ));
    if let Some(res) = &c.resources {
        errs.extend(validate_resource_requirements(res, &path.child("resources")));
    }
    errs
}

/// Port names (IANA, unique in the container), numbers and protocols.
pub fn validate_container_ports(ports: &[ContainerPort], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let ip = path.index(i);
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = port_name(name);
            if !msgs.is_empty() {
                errs.extend(msgs.into_iter().map(|m| FieldError::invalid(ip.child("name"), name, m)));
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(ip.child("name"), name));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldError::required(ip.child("containerPort"), ""));
        } else {
            errs.extend(
                port_number_errors(i64::from(p.container_port))
                    .into_iter()
                    .map(|m| FieldError::invalid(ip.child("containerPort"), p.container_port, m)),
            );
        }
        if let Some(hp) = p.host_port.filter(|hp| *hp != 0) {
            errs.extend(
                port_number_errors(i64::from(hp)).into_iter().map(|m| FieldError::invalid(ip.child("hostPort"), hp, m)),
            );
        }
        match p.protocol.as_deref() {
            None | Some("") => errs.push(FieldError::required(ip.child("protocol"), "")),
            Some(proto) if !PROTOCOLS.contains(&proto) => {
                errs.push(FieldError::not_supported(ip.child("protocol"), proto, PROTOCOLS))
            }
            _ => {}
        }
    }
    errs
}

/// Problems with an environment variable name under the relaxed rule (on by default since v1.32).
pub fn env_var_name_errors(name: &str) -> Vec<String> {
    if name.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'=') {
        Vec::new()
    } else {
        vec!["a valid environment variable name must consist only of printable ASCII characters other than '='".into()]
    }
}

fn validate_env(env: &[EnvVar], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, ev) in env.iter().enumerate() {
        let ip = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(ip.child("name"), ""));
        } else {
            errs.extend(
                env_var_name_errors(&ev.name)
                    .into_iter()
                    .map(|m| FieldError::invalid(ip.child("name"), ev.name.as_str(), m)),
            );
        }
        let Some(src) = &ev.value_from else { continue };
        let vp = ip.child("valueFrom");
        let mut sources = 0;
        if let Some(f) = &src.field_ref {
            sources += 1;
            let fp = vp.child("fieldRef");
            if f.api_version.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::required(fp.child("apiVersion"), ""));
            }
            if f.field_path.is_empty() {
                errs.push(FieldError::required(fp.child("fieldPath"), ""));
            } else {
                let base = f.field_path.split_once('[').map(|(b, _)| b).unwrap_or(&f.field_path);
                let subscripted = f.field_path.contains('[');
                let ok = ENV_FIELD_PATHS.contains(&base)
                    && (subscripted == matches!(base, "metadata.labels" | "metadata.annotations"));
                if !ok {
                    errs.push(FieldError::not_supported(fp.child("fieldPath"), f.field_path.as_str(), ENV_FIELD_PATHS));
                }
            }
        }
        if let Some(r) = &src.resource_field_ref {
            sources += 1;
            if r.resource.is_empty() {
                errs.push(FieldError::required(vp.child("resourceFieldRef").child("resource"), ""));
            }
        }
        if let Some(c) = &src.config_map_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(&c.name, &c.key, &vp.child("configMapKeyRef")));
        }
        if let Some(s) = &src.secret_key_ref {
            sources += 1;
            errs.extend(validate_key_selector(&s.name, &s.key, &vp.child("secretKeyRef")));
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(&vp, "", "may not have more than one field specified at a time"));
        } else if ev.value.as_deref().is_some_and(|v| !v.is_empty()) {
            errs.push(FieldError::invalid(&vp, "", "may not be specified when `value` is not empty"));
        }
    }
    errs
}

fn validate_key_selector(name: &str, key: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        errs.extend(dns1123_subdomain(name).into_iter().map(|m| FieldError::invalid(path.child("name"), name, m)));
    }
    if key.is_empty() {
        errs.push(FieldError::required(path.child("key"), ""));
    } else {
        errs.extend(
            crate::kinds::common::data_keys::config_key_errors(key)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("key"), key, m)),
        );
    }
    errs
}

fn validate_env_from(sources: &[EnvFromSource], path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let ip = path.index(i);
        if let Some(prefix) = s.prefix.as_deref().filter(|p| !p.is_empty()) {
            errs.extend(
                env_var_name_errors(prefix).into_iter().map(|m| FieldError::invalid(ip.child("prefix"), prefix, m)),
            );
        }
        let refs = [
            ("configMapRef", s.config_map_ref.as_ref().map(|r| r.name.as_str())),
            ("secretRef", s.secret_ref.as_ref().map(|r| r.name.as_str())),
        ];
        let set: Vec<_> = refs.iter().filter(|(_, r)| r.is_some()).collect();
        if set.is_empty() {
            errs.push(FieldError::invalid(&ip, "", "must specify one of: `configMapRef` or `secretRef`"));
        } else if set.len() > 1 {
            errs.push(FieldError::invalid(&ip, "", "may not have more than one field specified at a time"));
        }
        for (field, name) in set {
            let name = name.unwrap_or("");
            let np = ip.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&np, ""));
            } else {
                errs.extend(dns1123_subdomain(name).into_iter().map(|m| FieldError::invalid(&np, name, m)));
            }
        }
    }
    errs
}

/// Mounts must name a volume of the pod, have a unique path, and relative sub-paths.
pub fn validate_volume_mounts(mounts: &[VolumeMount], volumes: &HashSet<String>, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut paths = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let ip = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(ip.child("name"), ""));
        } else if !volumes.contains(&m.name) {
            errs.push(FieldError::not_found(ip.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(ip.child("mountPath"), ""));
        } else if !paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(ip.child("mountPath"), m.mount_path.as_str(), "must be unique"));
        }
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(validate_local_descending_path(sub, &ip.child("subPath")));
            if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
                errs.push(FieldError::invalid(
                    ip.child("subPathExpr"),
                    m.sub_path_expr.as_deref().unwrap_or(""),
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
        }
        if let Some(p) = m.mount_propagation.as_deref() {
            const MODES: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            if !MODES.contains(&p) {
                errs.push(FieldError::not_supported(ip.child("mountPropagation"), p, MODES));
            }
        }
    }
    errs
}

/// A path that stays below its base: relative, without `..` elements.
pub fn validate_local_descending_path(p: &str, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    if p.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(path, p, "must not contain '..'"));
    }
    errs
}

/// A probe: exactly one handler and non-negative timings.
pub fn validate_probe(p: &Probe, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut handlers = Vec::new();
    if let Some(e) = &p.exec {
        handlers.push("exec");
        if e.command.as_ref().is_none_or(|c| c.is_empty()) {
            errs.push(FieldError::required(path.child("exec").child("command"), ""));
        }
    }
    if let Some(h) = &p.http_get {
        handlers.push("httpGet");
        errs.extend(validate_http_get(h, &path.child("httpGet")));
    }
    if let Some(t) = &p.tcp_socket {
        handlers.push("tcpSocket");
        errs.extend(validate_port_num_or_name(&t.port, &path.child("tcpSocket").child("port")));
    }
    if let Some(g) = &p.grpc {
        handlers.push("grpc");
        errs.extend(
            port_number_errors(i64::from(g.port))
                .into_iter()
                .map(|m| FieldError::invalid(path.child("grpc").child("port"), g.port, m)),
        );
    }
    errs.extend(handler_count_errors(&handlers, path));
    let timings = [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ];
    for (field, value) in timings {
        if let Some(v) = value.filter(|v| *v < 0) {
            errs.push(FieldError::invalid(path.child(field), v, NONNEGATIVE));
        }
    }
    if let Some(g) = p.termination_grace_period_seconds.filter(|g| *g <= 0) {
        errs.push(FieldError::invalid(path.child("terminationGracePeriodSeconds"), g, "must be greater than 0"));
    }
    errs
}

fn handler_count_errors(handlers: &[&str], path: &FieldPath) -> Vec<FieldError> {
    match handlers {
        [] => vec![FieldError::required(path, "must specify a handler type")],
        [_] => Vec::new(),
        [_, rest @ ..] => rest
            .iter()
            .map(|h| FieldError::forbidden(path.child(h), "may not specify more than 1 handler type"))
            .collect(),
    }
}

fn validate_http_get(h: &HTTPGetAction, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if h.path.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(path.child("path"), ""));
    }
    errs.extend(validate_port_num_or_name(&h.port, &path.child("port")));
    if let Some(s) = h.scheme.as_deref()
        && !["HTTP", "HTTPS"].contains(&s)
    {
        errs.push(FieldError::not_supported(path.child("scheme"), s, &["HTTP", "HTTPS"]));
    }
    for (i, header) in h.http_headers.iter().flatten().enumerate() {
        let valid = !header.name.is_empty()
            && header.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            errs.push(FieldError::invalid(
                path.child("httpHeaders").index(i).child("name"),
                header.name.as_str(),
                "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
            ));
        }
    }
    errs
}

fn validate_lifecycle(lc: &Lifecycle, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, h) in [("postStart", &lc.post_start), ("preStop", &lc.pre_stop)] {
        if let Some(h) = h {
            errs.extend(validate_lifecycle_handler(h, &path.child(field)));
        }
    }
    errs
}

fn validate_lifecycle_handler(h: &LifecycleHandler, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut handlers = Vec::new();
    if let Some(e) = &h.exec {
        handlers.push("exec");
        if e.command.as_ref().is_none_or(|c| c.is_empty()) {
            errs.push(FieldError::required(path.child("exec").child("command"), ""));
        }
    }
    if let Some(g) = &h.http_get {
        handlers.push("httpGet");
        errs.extend(validate_http_get(g, &path.child("httpGet")));
    }
    if let Some(t) = &h.tcp_socket {
        handlers.push("tcpSocket");
        errs.extend(validate_port_num_or_name(&t.port, &path.child("tcpSocket").child("port")));
    }
    if let Some(s) = &h.sleep {
        handlers.push("sleep");
        if s.seconds < 0 {
            errs.push(FieldError::invalid(path.child("sleep").child("seconds"), s.seconds, NONNEGATIVE));
        }
    }
    errs.extend(handler_count_errors(&handlers, path));
    errs
}
