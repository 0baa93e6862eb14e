//! Facts read from the machine: CPUs, memory, root filesystem size, kernel and
//! OS, for the Node's capacity and `nodeInfo`.

use std::collections::BTreeMap;

/// What the kubelet reports about the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub architecture: String,
    pub operating_system: String,
    pub machine_id: String,
    /// The firmware's system UUID (empty when the DMI table is not readable).
    pub system_uuid: String,
    pub boot_id: String,
}

/// Maximum pods per node (upstream default).
pub const MAX_PODS: u32 = 110;

fn read(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `PRETTY_NAME` of `/etc/os-release`.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string())
}

/// Size and free space of a filesystem, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilesystemUsage {
    pub total_bytes: u64,
    /// Space available to unprivileged users.
    pub available_bytes: u64,
}

/// The size and free space of the filesystem holding `path`, or the nearest existing
/// directory above it (the kubelet's directories may not exist yet); zeros when unknown.
pub fn filesystem_usage(path: &str) -> FilesystemUsage {
    let existing = std::path::Path::new(path).ancestors().find(|p| p.exists()).unwrap_or(std::path::Path::new("/"));
    let Ok(c) = std::ffi::CString::new(existing.to_string_lossy().as_bytes()) else {
        return FilesystemUsage::default();
    };
    // SAFETY: `st` is a zeroed out-parameter of the right type and `c` a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return FilesystemUsage::default();
    }
    FilesystemUsage {
        total_bytes: (st.f_blocks as u64).saturating_mul(st.f_frsize as u64),
        available_bytes: (st.f_bavail as u64).saturating_mul(st.f_frsize as u64),
    }
}

impl Machine {
    /// Reads the machine; `root` is the filesystem the kubelet keeps pod data on.
    pub fn read(root: &str) -> Machine {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Machine {
            cpus: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            memory_bytes: parse_meminfo_total(&read("/proc/meminfo")).unwrap_or(0),
            ephemeral_storage_bytes: filesystem_usage(root).total_bytes,
            kernel_version: read("/proc/sys/kernel/osrelease"),
            os_image: parse_os_release(&read("/etc/os-release")).unwrap_or_else(|| "Linux".into()),
            architecture: arch.to_string(),
            operating_system: "linux".to_string(),
            machine_id: read("/etc/machine-id"),
            system_uuid: read("/sys/class/dmi/id/product_uuid").to_lowercase(),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
        }
    }

    /// Capacity as the Node reports it.
    pub fn capacity(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("cpu".to_string(), self.cpus.to_string()),
            ("memory".to_string(), format!("{}Ki", self.memory_bytes / 1024)),
            ("ephemeral-storage".to_string(), format!("{}Ki", self.ephemeral_storage_bytes / 1024)),
            ("pods".to_string(), MAX_PODS.to_string()),
            ("hugepages-2Mi".to_string(), "0".to_string()),
            ("hugepages-1Gi".to_string(), "0".to_string()),
        ])
    }

    /// Allocatable: capacity minus the hard eviction reserve (upstream's defaults:
    /// 100Mi of memory and 10% of ephemeral storage).
    pub fn allocatable(&self) -> BTreeMap<String, String> {
        let mut a = self.capacity();
        let memory = self.memory_bytes.saturating_sub(100 * 1024 * 1024);
        a.insert("memory".into(), format!("{}Ki", memory / 1024));
        let storage = self.ephemeral_storage_bytes - self.ephemeral_storage_bytes / 10;
        a.insert("ephemeral-storage".into(), storage.to_string());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_meminfo_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"), Some(16384 * 1024));
        assert_eq!(
            parse_os_release("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn reads_this_machine() {
        let m = Machine::read("/");
        assert!(m.cpus >= 1);
        assert!(m.memory_bytes > 0);
        assert!(m.ephemeral_storage_bytes > 0);
        assert!(!m.kernel_version.is_empty());
        assert_eq!(m.capacity()["pods"], "110");
        let missing = Machine::read("/nonexistent/k3rs/kubelet");
        assert_eq!(missing.ephemeral_storage_bytes, m.ephemeral_storage_bytes);
    }
}
