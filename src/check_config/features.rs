//! The kernel features k3rs needs, and how each is found on a host: from the kernel
//! configuration when there is one, else from what the running kernel shows
//! (`/proc/filesystems`, `/proc/sys`, `/sys/module`, loaded modules).

use super::host::Host;
use super::kernel_config::{KernelConfig, Modules, Tristate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Required,
    Optional,
}

/// A sign in the running kernel that a feature is there.
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    None,
    /// A file system type listed in `/proc/filesystems`.
    Filesystem(&'static str),
    /// A file that exists only when the feature is active.
    Path(&'static str),
}

/// One `CONFIG_*` option.
#[derive(Debug, Clone, Copy)]
pub struct KernelFeature {
    pub option: &'static str,
    pub module: Option<&'static str>,
    pub probe: Probe,
    pub need: Need,
    pub purpose: &'static str,
}

const fn feature(option: &'static str, need: Need, purpose: &'static str) -> KernelFeature {
    KernelFeature { option, module: None, probe: Probe::None, need, purpose }
}

const fn module(option: &'static str, module: &'static str, need: Need, purpose: &'static str) -> KernelFeature {
    KernelFeature { option, module: Some(module), probe: Probe::None, need, purpose }
}

const fn probed(mut f: KernelFeature, probe: Probe) -> KernelFeature {
    f.probe = probe;
    f
}

use Need::{Optional, Required};

/// The features, by section, in report order.
pub const SECTIONS: &[(&str, &[KernelFeature])] = &[
    (
        "Namespaces",
        &[
            feature("NAMESPACES", Required, "isolation of containers"),
            probed(feature("NET_NS", Required, "a network of its own per pod"), Probe::Path("/proc/self/ns/net")),
            probed(feature("PID_NS", Required, "process isolation"), Probe::Path("/proc/self/ns/pid")),
            probed(feature("IPC_NS", Required, "IPC isolation"), Probe::Path("/proc/self/ns/ipc")),
            probed(feature("UTS_NS", Required, "a host name per pod"), Probe::Path("/proc/self/ns/uts")),
            probed(feature("USER_NS", Optional, "pods with user namespaces"), Probe::Path("/proc/self/ns/user")),
        ],
    ),
    (
        "Control groups",
        &[
            probed(feature("CGROUPS", Required, "resource accounting and limits"), Probe::Path("/proc/cgroups")),
            feature("CGROUP_PIDS", Required, "process-count limits"),
            feature("MEMCG", Required, "memory limits and eviction"),
            feature("CGROUP_SCHED", Required, "CPU shares"),
            feature("CPUSETS", Required, "CPU pinning"),
            feature("CGROUP_BPF", Required, "device access control with cgroup v2"),
            feature("CFS_BANDWIDTH", Optional, "CPU limits (without it limits are not enforced)"),
            feature("BLK_CGROUP", Optional, "I/O weights"),
            feature("CGROUP_HUGETLB", Optional, "huge page limits"),
        ],
    ),
    (
        "Storage",
        &[probed(
            module("OVERLAY_FS", "overlay", Required, "the overlayfs snapshotter for container images"),
            Probe::Filesystem("overlay"),
        )],
    ),
    (
        "Networking",
        &[
            module("VETH", "veth", Required, "the link between a pod and the node"),
            module("BRIDGE", "bridge", Required, "the node's pod bridge"),
            probed(
                module("BRIDGE_NETFILTER", "br_netfilter", Required, "Service traffic between pods on one bridge"),
                Probe::Path("/proc/sys/net/bridge/bridge-nf-call-iptables"),
            ),
            feature("NETFILTER", Required, "packet filtering"),
            probed(
                module("NF_CONNTRACK", "nf_conntrack", Required, "connection tracking for Services"),
                Probe::Path("/proc/sys/net/netfilter/nf_conntrack_max"),
            ),
            module("NF_NAT", "nf_nat", Required, "address translation for Services and pod egress"),
            module("NF_TABLES", "nf_tables", Required, "nftables, which the service proxy programs"),
            feature("NF_TABLES_INET", Required, "nftables tables for IPv4 and IPv6 at once"),
            module("NFT_CT", "nft_ct", Required, "nftables connection-tracking matches"),
            module("NFT_NAT", "nft_nat", Required, "nftables DNAT/SNAT"),
            module("NFT_MASQ", "nft_masq", Required, "nftables masquerading of pod egress"),
        ],
    ),
    (
        "Security",
        &[
            feature("SECCOMP", Optional, "seccomp profiles (RuntimeDefault)"),
            feature("KEYS", Optional, "session keyrings for containers"),
            feature("POSIX_MQUEUE", Optional, "POSIX message queues in containers"),
        ],
    ),
];

/// What was found for one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Built into the kernel (from its configuration, or seen in the running kernel).
    Enabled,
    /// A module that is loaded.
    ModuleLoaded,
    /// A module that is not loaded now; the kernel or k3rs loads it on use.
    ModuleNotLoaded,
    /// Not built.
    Missing,
    /// No configuration to read and nothing in the running kernel tells.
    Unknown,
}

