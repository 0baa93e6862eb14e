//! The node conditions the kubelet reports: Ready, and MemoryPressure,
//! DiskPressure and PIDPressure against hard eviction thresholds ([`Thresholds`]:
//! upstream's defaults memory.available < 100Mi, nodefs.available < 10%,
//! pid.available < 5%, or `--eviction-hard`).

use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Free resources of the machine right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Available {
    pub memory_bytes: u64,
    pub disk_bytes: u64,
    pub disk_total_bytes: u64,
    pub pids: u64,
    pub pid_max: u64,
}

/// The hard eviction thresholds the pressure conditions are measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// MemoryPressure below this much available memory.
    pub memory_available_bytes: u64,
    /// DiskPressure below this share (0..=1) of the node filesystem available.
    pub nodefs_available: f64,
    /// PIDPressure below this share (0..=1) of process ids available.
    pub pid_available: f64,
}

impl Default for Thresholds {
    /// Upstream's defaults.
    fn default() -> Self {
        Thresholds { memory_available_bytes: 100 * 1024 * 1024, nodefs_available: 0.10, pid_available: 0.05 }
    }
}

fn parse_bytes(value: &str) -> Option<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (suffix, factor) in UNITS {
        if let Some(n) = value.strip_suffix(suffix) {
            return n.parse::<u64>().ok()?.checked_mul(*factor);
        }
    }
    value.parse().ok()
}

fn parse_share(value: &str) -> Option<f64> {
    let percent: f64 = value.strip_suffix('%')?.parse().ok()?;
    (0.0..=100.0).contains(&percent).then_some(percent / 100.0)
}

impl Thresholds {
    /// Parses upstream's `--eviction-hard` syntax, e.g.
    /// `memory.available<100Mi,nodefs.available<10%,pid.available<5%`; signals not given keep
    /// their defaults.
    pub fn parse(spec: &str) -> Result<Thresholds, String> {
        let mut out = Thresholds::default();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (signal, value) = item
                .split_once('<')
                .ok_or_else(|| format!("{item:?}: expected <signal><<quantity>, e.g. nodefs.available<10%"))?;
            let bad = || format!("{item:?}: invalid threshold {value:?}");
            match signal.trim() {
                "memory.available" => {
                    out.memory_available_bytes = match parse_share(value) {
                        Some(_) => return Err(format!("{item:?}: give memory.available as a quantity (100Mi)")),
                        None => parse_bytes(value.trim()).ok_or_else(bad)?,
                    }
                }
                "nodefs.available" => out.nodefs_available = parse_share(value.trim()).ok_or_else(bad)?,
                "pid.available" => out.pid_available = parse_share(value.trim()).ok_or_else(bad)?,
                other => {
                    return Err(format!(
                        "{item:?}: unsupported signal {other:?} (memory.available, nodefs.available, pid.available)"
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// `MemAvailable` from /proc/meminfo.
pub fn memory_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

fn condition(ty: &str, status: bool, reason: &str, message: &str, now: &Time) -> NodeCondition {
    NodeCondition {
        type_: ty.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(now.clone()),
    }
}

/// The four conditions; `ready` says whether the runtime and network are up, with
/// a message when they are not.
pub fn node_conditions(
    available: &Available,
    thresholds: &Thresholds,
    ready: Result<(), String>,
    now: &Time,
) -> Vec<NodeCondition> {
    let memory_pressure = available.memory_bytes < thresholds.memory_available_bytes;
    let disk_pressure = available.disk_total_bytes > 0
        && (available.disk_bytes as f64) < available.disk_total_bytes as f64 * thresholds.nodefs_available;
    let pid_pressure = available.pid_max > 0
        && (available.pid_max.saturating_sub(available.pids) as f64)
            < available.pid_max as f64 * thresholds.pid_available;
    vec![
        if memory_pressure {
            condition(
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
                now,
            )
        } else {
            condition(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                now,
            )
        },
        if disk_pressure {
            condition("DiskPressure", true, "KubeletHasDiskPressure", "kubelet has disk pressure", now)
        } else {
            condition("DiskPressure", false, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now)
        },
        if pid_pressure {
            condition("PIDPressure", true, "KubeletHasInsufficientPID", "kubelet has insufficient PID available", now)
        } else {
            condition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available", now)
        },
        match ready {
            Ok(()) => condition("Ready", true, "KubeletReady", "kubelet is posting ready status", now),
            Err(why) => condition("Ready", false, "KubeletNotReady", &why, now),
        },
    ]
}

/// Keeps transition times of conditions whose status did not change.
pub fn carry_transition_times(new: &mut [NodeCondition], old: &[NodeCondition]) {
    for c in new.iter_mut() {
        if let Some(prev) = old.iter().find(|o| o.type_ == c.type_)
            && prev.status == c.status
        {
            c.last_transition_time = prev.last_transition_time.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        let now = Time(jiff::Timestamp::UNIX_EPOCH);
        let ok = Available { memory_bytes: 1 << 30, disk_bytes: 50, disk_total_bytes: 100, pids: 10, pid_max: 1000 };
        let defaults = Thresholds::default();
        let conds = node_conditions(&ok, &defaults, Ok(()), &now);
        assert!(conds.iter().filter(|c| c.type_ != "Ready").all(|c| c.status == "False"));
        assert_eq!(conds[3].reason.as_deref(), Some("KubeletReady"));
        let bad = Available { memory_bytes: 10, disk_bytes: 5, disk_total_bytes: 100, pids: 990, pid_max: 1000 };
        let conds = node_conditions(&bad, &defaults, Err("container runtime is down".into()), &now);
        assert!(conds.iter().all(|c| c.status == if c.type_ == "Ready" { "False" } else { "True" }));
        // Lower thresholds: 5% of the disk free is no pressure below a 1% threshold.
        let relaxed = Thresholds::parse("nodefs.available<1%,memory.available<8,pid.available<0.5%").unwrap();
        let conds = node_conditions(&bad, &relaxed, Ok(()), &now);
        assert!(conds.iter().all(|c| c.status == if c.type_ == "Ready" { "True" } else { "False" }), "{conds:?}");
        assert_eq!(memory_available("MemAvailable: 2 kB\n"), Some(2048));
    }

    #[test]
    fn eviction_thresholds_parse_as_upstream_writes_them() {
        let t = Thresholds::parse("memory.available<200Mi, nodefs.available<5%").unwrap();
        assert_eq!(t.memory_available_bytes, 200 << 20);
        assert!((t.nodefs_available - 0.05).abs() < 1e-9);
        assert_eq!(t.pid_available, Thresholds::default().pid_available);
        assert_eq!(Thresholds::parse("").unwrap(), Thresholds::default());
        assert!(Thresholds::parse("imagefs.available<15%").unwrap_err().contains("unsupported signal"));
        assert!(Thresholds::parse("nodefs.available<lots").is_err());
        assert!(Thresholds::parse("nodefs.available=10%").is_err());
        assert!(Thresholds::parse("memory.available<10%").is_err());
    }
}
