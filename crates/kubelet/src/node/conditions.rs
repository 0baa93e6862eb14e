//! The node conditions the kubelet reports: Ready, and MemoryPressure,
//! DiskPressure and PIDPressure against upstream's default hard eviction
//! thresholds (memory.available < 100Mi, nodefs.available < 10%, pids).

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
pub fn node_conditions(available: &Available, ready: Result<(), String>, now: &Time) -> Vec<NodeCondition> {
    let memory_pressure = available.memory_bytes < 100 * 1024 * 1024;
    let disk_pressure = available.disk_total_bytes > 0 && available.disk_bytes < available.disk_total_bytes / 10;
    let pid_pressure = available.pid_max > 0 && available.pids > available.pid_max / 100 * 95;
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
        let conds = node_conditions(&ok, Ok(()), &now);
        assert!(conds.iter().filter(|c| c.type_ != "Ready").all(|c| c.status == "False"));
        assert_eq!(conds[3].reason.as_deref(), Some("KubeletReady"));
        let bad = Available { memory_bytes: 10, disk_bytes: 5, disk_total_bytes: 100, pids: 990, pid_max: 1000 };
        let conds = node_conditions(&bad, Err("container runtime is down".into()), &now);
        assert!(conds.iter().all(|c| c.status == if c.type_ == "Ready" { "False" } else { "True" }));
        assert_eq!(memory_available("MemAvailable: 2 kB\n"), Some(2048));
    }
}
