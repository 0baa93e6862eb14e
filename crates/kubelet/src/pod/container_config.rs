//! A pod container turned into the runtime's [`ContainerConfig`], as upstream's
//! `generateContainerConfig`: command and args with `$(VAR)` expanded against the
//! container's environment, the working directory, the security context (the container's
//! settings over the pod's), resources as cgroup limits with the QoS class's OOM score,
//! volume mounts (with `subPath`/`subPathExpr` and propagation), the termination message
//! file, TTY/stdin, and the pod's sysctls. Pure: errors are the messages of the
//! `CreateContainerConfigError` the container then waits in.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use k3rs_api::kinds::common::quantity::Quantity;
use k3rs_runtime::ContainerConfig;
use k3rs_runtime::container::{Mount, Propagation, Resources, SecurityConfig};
use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, SecurityContext};

use crate::env::{Environment, expand};

/// Where a pod volume is on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VolumePath {
    pub host_path: PathBuf,
    /// ConfigMap, Secret, downward API and projected volumes are always read-only.
    pub read_only: bool,
}

/// Everything besides the spec that goes into a container's configuration.
pub(crate) struct ConfigInputs<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub env: Environment,
    pub volumes: &'a HashMap<String, VolumePath>,
    pub log_path: PathBuf,
    pub restart_count: u32,
    /// The node's memory capacity in bytes (for Burstable OOM scores).
    pub node_memory_bytes: u64,
    /// The lowest OOM score the kubelet may give (its own, when it lacks
    /// CAP_SYS_RESOURCE and so cannot lower a process's score below it).
    pub oom_score_adj_floor: Option<i32>,
}

/// The runtime configuration and the `subPath` directories to create before the container.
#[derive(Debug)]
pub(crate) struct Built {
    pub config: ContainerConfig,
    pub subpath_dirs: Vec<PathBuf>,
}

/// `name_namespace(uid)`, as upstream's messages name a pod.
pub(crate) fn pod_description(pod: &Pod) -> String {
    let m = &pod.metadata;
    format!(
        "{}_{}({})",
        m.name.as_deref().unwrap_or(""),
        m.namespace.as_deref().unwrap_or(""),
        m.uid.as_deref().unwrap_or("")
    )
}

fn id(value: Option<i64>, what: &str) -> Result<Option<u32>, String> {
    value.map(|v| u32::try_from(v).map_err(|_| format!("invalid {what} {v}"))).transpose()
}

/// The container's security settings over the pod's.
fn security(pod: &Pod, container: &Container) -> Result<SecurityConfig, String> {
    let pod_sc: PodSecurityContext = pod.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default();
    let sc: SecurityContext = container.security_context.clone().unwrap_or_default();
    let run_as_user = id(sc.run_as_user.or(pod_sc.run_as_user), "runAsUser")?;
    let run_as_group = id(sc.run_as_group.or(pod_sc.run_as_group), "runAsGroup")?;
    let run_as_non_root = sc.run_as_non_root.or(pod_sc.run_as_non_root).unwrap_or(false);
    if run_as_non_root && run_as_user == Some(0) {
        return Err(format!(
            "container's runAsUser breaks non-root policy (pod: {:?}, container: {})",
            pod_description(pod),
            container.name
        ));
    }
    let mut supplemental_groups = Vec::new();
    for g in pod_sc.supplemental_groups.iter().flatten().chain(pod_sc.fs_group.iter()) {
        if let Some(g) = id(Some(*g), "supplemental group")?
            && !supplemental_groups.contains(&g)
        {
            supplemental_groups.push(g);
        }
    }
    let caps = sc.capabilities.clone().unwrap_or_default();
    Ok(SecurityConfig {
        run_as_user,
        run_as_group,
        run_as_non_root,
        supplemental_groups,
        capabilities_add: caps.add.unwrap_or_default(),
        capabilities_drop: caps.drop.unwrap_or_default(),
        privileged: sc.privileged.unwrap_or(false),
        read_only_root_filesystem: sc.read_only_root_filesystem.unwrap_or(false),
        no_new_privileges: sc.allow_privilege_escalation == Some(false),
    })
}