pub struct Evidence<'a> {
    pub host: &'a Host,
    pub config: Option<&'a KernelConfig>,
    pub modules: &'a Modules,
    pub filesystems: &'a str,
}

impl Evidence<'_> {
    pub fn evaluate(&self, f: &KernelFeature) -> Status {
        let running = self.seen_running(f);
        match self.config.and_then(|c| c.get(f.option)) {
            Some(Tristate::Builtin) => Status::Enabled,
            Some(Tristate::Module) if running => Status::ModuleLoaded,
            Some(Tristate::Module) => Status::ModuleNotLoaded,
            // The running kernel disagrees with a stale config file: trust the kernel.
            Some(Tristate::Off) | None if running => Status::Enabled,
            Some(Tristate::Off) => Status::Missing,
            None if self.config.is_some() => Status::Missing,
            None if f.module.is_some_and(|m| self.modules.is_installed(m)) => Status::ModuleNotLoaded,
            None => Status::Unknown,
        }
    }

    /// Whether the running kernel shows the feature.
    fn seen_running(&self, f: &KernelFeature) -> bool {
        let probe = match f.probe {
            Probe::None => false,
            Probe::Filesystem(fs) => self.filesystems.lines().any(|l| l.split_whitespace().last() == Some(fs)),
            Probe::Path(path) => self.host.exists(path),
        };
        probe
            || f.module.is_some_and(|m| {
                self.modules.is_loaded(m) || self.modules.is_builtin(m) || self.host.exists(format!("/sys/module/{m}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay() -> KernelFeature {
        SECTIONS.iter().flat_map(|(_, fs)| fs.iter()).find(|f| f.option == "OVERLAY_FS").copied().unwrap()
    }

    #[test]
    fn configuration_decides_and_running_kernel_refines() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::rooted(root.path(), "");
        let modules = Modules::default();
        let module_cfg = KernelConfig::parse("t", "CONFIG_OVERLAY_FS=m\n");
        let off_cfg = KernelConfig::parse("t", "# CONFIG_OVERLAY_FS is not set\n");
        let ev = |config, filesystems| Evidence { host: &host, config, modules: &modules, filesystems };

        assert_eq!(ev(Some(&module_cfg), "").evaluate(&overlay()), Status::ModuleNotLoaded);
        assert_eq!(ev(Some(&module_cfg), "nodev\toverlay\n").evaluate(&overlay()), Status::ModuleLoaded);
        assert_eq!(ev(Some(&off_cfg), "").evaluate(&overlay()), Status::Missing);
        assert_eq!(ev(Some(&off_cfg), "nodev\toverlay\n").evaluate(&overlay()), Status::Enabled);
        assert_eq!(ev(None, "").evaluate(&overlay()), Status::Unknown);
        assert_eq!(ev(None, "nodev\toverlay\n").evaluate(&overlay()), Status::Enabled);
        let empty = KernelConfig::parse("t", "");
        assert_eq!(ev(Some(&empty), "").evaluate(&overlay()), Status::Missing);
    }

    #[test]
    fn installed_module_without_configuration() {
        let root = tempfile::tempdir().unwrap();
        let host = Host::rooted(root.path(), "");
        let mut modules = Modules::default();
        modules.installed.insert("overlay".into());
        let ev = Evidence { host: &host, config: None, modules: &modules, filesystems: "" };
        assert_eq!(ev.evaluate(&overlay()), Status::ModuleNotLoaded);
    }

    #[test]
    fn every_option_is_listed_once() {
        let mut names: Vec<&str> = SECTIONS.iter().flat_map(|(_, fs)| fs.iter().map(|f| f.option)).collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total);
    }
}
