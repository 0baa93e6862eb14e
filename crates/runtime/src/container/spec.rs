//! Building the OCI runtime spec of a container from its description, its image's
//! defaults and its sandbox: the process (command, env, user, capabilities), the mounts
//! (defaults, the pod's etc files and shm, volumes, the termination message file), the
//! namespaces joined from the sandbox, and the cgroup limits.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount,
    MountBuilder, Process, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use super::config::{ContainerConfig, Propagation};
use super::user::ResolvedUser;
use crate::error::{Result, RuntimeError};
use crate::image::oci::ProcessDefaults;
use crate::sandbox::Sandbox;

/// containerd's default capability set for containers.
const DEFAULT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every capability (for `privileged` and `add: [ALL]`).
const ALL_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The default `PATH` when neither image nor container sets one.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the spec is built from.
pub(crate) struct SpecInputs<'a> {
    pub(crate) config: &'a ContainerConfig,
    pub(crate) image: Option<&'a ProcessDefaults>,
    pub(crate) sandbox: &'a Sandbox,
    pub(crate) user: ResolvedUser,
    /// Host file bind-mounted at the termination message path.
    pub(crate) termination_log: Option<&'a Path>,
    /// The container's cgroup (`/k3rs/<pod>/<container>`).
    pub(crate) cgroups_path: String,
    pub(crate) cgroup_v2: bool,
}

fn invalid(reason: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidConfig(reason.into())
}

fn oci(err: oci_spec::OciSpecError) -> RuntimeError {
    invalid(format!("building the runtime spec: {err}"))
}

/// The process's argv, with Kubernetes' rules for `command` and `args` over the image's
/// `ENTRYPOINT` and `CMD`.
pub(crate) fn argv(config: &ContainerConfig, image: Option<&ProcessDefaults>) -> Result<Vec<String>> {
    let entrypoint = image.and_then(|i| i.entrypoint.clone()).unwrap_or_default();
    let cmd = image.and_then(|i| i.cmd.clone()).unwrap_or_default();
    let argv = if !config.command.is_empty() {
        config.command.iter().chain(&config.args).cloned().collect()
    } else if !config.args.is_empty() {
        entrypoint.into_iter().chain(config.args.iter().cloned()).collect()
    } else {
        entrypoint.into_iter().chain(cmd).collect::<Vec<_>>()
    };
    if argv.is_empty() {
        return Err(invalid(format!("container {:?}: no command specified", config.name)));
    }
    Ok(argv)
}

/// The environment: the image's, then the container's (same name: the later wins, in the
/// earlier one's place), then `HOSTNAME`.
pub(crate) fn environment(config: &ContainerConfig, image: Option<&ProcessDefaults>, hostname: &str) -> Vec<String> {
    fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
        match env.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = value.to_string(),
            None => env.push((name.to_string(), value.to_string())),
        }
    }
    let mut env: Vec<(String, String)> = Vec::new();
    for entry in image.and_then(|i| i.env.as_ref()).into_iter().flatten() {
        let (name, value) = entry.split_once('=').unwrap_or((entry, ""));
        set(&mut env, name, value);
    }
    for (name, value) in &config.env {
        set(&mut env, name, value);
    }
    if !env.iter().any(|(n, _)| n == "PATH") {
        let (name, value) = DEFAULT_PATH.split_once('=').unwrap_or_default();
        set(&mut env, name, value);
    }
    if !hostname.is_empty() {
        set(&mut env, "HOSTNAME", hostname);
    }
    env.into_iter().map(|(n, v)| format!("{n}={v}")).collect()
}

fn capability(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    Capability::from_str(bare).map_err(|_| invalid(format!("unknown capability {name:?}")))
}

/// The capability set: the default set, minus `drop`, plus `add` (`ALL` in either is all).
pub(crate) fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Result<Capabilities> {
    let is_all = |list: &[String]| list.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    if privileged || is_all(add) {
        return ALL_CAPABILITIES.iter().map(|c| capability(c)).collect();
    }
    let mut set: Capabilities = if is_all(drop) {
        HashSet::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| capability(c)).collect::<Result<_>>()?
    };
    for name in drop.iter().filter(|c| !c.eq_ignore_ascii_case("ALL")) {
        set.remove(&capability(name)?);
    }
    for name in add {
        set.insert(capability(name)?);
    }
    Ok(set)
}

fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Result<Mount> {
    MountBuilder::default()
        .destination(destination)
        .typ(kind)
        .source(source)
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(oci)
}

fn bind_mount(destination: &str, source: &Path, read_only: bool, propagation: Propagation) -> Result<Mount> {
    let propagation = match propagation {
        Propagation::Private => "rprivate",
        Propagation::HostToContainer => "rslave",
        Propagation::Bidirectional => "rshared",
    };
    let mode = if read_only { "ro" } else { "rw" };
    mount(destination, "bind", &source.to_string_lossy(), &["rbind", propagation, mode])
}