fn quantity(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    name: &str,
) -> Result<Option<Quantity>, String> {
    match map.and_then(|m| m.get(name)) {
        None => Ok(None),
        Some(q) => Quantity::parse(&q.0).map(Some).ok_or_else(|| format!("invalid {name} quantity {:?}", q.0)),
    }
}

/// upstream's OOM score adjustment per QoS class.
fn oom_score_adj(pod: &Pod, memory_request: Option<u64>, node_memory: u64) -> i32 {
    let qos = pod.spec.as_ref().map(k3rs_api::kinds::core::pod::qos_class).unwrap_or("BestEffort");
    match qos {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ => {
            let request = memory_request.unwrap_or(0);
            if node_memory == 0 {
                return 999;
            }
            let score = 1000 - (1000u128 * u128::from(request) / u128::from(node_memory)).min(1000) as i32;
            score.clamp(2, 999)
        }
    }
}

fn resources(pod: &Pod, container: &Container, node_memory: u64, floor: Option<i32>) -> Result<Resources, String> {
    let r = container.resources.clone().unwrap_or_default();
    let (requests, limits) = (r.requests.as_ref(), r.limits.as_ref());
    let cpu_limit = quantity(limits, "cpu")?;
    // A limit without a request requests the limit, as the API server defaults it.
    let cpu_request = quantity(requests, "cpu")?.or(cpu_limit);
    let memory_limit = quantity(limits, "memory")?;
    let memory_request = quantity(requests, "memory")?.or(memory_limit);
    let millis = |q: Option<Quantity>| q.filter(|q| !q.is_zero()).map(|q| q.milli_value().max(0) as u64);
    let bytes = |q: Option<Quantity>| q.filter(|q| !q.is_zero()).map(|q| q.value().max(0) as u64);
    Ok(Resources {
        cpu_request_millis: millis(cpu_request),
        cpu_limit_millis: millis(cpu_limit),
        memory_limit_bytes: bytes(memory_limit),
        pids_limit: None,
        oom_score_adj: Some(oom_score_adj(pod, bytes(memory_request), node_memory).max(floor.unwrap_or(i32::MIN))),
    })
}

/// A `subPath` must stay inside its volume.
fn check_subpath(sub: &str) -> Result<(), String> {
    let path = Path::new(sub);
    if path.is_absolute() {
        return Err(format!("subPath {sub:?} must be a relative path"));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!("subPath {sub:?} must not contain '..'"));
    }
    Ok(())
}

fn mounts(inputs: &ConfigInputs<'_>, privileged: bool) -> Result<(Vec<Mount>, Vec<PathBuf>), String> {
    let c = inputs.container;
    let mut out = Vec::new();
    let mut subpath_dirs = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let volume = inputs
            .volumes
            .get(&m.name)
            .ok_or_else(|| format!("cannot find volume {:?} to mount into container {:?}", m.name, c.name))?;
        let sub = match (&m.sub_path, &m.sub_path_expr) {
            (Some(p), _) if !p.is_empty() => Some(p.clone()),
            (_, Some(e)) if !e.is_empty() => Some(expand(e, &inputs.env)),
            _ => None,
        };
        let host_path = match &sub {
            Some(sub) => {
                check_subpath(sub)?;
                let path = volume.host_path.join(sub);
                subpath_dirs.push(path.clone());
                path
            }
            None => volume.host_path.clone(),
        };
        let propagation = match m.mount_propagation.as_deref() {
            None | Some("None") => Propagation::Private,
            Some("HostToContainer") => Propagation::HostToContainer,
            Some("Bidirectional") if privileged => Propagation::Bidirectional,
            Some("Bidirectional") => {
                return Err(format!(
                    "mount {:?} of container {:?}: Bidirectional mount propagation is available only to privileged containers",
                    m.mount_path, c.name
                ));
            }
            Some(other) => return Err(format!("invalid mount propagation {other:?}")),
        };
        out.push(Mount {
            container_path: m.mount_path.clone(),
            host_path,
            read_only: m.read_only.unwrap_or(false) || volume.read_only,
            propagation,
        });
    }
    Ok((out, subpath_dirs))
}

