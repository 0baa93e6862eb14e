//! Programs k3rs runs, where they are on `PATH`, and which package brings each on
//! the host's distribution. deploy/install.sh uses the same package names.

use std::path::PathBuf;

use super::features::Need;
use super::host::{Host, OsRelease};

#[derive(Debug, Clone, Copy)]
pub struct Binary {
    pub name: &'static str,
    pub need: Need,
    pub purpose: &'static str,
    /// The package that provides it on Debian and openSUSE alike.
    pub package: Option<&'static str>,
}

pub const BINARIES: &[Binary] = &[
    Binary {
        name: "containerd",
        need: Need::Required,
        purpose: "the container runtime the agent drives",
        package: Some("containerd"),
    },
    Binary {
        name: "containerd-shim-runc-v2",
        need: Need::Required,
        purpose: "containerd's shim for runc",
        package: Some("containerd"),
    },
    Binary {
        name: "runc",
        need: Need::Required,
        purpose: "the OCI runtime that starts containers",
        package: Some("runc"),
    },
    Binary {
        name: "modprobe",
        need: Need::Optional,
        purpose: "loads br_netfilter and overlay when the service starts",
        package: Some("kmod"),
    },
    Binary { name: "kubectl", need: Need::Optional, purpose: "`k3rs kubectl`", package: None },
];

/// The first executable `name` on the host's `PATH`.
pub fn find(host: &Host, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    host.path_dirs().into_iter().map(|dir| dir.join(name)).find(|candidate| {
        std::fs::metadata(candidate).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageManager {
    Apt,
    Zypper,
    /// Image-based SUSE systems (Leap Micro, SLE Micro, MicroOS): packages land in a
    /// new snapshot that becomes active after a reboot.
    TransactionalUpdate,
    Dnf,
    Pacman,
    Apk,
}

/// Distributions whose root file system is read-only and changed only through snapshots.
pub const TRANSACTIONAL_IDS: &[&str] = &["opensuse-leap-micro", "opensuse-microos", "sle-micro", "sl-micro"];

impl PackageManager {
    pub fn detect(os: &OsRelease) -> Option<PackageManager> {
        if TRANSACTIONAL_IDS.contains(&os.id.as_str()) {
            Some(PackageManager::TransactionalUpdate)
        } else if os.is_like("debian") || os.is_like("ubuntu") {
            Some(PackageManager::Apt)
        } else if os.is_like("suse") || os.id.starts_with("opensuse") || os.id == "sles" {
            Some(PackageManager::Zypper)
        } else if os.is_like("fedora") || os.is_like("rhel") {
            Some(PackageManager::Dnf)
        } else if os.is_like("arch") {
            Some(PackageManager::Pacman)
        } else if os.is_like("alpine") {
            Some(PackageManager::Apk)
        } else {
            None
        }
    }

    pub fn install_command(self, packages: &[&str]) -> String {
        let list = packages.join(" ");
        match self {
            PackageManager::Apt => format!("apt-get install -y {list}"),
            PackageManager::Zypper => format!("zypper --non-interactive install {list}"),
            PackageManager::TransactionalUpdate => {
                format!("transactional-update --non-interactive pkg install {list}   # then reboot")
            }
            PackageManager::Dnf => format!("dnf install -y {list}"),
            PackageManager::Pacman => format!("pacman -S --noconfirm {list}"),
            PackageManager::Apk => format!("apk add {list}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn package_manager_by_distribution() {
        let os = |text: &str| OsRelease::parse(text);
        assert_eq!(PackageManager::detect(&os("ID=debian\n")), Some(PackageManager::Apt));
        assert_eq!(PackageManager::detect(&os("ID=ubuntu\nID_LIKE=debian\n")), Some(PackageManager::Apt));
        assert_eq!(
            PackageManager::detect(&os("ID=\"opensuse-leap-micro\"\nID_LIKE=\"suse opensuse\"\n")),
            Some(PackageManager::TransactionalUpdate)
        );
        assert_eq!(PackageManager::detect(&os("ID=sl-micro\n")), Some(PackageManager::TransactionalUpdate));
        assert_eq!(
            PackageManager::detect(&os("ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n")),
            Some(PackageManager::Zypper)
        );
        assert_eq!(
            PackageManager::detect(&os("ID=rocky\nID_LIKE=\"rhel centos fedora\"\n")),
            Some(PackageManager::Dnf)
        );
        assert_eq!(PackageManager::detect(&os("ID=plan9\n")), None);
        assert_eq!(PackageManager::Apt.install_command(&["containerd", "runc"]), "apt-get install -y containerd runc");
    }

    #[test]
    fn finds_executables_on_path_only() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("runc"), "").unwrap();
        std::fs::set_permissions(bin.join("runc"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("containerd"), "").unwrap();
        let host = Host::rooted(root.path(), "/usr/local/bin:/usr/bin");
        assert_eq!(find(&host, "runc"), Some(bin.join("runc")));
        assert_eq!(find(&host, "containerd"), None, "not executable");
        assert_eq!(find(&host, "kubectl"), None);
    }
}