fn default_mounts(privileged: bool) -> Result<Vec<Mount>> {
    let sys_mode = if privileged { "rw" } else { "ro" };
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"])?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        )?,
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", sys_mode])?,
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", sys_mode])?,
    ])
}

fn process(inputs: &SpecInputs<'_>) -> Result<Process> {
    let config = inputs.config;
    let security = &config.security;
    if security.run_as_non_root && inputs.user.uid == 0 {
        return Err(invalid(format!("container {:?} has runAsNonRoot and image will run as root", config.name)));
    }
    let cwd = config
        .working_dir
        .clone()
        .filter(|d| !d.is_empty())
        .or_else(|| inputs.image.and_then(|i| i.working_dir.clone()).filter(|d| !d.is_empty()))
        .unwrap_or_else(|| "/".to_string());
    if !cwd.starts_with('/') {
        return Err(invalid(format!("working directory {cwd:?} must be absolute")));
    }
    let caps = capabilities(&security.capabilities_add, &security.capabilities_drop, security.privileged)?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(Capabilities::new())
        .ambient(Capabilities::new())
        .build()
        .map_err(oci)?;
    let mut user = UserBuilder::default().uid(inputs.user.uid).gid(inputs.user.gid);
    if !inputs.user.additional_gids.is_empty() {
        user = user.additional_gids(inputs.user.additional_gids.clone());
    }
    let mut process = ProcessBuilder::default()
        .terminal(config.tty)
        .user(user.build().map_err(oci)?)
        .args(argv(config, inputs.image)?)
        .env(environment(config, inputs.image, &inputs.sandbox.config.hostname))
        .cwd(cwd)
        .capabilities(capabilities)
        .no_new_privileges(security.no_new_privileges && !security.privileged);
    if let Some(score) = config.resources.oom_score_adj {
        process = process.oom_score_adj(score);
    }
    process.build().map_err(oci)
}