/// Builds the runtime configuration of one container.
pub(crate) fn build(inputs: ConfigInputs<'_>) -> Result<Built, String> {
    let c = inputs.container;
    let image =
        c.image.clone().filter(|i| !i.is_empty()).ok_or_else(|| format!("container {:?} has no image", c.name))?;
    let security = security(inputs.pod, c)?;
    let resources = resources(inputs.pod, c, inputs.node_memory_bytes, inputs.oom_score_adj_floor)?;
    let (mounts, subpath_dirs) = mounts(&inputs, security.privileged)?;
    let expand_all =
        |list: &Option<Vec<String>>| -> Vec<String> { list.iter().flatten().map(|a| expand(a, &inputs.env)).collect() };
    let sysctls = inputs
        .pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|sc| sc.sysctls.as_ref())
        .map(|list| list.iter().map(|s| (s.name.clone(), s.value.clone())).collect())
        .unwrap_or_default();
    let termination_message_path = match c.termination_message_path.as_deref() {
        Some("") => None,
        Some(path) => Some(path.to_string()),
        None => Some("/dev/termination-log".to_string()),
    };
    let config = ContainerConfig {
        name: c.name.clone(),
        image,
        command: expand_all(&c.command),
        args: expand_all(&c.args),
        env: inputs.env.clone(),
        working_dir: c.working_dir.clone().filter(|d| !d.is_empty()),
        security,
        resources,
        mounts,
        mount_etc_files: true,
        termination_message_path,
        tty: c.tty.unwrap_or(false),
        stdin: c.stdin.unwrap_or(false),
        log_path: inputs.log_path,
        restart_count: inputs.restart_count,
        labels: BTreeMap::new(),
        stop_signal: None,
        sysctls,
    };
    Ok(Built { config, subpath_dirs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn inputs<'a>(pod: &'a Pod, volumes: &'a HashMap<String, VolumePath>, env: Environment) -> ConfigInputs<'a> {
        ConfigInputs {
            pod,
            container: &pod.spec.as_ref().unwrap().containers[0],
            env,
            volumes,
            log_path: PathBuf::from("/logs/c/0.log"),
            restart_count: 0,
            node_memory_bytes: 1 << 30,
            oom_score_adj_floor: None,
        }
    }

    #[test]
    fn commands_expand_and_security_merges() {
        let p = pod(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {
                "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000, "supplementalGroups": [4],
                    "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]},
                "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c"], "args": ["echo $(GREETING) $(MISSING)"],
                    "workingDir": "/work",
                    "securityContext": {"runAsUser": 2000, "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}]
            }
        }));
        let volumes = HashMap::new();
        let built = build(inputs(&p, &volumes, vec![("GREETING".into(), "hi".into())])).unwrap();
        let c = built.config;
        assert_eq!(c.command, vec!["sh", "-c"]);
        assert_eq!(c.args, vec!["echo hi $(MISSING)"]);
        assert_eq!(c.working_dir.as_deref(), Some("/work"));
        assert_eq!(c.security.run_as_user, Some(2000));
        assert_eq!(c.security.run_as_group, Some(3000));
        assert_eq!(c.security.supplemental_groups, vec![4, 2000]);
        assert!(c.security.no_new_privileges && c.security.read_only_root_filesystem);
        assert_eq!(c.security.capabilities_add, vec!["NET_ADMIN"]);
        assert_eq!(c.security.capabilities_drop, vec!["ALL"]);
        assert_eq!(c.termination_message_path.as_deref(), Some("/dev/termination-log"));
        assert_eq!(c.sysctls.get("net.ipv4.ip_unprivileged_port_start").map(String::as_str), Some("0"));
    }

    #[test]
    fn run_as_root_with_run_as_non_root_is_a_config_error() {
        let p = pod(json!({"metadata": {"name": "p", "namespace": "ns", "uid": "u"}, "spec": {
            "securityContext": {"runAsNonRoot": true},
            "containers": [{"name": "c", "image": "i", "securityContext": {"runAsUser": 0}}]}}));
        let volumes = HashMap::new();
        assert_eq!(
            build(inputs(&p, &volumes, vec![])).unwrap_err(),
            "container's runAsUser breaks non-root policy (pod: \"p_ns(u)\", container: c)"
        );
    }

    #[test]
    fn resources_become_cgroup_limits_with_qos_scores() {
        // Limits alone: the API server defaults the requests to them.
        let guaranteed = pod(json!({"spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "500m", "memory": "64Mi"}}}]}}));
        let volumes = HashMap::new();
        let r = build(inputs(&guaranteed, &volumes, vec![])).unwrap().config.resources;
        assert_eq!(r.cpu_request_millis, Some(500));
        assert_eq!(r.cpu_limit_millis, Some(500));
        assert_eq!(r.memory_limit_bytes, Some(64 << 20));
        assert_eq!(r.oom_score_adj, Some(-997));
        let floored = ConfigInputs { oom_score_adj_floor: Some(0), ..inputs(&guaranteed, &volumes, vec![]) };
        assert_eq!(build(floored).unwrap().config.resources.oom_score_adj, Some(0));
        let burstable = pod(json!({"spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"requests": {"memory": "256Mi"}}}]}}));
        let r = build(inputs(&burstable, &volumes, vec![])).unwrap().config.resources;
        assert_eq!(r.oom_score_adj, Some(750));
        assert_eq!(r.memory_limit_bytes, None);
        let best_effort = pod(json!({"spec": {"containers": [{"name": "c", "image": "i"}]}}));
        assert_eq!(build(inputs(&best_effort, &volumes, vec![])).unwrap().config.resources.oom_score_adj, Some(1000));
    }

    #[test]
    fn mounts_resolve_volumes_and_subpaths() {
        let p = pod(json!({"spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "data", "mountPath": "/logs", "subPathExpr": "$(POD)/logs", "mountPropagation": "HostToContainer"},
            {"name": "cfg", "mountPath": "/etc/cfg"}
        ]}]}}));
        let volumes = HashMap::from([
            ("data".to_string(), VolumePath { host_path: "/v/data".into(), read_only: false }),
            ("cfg".to_string(), VolumePath { host_path: "/v/cfg".into(), read_only: true }),
        ]);
        let built = build(inputs(&p, &volumes, vec![("POD".into(), "web-0".into())])).unwrap();
        let m = &built.config.mounts;
        assert_eq!(m[0].host_path, PathBuf::from("/v/data"));
        assert_eq!(m[1].host_path, PathBuf::from("/v/data/web-0/logs"));
        assert_eq!(m[1].propagation, Propagation::HostToContainer);
        assert!(m[2].read_only && !m[0].read_only);
        assert_eq!(built.subpath_dirs, vec![PathBuf::from("/v/data/web-0/logs")]);

        let bad = pod(json!({"spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [
            {"name": "data", "mountPath": "/x", "subPath": "../../etc"}]}]}}));
        assert!(build(inputs(&bad, &volumes, vec![])).unwrap_err().contains("'..'"));
        let missing = pod(json!({"spec": {"containers": [{"name": "c", "image": "i", "volumeMounts": [
            {"name": "nope", "mountPath": "/x"}]}]}}));
        assert_eq!(
            build(inputs(&missing, &volumes, vec![])).unwrap_err(),
            "cannot find volume \"nope\" to mount into container \"c\""
        );
    }
}
