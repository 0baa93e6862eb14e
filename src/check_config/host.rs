//! The host as check-config sees it: files read under a root prefix (`/` on a real
//! run, a prepared tree in tests) and the `PATH` to search for binaries.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
    path_var: Option<OsString>,
}

impl Host {
    /// The machine this process runs on.
    pub fn current() -> Host {
        Host { root: PathBuf::from("/"), path_var: std::env::var_os("PATH") }
    }

    /// A host whose files live under `root` (tests); `PATH` entries are taken under it too.
    #[cfg(test)]
    pub fn rooted(root: &Path, path_var: &str) -> Host {
        Host { root: root.to_path_buf(), path_var: Some(path_var.into()) }
    }

    /// `path` (absolute, as on the host) under the root prefix.
    pub fn path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.root.join(path.strip_prefix("/").unwrap_or(path))
    }

    pub fn read(&self, path: impl AsRef<Path>) -> Option<String> {
        std::fs::read_to_string(self.path(path)).ok()
    }

    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.path(path).exists()
    }

    /// The running kernel's release, as `uname -r` prints it.
    pub fn kernel_release(&self) -> Option<String> {
        self.read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
    }

    /// The directories of `PATH`, each under the root prefix.
    pub fn path_dirs(&self) -> Vec<PathBuf> {
        self.path_var.as_deref().map(|p| std::env::split_paths(p).map(|d| self.path(d)).collect()).unwrap_or_default()
    }

    /// The host path of a file found under the root (for display).
    pub fn display(&self, found: &Path) -> String {
        match found.strip_prefix(&self.root) {
            Ok(rel) if self.root != Path::new("/") => format!("/{}", rel.display()),
            _ => found.display().to_string(),
        }
    }

    pub fn os_release(&self) -> OsRelease {
        let text = self.read("/etc/os-release").or_else(|| self.read("/usr/lib/os-release")).unwrap_or_default();
        OsRelease::parse(&text)
    }
}

/// The fields of os-release(5) that choose a package manager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub id_like: Vec<String>,
    pub pretty_name: String,
}

impl OsRelease {
    pub fn parse(text: &str) -> OsRelease {
        let mut out = OsRelease::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else { continue };
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'').to_string();
            match key.trim() {
                "ID" => out.id = value,
                "ID_LIKE" => out.id_like = value.split_whitespace().map(String::from).collect(),
                "PRETTY_NAME" => out.pretty_name = value,
                _ => {}
            }
        }
        out
    }

    /// Whether the distribution is `id` or derives from it.
    pub fn is_like(&self, id: &str) -> bool {
        self.id == id || self.id_like.iter().any(|l| l == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_fields() {
        let os = OsRelease::parse(
            "NAME=\"openSUSE Leap Micro\"\nID=\"opensuse-leap-micro\"\nID_LIKE=\"suse opensuse opensuse-leap\"\n\
             PRETTY_NAME=\"openSUSE Leap Micro 6.1\"\n# comment\n",
        );
        assert_eq!(os.id, "opensuse-leap-micro");
        assert!(os.is_like("suse"));
        assert!(!os.is_like("debian"));
        assert_eq!(os.pretty_name, "openSUSE Leap Micro 6.1");
    }

    #[test]
    fn paths_are_taken_under_the_root() {
        let host = Host::rooted(Path::new("/tmp/fake"), "/usr/bin:/bin");
        assert_eq!(host.path("/proc/filesystems"), PathBuf::from("/tmp/fake/proc/filesystems"));
        assert_eq!(host.path_dirs(), vec![PathBuf::from("/tmp/fake/usr/bin"), PathBuf::from("/tmp/fake/bin")]);
        assert_eq!(host.display(Path::new("/tmp/fake/usr/bin/runc")), "/usr/bin/runc");
    }
}
