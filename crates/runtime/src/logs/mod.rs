//! Container logs in the kubelet's file format, one file per container run:
//! `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`, each line
//! `<RFC 3339 timestamp, nanoseconds> <stdout|stderr> <F|P> <text>` (P: a partial line that
//! continues on the next entry). [`LogWriter`] appends and rotates; [`read_log`] reads with
//! tail / since / follow / timestamps as `kubectl logs` asks.

mod format;
mod reader;
mod writer;

pub use format::{LogLine, Stream, format_timestamp, parse_line};
pub use reader::{LogReadOptions, read_log};
pub use writer::{LogRotation, LogWriter};

use std::path::{Path, PathBuf};

/// The kubelet's log directory for a pod: `<root>/<namespace>_<name>_<uid>`.
pub fn pod_log_dir(root: &Path, namespace: &str, name: &str, uid: &str) -> PathBuf {
    root.join(format!("{namespace}_{name}_{uid}"))
}

/// The log file of one run of a container: `<pod dir>/<container>/<restart count>.log`.
pub fn container_log_path(pod_dir: &Path, container: &str, restart_count: u32) -> PathBuf {
    pod_dir.join(container).join(format!("{restart_count}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_kubelet_layout() {
        let dir = pod_log_dir(Path::new("/var/log/pods"), "default", "web", "1234");
        assert_eq!(dir, Path::new("/var/log/pods/default_web_1234"));
        assert_eq!(container_log_path(&dir, "nginx", 2), Path::new("/var/log/pods/default_web_1234/nginx/2.log"));
    }
}