/// Builds the whole runtime spec.
pub(crate) fn build(inputs: &SpecInputs<'_>) -> Result<Spec> {
    let config = inputs.config;
    let sandbox = inputs.sandbox;
    let security = &config.security;

    let mut mounts = default_mounts(security.privileged)?;
    let mut user_mounts = Vec::new();
    if !sandbox.config.host_ipc {
        user_mounts.push(bind_mount("/dev/shm", &sandbox.shm_path(), false, Propagation::Private)?);
    } else {
        user_mounts.push(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?);
    }
    if config.mount_etc_files {
        user_mounts.push(bind_mount("/etc/hosts", &sandbox.hosts_path(), false, Propagation::Private)?);
        user_mounts.push(bind_mount("/etc/resolv.conf", &sandbox.resolv_conf_path(), false, Propagation::Private)?);
        user_mounts.push(bind_mount("/etc/hostname", &sandbox.hostname_path(), false, Propagation::Private)?);
    }
    if let (Some(path), Some(host)) = (&config.termination_message_path, inputs.termination_log) {
        if !path.starts_with('/') {
            return Err(invalid(format!("terminationMessagePath {path:?} must be absolute")));
        }
        user_mounts.push(bind_mount(path, host, false, Propagation::Private)?);
    }
    for volume in &config.mounts {
        if !volume.container_path.starts_with('/') {
            return Err(invalid(format!("mount path {:?} must be absolute", volume.container_path)));
        }
        if volume.propagation == Propagation::Bidirectional && !security.privileged {
            return Err(invalid(format!(
                "mount {:?}: Bidirectional mount propagation needs a privileged container",
                volume.container_path
            )));
        }
        user_mounts.push(bind_mount(&volume.container_path, &volume.host_path, volume.read_only, volume.propagation)?);
    }
    // A later mount at the same place replaces an earlier one (a volume over /dev/shm, or
    // over /etc/hosts); parents are mounted before their children.
    let depth = |m: &Mount| m.destination().components().count();
    let mut seen = HashSet::new();
    user_mounts.reverse();
    user_mounts.retain(|m| seen.insert(m.destination().clone()));
    user_mounts.reverse();
    user_mounts.sort_by_key(depth);
    mounts.retain(|m| !seen.contains(m.destination()));
    mounts.extend(user_mounts);

    let namespace = |kind: LinuxNamespaceType, path: Option<&PathBuf>| {
        let mut builder = LinuxNamespaceBuilder::default().typ(kind);
        if let Some(path) = path {
            builder = builder.path(path.clone());
        }
        builder.build().map_err(oci)
    };
    let mut namespaces = vec![namespace(LinuxNamespaceType::Mount, None)?];
    if !sandbox.config.host_network {
        namespaces.push(namespace(LinuxNamespaceType::Network, sandbox.netns.as_ref())?);
        namespaces.push(namespace(LinuxNamespaceType::Uts, sandbox.uts_ns.as_ref())?);
    }
    if !sandbox.config.host_ipc {
        namespaces.push(namespace(LinuxNamespaceType::Ipc, sandbox.ipc_ns.as_ref())?);
    }
    if !sandbox.config.host_pid {
        namespaces.push(namespace(LinuxNamespaceType::Pid, sandbox.pid_ns.as_ref())?);
    }
    if inputs.cgroup_v2 {
        namespaces.push(namespace(LinuxNamespaceType::Cgroup, None)?);
    }

    let resources = &config.resources;
    let mut limits = LinuxResourcesBuilder::default().devices(vec![
        LinuxDeviceCgroupBuilder::default().allow(security.privileged).access("rwm").build().map_err(oci)?,
    ]);
    if let Some(bytes) = resources.memory_limit_bytes {
        let bytes = i64::try_from(bytes).map_err(|_| invalid("memory limit too large"))?;
        limits = limits.memory(LinuxMemoryBuilder::default().limit(bytes).build().map_err(oci)?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut cpu_set = false;
    if let Some(millis) = resources.cpu_request_millis.or(resources.cpu_limit_millis) {
        // The kubelet's conversion: 1000 millicores = 1024 shares, at least 2.
        cpu = cpu.shares((millis.saturating_mul(1024) / 1000).max(2));
        cpu_set = true;
    }
    if let Some(millis) = resources.cpu_limit_millis {
        const PERIOD: u64 = 100_000;
        let quota = (millis.saturating_mul(PERIOD) / 1000).max(1000);
        cpu = cpu.quota(i64::try_from(quota).unwrap_or(i64::MAX)).period(PERIOD);
        cpu_set = true;
    }
    if cpu_set {
        limits = limits.cpu(cpu.build().map_err(oci)?);
    }
    if let Some(pids) = resources.pids_limit {
        limits = limits.pids(LinuxPidsBuilder::default().limit(pids).build().map_err(oci)?);
    }

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(&inputs.cgroups_path))
        .resources(limits.build().map_err(oci)?);
    if !security.privileged {
        linux = linux
            .masked_paths(MASKED_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .readonly_paths(READONLY_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
    if !config.sysctls.is_empty() {
        linux = linux.sysctl(
            config.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<std::collections::HashMap<_, _>>(),
        );
    }

    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path("rootfs").readonly(security.read_only_root_filesystem).build().map_err(oci)?)
        .process(process(inputs)?)
        .mounts(mounts)
        .linux(linux.build().map_err(oci)?);
    if !sandbox.config.host_network && !sandbox.config.hostname.is_empty() {
        spec = spec.hostname(sandbox.config.hostname.clone());
    }
    spec.build().map_err(oci)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::config::{Mount as VolumeMount, SecurityConfig};
    use crate::sandbox::SandboxConfig;

    fn sandbox() -> Sandbox {
        Sandbox {
            id: "sb".into(),
            config: SandboxConfig { hostname: "pod-a".into(), ..Default::default() },
            created_at: jiff::Timestamp::UNIX_EPOCH,
            dir: PathBuf::from("/run/k3rs/sandboxes/sb"),
            netns: Some(PathBuf::from("/run/k3rs/ns/sb.net")),
            ipc_ns: Some(PathBuf::from("/run/k3rs/ns/sb.ipc")),
            uts_ns: Some(PathBuf::from("/run/k3rs/ns/sb.uts")),
            pid_ns: None,
            pid_holder: None,
        }
    }

    fn image() -> ProcessDefaults {
        ProcessDefaults {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["default".into()]),
            env: Some(vec!["PATH=/bin".into(), "A=image".into()]),
            working_dir: Some("/work".into()),
            ..Default::default()
        }
    }

    fn spec_for(config: &ContainerConfig) -> Result<Spec> {
        let sandbox = sandbox();
        let image = image();
        build(&SpecInputs {
            config,
            image: Some(&image),
            sandbox: &sandbox,
            user: ResolvedUser::default(),
            termination_log: Some(Path::new("/run/k3rs/containers/c/termination-log")),
            cgroups_path: "/k3rs/pod/c".into(),
            cgroup_v2: false,
        })
    }

    #[test]
    fn command_and_args_follow_kubernetes_rules() {
        let image = image();
        let mut config = ContainerConfig::default();
        assert_eq!(argv(&config, Some(&image)).unwrap(), vec!["/entry", "default"]);
        config.args = vec!["x".into()];
        assert_eq!(argv(&config, Some(&image)).unwrap(), vec!["/entry", "x"]);
        config.command = vec!["/bin/sh".into()];
        assert_eq!(argv(&config, Some(&image)).unwrap(), vec!["/bin/sh", "x"]);
        assert!(argv(&ContainerConfig::default(), None).unwrap_err().to_string().contains("no command"));
    }

    #[test]
    fn environment_merges_image_and_container() {
        let config =
            ContainerConfig { env: vec![("A".into(), "pod".into()), ("B".into(), "1".into())], ..Default::default() };
        let env = environment(&config, Some(&image()), "pod-a");
        assert_eq!(env, vec!["PATH=/bin", "A=pod", "B=1", "HOSTNAME=pod-a"]);
        let env = environment(&ContainerConfig::default(), None, "");
        assert_eq!(env, vec![DEFAULT_PATH]);
    }

    #[test]
    fn capabilities_add_and_drop() {
        let caps = capabilities(&["NET_ADMIN".into()], &["KILL".into(), "CAP_CHOWN".into()], false).unwrap();
        assert!(caps.contains(&Capability::NetAdmin));
        assert!(!caps.contains(&Capability::Kill) && !caps.contains(&Capability::Chown));
        assert!(caps.contains(&Capability::Setuid));
        let only = capabilities(&["NET_BIND_SERVICE".into()], &["ALL".into()], false).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(capabilities(&[], &[], true).unwrap().len(), ALL_CAPABILITIES.len());
        assert!(capabilities(&["NOPE".into()], &[], false).unwrap_err().to_string().contains("unknown capability"));
    }

    #[test]
    fn spec_joins_the_sandbox_and_sets_limits() {
        let config = ContainerConfig {
            name: "c".into(),
            mount_etc_files: true,
            termination_message_path: Some("/dev/termination-log".into()),
            security: SecurityConfig { read_only_root_filesystem: true, no_new_privileges: true, ..Default::default() },
            resources: crate::container::config::Resources {
                cpu_limit_millis: Some(500),
                memory_limit_bytes: Some(64 << 20),
                ..Default::default()
            },
            mounts: vec![VolumeMount {
                container_path: "/data".into(),
                host_path: PathBuf::from("/var/lib/k3rs/pods/x/volumes/data"),
                read_only: true,
                ..Default::default()
            }],
            ..Default::default()
        };
        let spec = spec_for(&config).unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["root"]["readonly"], true);
        assert_eq!(json["hostname"], "pod-a");
        assert_eq!(json["process"]["noNewPrivileges"], true);
        assert_eq!(json["process"]["cwd"], "/work");
        let namespaces = json["linux"]["namespaces"].as_array().unwrap();
        assert!(namespaces.iter().any(|n| n["type"] == "network" && n["path"] == "/run/k3rs/ns/sb.net"));
        assert!(namespaces.iter().any(|n| n["type"] == "pid" && n.get("path").is_none()));
        assert_eq!(json["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(json["linux"]["resources"]["cpu"]["quota"], 50_000);
        assert_eq!(json["linux"]["resources"]["cpu"]["shares"], 512);
        let mounts = json["mounts"].as_array().unwrap();
        let find = |dest: &str| mounts.iter().find(|m| m["destination"] == dest).cloned();
        assert_eq!(find("/etc/hosts").unwrap()["source"], "/run/k3rs/sandboxes/sb/hosts");
        assert_eq!(find("/dev/shm").unwrap()["source"], "/run/k3rs/sandboxes/sb/shm");
        assert_eq!(find("/dev/termination-log").unwrap()["source"], "/run/k3rs/containers/c/termination-log");
        assert!(find("/data").unwrap()["options"].as_array().unwrap().contains(&"ro".into()));
        assert_eq!(json["linux"]["cgroupsPath"], "/k3rs/pod/c");
    }

    #[test]
    fn invalid_settings_are_refused() {
        let mut config = ContainerConfig { name: "c".into(), ..Default::default() };
        config.security.run_as_non_root = true;
        assert!(spec_for(&config).unwrap_err().to_string().contains("runAsNonRoot"));
        let mut config = ContainerConfig { name: "c".into(), ..Default::default() };
        config.mounts.push(VolumeMount { container_path: "relative".into(), ..Default::default() });
        assert!(spec_for(&config).unwrap_err().to_string().contains("must be absolute"));
    }

    #[test]
    fn a_volume_replaces_a_default_mount() {
        let config = ContainerConfig {
            name: "c".into(),
            mounts: vec![VolumeMount {
                container_path: "/dev/shm".into(),
                host_path: "/mem".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let json = serde_json::to_value(spec_for(&config).unwrap()).unwrap();
        let shm: Vec<_> =
            json["mounts"].as_array().unwrap().iter().filter(|m| m["destination"] == "/dev/shm").collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0]["source"], "/mem");
    }
}
