//! The little the runtime needs from cgroups: which version the host runs (v2 unified, or
//! v1 / hybrid), how often the OOM killer struck in a container's cgroup (read before the
//! task is deleted, since runc removes the cgroup then), and removing a pod's cgroup.

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// True on a cgroup v2 (unified) host.
pub fn is_v2() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

fn relative(cgroup: &str) -> &str {
    cgroup.trim_start_matches('/')
}

/// The number in a `key value` line of a cgroup file.
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

/// How many processes of the cgroup the OOM killer killed (None when unknown).
pub fn oom_kills(cgroup: &str) -> Option<u64> {
    let path = if is_v2() {
        Path::new(ROOT).join(relative(cgroup)).join("memory.events")
    } else {
        Path::new(ROOT).join("memory").join(relative(cgroup)).join("memory.oom_control")
    };
    counter(&std::fs::read_to_string(path).ok()?, "oom_kill")
}

/// The directories of a cgroup (one per v1 hierarchy, or the unified one).
fn directories(cgroup: &str) -> Vec<PathBuf> {
    if is_v2() {
        return vec![Path::new(ROOT).join(relative(cgroup))];
    }
    let Ok(entries) = std::fs::read_dir(ROOT) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join(relative(cgroup)))
        .collect()
}

/// Removes an (empty) cgroup and its empty children; best effort.
pub fn remove(cgroup: &str) {
    if relative(cgroup).is_empty() {
        return;
    }
    for dir in directories(cgroup) {
        remove_tree(&dir);
    }
}

fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&entry.path());
            }
        }
    }
    // cgroup directories are removed with rmdir even though they list files.
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_parsed() {
        let v2 = "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(counter(v2, "oom_kill"), Some(1));
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(counter(v1, "oom_kill"), Some(2));
        assert_eq!(counter("", "oom_kill"), None);
    }
}
