//! `k3rs check-config`: does this host have what k3rs needs? It reads the kernel's
//! build configuration (`/proc/config.gz`, `/boot/config-<release>`, ...), looks at
//! the running kernel (`/proc/filesystems`, `/proc/modules`, `/proc/sys`,
//! `/sys/module`), the cgroup hierarchy under `/sys/fs/cgroup`, and `PATH`, then
//! prints what is missing and the command that installs it on this distribution.
//! Exit code 1 when something required is missing.

mod binaries;
mod cgroups;
mod features;
mod host;
mod kernel_config;

use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

use binaries::{BINARIES, Binary, PackageManager};
use cgroups::Cgroups;
use features::{Evidence, KernelFeature, Need, SECTIONS, Status};
use host::Host;
use kernel_config::{KernelConfig, Modules};

use crate::cli::CheckConfigArgs;

pub fn run(args: &CheckConfigArgs) -> ExitCode {
    let report = match Report::collect(&Host::current(), args.kernel_config.as_deref()) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("k3rs check-config: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report.render());
    if report.missing_required().is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Everything check-config found.
pub struct Report {
    kernel_release: Option<String>,
    config_source: Option<String>,
    modular: Option<bool>,
    sections: Vec<(&'static str, Vec<(KernelFeature, Status)>)>,
    cgroups: Cgroups,
    binaries: Vec<(Binary, Option<String>)>,
    os_name: String,
    package_manager: Option<PackageManager>,
}

impl Report {
    /// Inspects `host`; fails only when an explicitly named kernel configuration cannot be read.
    pub fn collect(host: &Host, kernel_config: Option<&Path>) -> Result<Report, String> {
        let release = host.kernel_release();
        let config = KernelConfig::load(host, kernel_config, release.as_deref())?;
        let modules = Modules::read(host, release.as_deref());
        let filesystems = host.read("/proc/filesystems").unwrap_or_default();
        let evidence = Evidence { host, config: config.as_ref(), modules: &modules, filesystems: &filesystems };
        let sections = SECTIONS
            .iter()
            .map(|(title, features)| (*title, features.iter().map(|f| (*f, evidence.evaluate(f))).collect()))
            .collect();
        let binaries = BINARIES.iter().map(|b| (*b, binaries::find(host, b.name).map(|p| host.display(&p)))).collect();
        let os = host.os_release();
        Ok(Report {
            kernel_release: release,
            config_source: config.as_ref().map(|c| c.source.clone()),
            modular: config.as_ref().map(KernelConfig::modular),
            sections,
            cgroups: Cgroups::read(host),
            binaries,
            os_name: if os.pretty_name.is_empty() { os.id.clone() } else { os.pretty_name.clone() },
            package_manager: PackageManager::detect(&os),
        })
    }

    /// The required things that are missing, named as the report names them.
    pub fn missing_required(&self) -> Vec<String> {
        let mut missing: Vec<String> = self
            .sections
            .iter()
            .flat_map(|(_, rows)| rows.iter())
            .filter(|(f, s)| f.need == Need::Required && *s == Status::Missing)
            .map(|(f, _)| format!("CONFIG_{}", f.option))
            .collect();
        missing.extend(self.cgroups.missing_required());
        missing.extend(
            self.binaries
                .iter()
                .filter(|(b, found)| b.need == Need::Required && found.is_none())
                .map(|(b, _)| b.name.to_string()),
        );
        missing
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let release = self.kernel_release.as_deref().unwrap_or("unknown release");
        let _ = writeln!(out, "k3rs check-config: kernel {release} on {}", std::env::consts::ARCH);
        match &self.config_source {
            Some(source) => {
                let _ = writeln!(out, "Kernel configuration: {source}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "Kernel configuration: not found (looked for /proc/config.gz, /boot/config-{release}, \
                     /usr/lib/modules/{release}/config); checking the running kernel only"
                );
            }
        }
        if self.modular == Some(false) {
            let _ = writeln!(out, "The kernel cannot load modules: every feature must be built in.");
        }
        for (title, rows) in &self.sections {
            let _ = writeln!(out, "\n{title}");
            for (f, status) in rows {
                let _ = writeln!(
                    out,
                    "  {:<26} {:<34} {}",
                    format!("CONFIG_{}", f.option),
                    status_text(f, status),
                    f.purpose
                );
            }
        }
        let _ = writeln!(out, "\nControl groups: {}", self.cgroups.describe());
        for c in &self.cgroups.controllers {
            let state = match (c.available, c.required) {
                (true, _) => "available",
                (false, true) => "MISSING",
                (false, false) => "missing (optional)",
            };
            let _ = writeln!(out, "  {:<26} {state}", c.name);
        }
        let _ = writeln!(out, "\nPrograms (on PATH)");
        for (b, found) in &self.binaries {
            let state = match (found, b.need) {
                (Some(path), _) => path.clone(),
                (None, Need::Required) => "MISSING".to_string(),
                (None, Need::Optional) => "missing (optional)".to_string(),
            };
            let _ = writeln!(out, "  {:<26} {state:<34} {}", b.name, b.purpose);
        }
        out.push_str(&self.advice());
        let missing = self.missing_required();
        if missing.is_empty() {
            let _ = writeln!(out, "\nResult: everything k3rs requires is present.");
        } else {
            let _ = writeln!(out, "\nResult: {} required item(s) missing: {}", missing.len(), missing.join(", "));
        }
        out
    }

    /// What to do about what is missing.
    fn advice(&self) -> String {
        let mut out = String::new();
        let mut packages: Vec<&str> = Vec::new();
        let mut unpackaged: Vec<&str> = Vec::new();
        for (b, found) in &self.binaries {
            if found.is_some() {
                continue;
            }
            match b.package {
                Some(p) if !packages.contains(&p) => packages.push(p),
                Some(_) => {}
                None => unpackaged.push(b.name),
            }
        }
        if !packages.is_empty() {
            let _ = writeln!(out, "\nTo install the missing programs on {}:", self.os_name_or_unknown());
            match self.package_manager {
                Some(pm) => {
                    let _ = writeln!(out, "  {}", pm.install_command(&packages));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  install the packages {} with the system's package manager",
                        packages.join(", ")
                    );
                }
            }
        }
        if unpackaged.contains(&"kubectl") {
            let _ = writeln!(
                out,
                "\nkubectl: install v1.33 from your distribution or the Kubernetes package repositories \
                 (only `k3rs kubectl` needs it)."
            );
        }
        let kernel_missing = self
            .sections
            .iter()
            .flat_map(|(_, rows)| rows.iter())
            .any(|(f, s)| f.need == Need::Required && *s == Status::Missing);
        if kernel_missing {
            let _ = writeln!(
                out,
                "\nThe kernel lacks required options (marked MISSING): use your distribution's standard \
                 kernel or rebuild this one with them enabled."
            );
        }
        if self.cgroups.missing_controllers().contains(&"memory") {
            let _ = writeln!(
                out,
                "\nThe memory cgroup controller is disabled: add `cgroup_memory=1 cgroup_enable=memory` to the \
                 kernel command line and reboot."
            );
        }
        let unknown = self.sections.iter().flat_map(|(_, rows)| rows.iter()).any(|(_, s)| *s == Status::Unknown);
        if unknown {
            let _ = writeln!(
                out,
                "\nSome options could not be checked without the kernel configuration; pass \
                 `--kernel-config FILE` to read one."
            );
        }
        out
    }

    fn os_name_or_unknown(&self) -> &str {
        if self.os_name.is_empty() { "this system" } else { &self.os_name }
    }
}

fn status_text(f: &KernelFeature, status: &Status) -> String {
    match (status, f.need) {
        (Status::Enabled, _) => "enabled".to_string(),
        (Status::ModuleLoaded, _) => "module (loaded)".to_string(),
        (Status::ModuleNotLoaded, _) => match f.module {
            Some(m) => format!("module (not loaded: modprobe {m})"),
            None => "module (not loaded)".to_string(),
        },
        (Status::Missing, Need::Required) => "MISSING".to_string(),
        (Status::Missing, Need::Optional) => "missing (optional)".to_string(),
        (Status::Unknown, _) => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A Debian-like host with a complete kernel configuration but no container runtime.
    fn fake_host(root: &Path, config: &str) {
        for dir in ["proc/sys/kernel", "etc", "usr/bin", "sys/fs/cgroup", "boot"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::write(root.join("proc/sys/kernel/osrelease"), "6.1.0-test\n").unwrap();
        std::fs::write(root.join("etc/os-release"), "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n")
            .unwrap();
        std::fs::write(root.join("sys/fs/cgroup/cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        std::fs::write(root.join("boot/config-6.1.0-test"), config).unwrap();
        std::fs::write(root.join("usr/bin/runc"), "").unwrap();
        std::fs::set_permissions(root.join("usr/bin/runc"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn full_config() -> String {
        let mut text = String::from("CONFIG_MODULES=y\n");
        for (_, features) in SECTIONS {
            for f in *features {
                let _ = writeln!(text, "CONFIG_{}={}", f.option, if f.module.is_some() { "m" } else { "y" });
            }
        }
        text
    }

    #[test]
    fn reports_missing_programs_with_the_install_command() {
        let root = tempfile::tempdir().unwrap();
        fake_host(root.path(), &full_config());
        let report = Report::collect(&Host::rooted(root.path(), "/usr/bin"), None).unwrap();
        let text = report.render();
        assert!(text.contains("Kernel configuration: /boot/config-6.1.0-test"), "{text}");
        assert!(text.contains("module (not loaded: modprobe br_netfilter)"), "{text}");
        assert!(text.contains("/usr/bin/runc"), "{text}");
        assert!(text.contains("apt-get install -y containerd kmod"), "{text}");
        assert_eq!(report.missing_required(), vec!["containerd", "containerd-shim-runc-v2"]);
        assert!(text.contains("Result: 2 required item(s) missing: containerd, containerd-shim-runc-v2"), "{text}");
    }

    #[test]
    fn reports_missing_kernel_options_and_controllers() {
        let root = tempfile::tempdir().unwrap();
        let config = full_config().replace("CONFIG_NF_TABLES=m", "# CONFIG_NF_TABLES is not set");
        fake_host(root.path(), &config);
        std::fs::write(root.path().join("sys/fs/cgroup/cgroup.controllers"), "cpu pids\n").unwrap();
        std::fs::write(
            root.path().join("etc/os-release"),
            "ID=\"opensuse-leap-micro\"\nPRETTY_NAME=\"openSUSE Leap Micro 6.1\"\n",
        )
        .unwrap();
        let report = Report::collect(&Host::rooted(root.path(), "/usr/bin"), None).unwrap();
        let missing = report.missing_required();
        assert!(missing.contains(&"CONFIG_NF_TABLES".to_string()), "{missing:?}");
        assert!(missing.contains(&"cgroup controller memory".to_string()), "{missing:?}");
        let text = report.render();
        assert!(text.contains("transactional-update --non-interactive pkg install containerd kmod"), "{text}");
        assert!(text.contains("cgroup_enable=memory"), "{text}");
    }

    #[test]
    fn without_configuration_the_running_kernel_is_checked() {
        let root = tempfile::tempdir().unwrap();
        fake_host(root.path(), "");
        std::fs::remove_file(root.path().join("boot/config-6.1.0-test")).unwrap();
        std::fs::write(root.path().join("proc/filesystems"), "nodev\tproc\nnodev\toverlay\n").unwrap();
        let report = Report::collect(&Host::rooted(root.path(), "/usr/bin"), None).unwrap();
        let text = report.render();
        assert!(text.contains("Kernel configuration: not found"), "{text}");
        assert!(text.lines().any(|l| l.contains("CONFIG_OVERLAY_FS") && l.contains("enabled")), "{text}");
        assert!(text.lines().any(|l| l.contains("CONFIG_VETH") && l.contains("unknown")), "{text}");
        assert!(text.contains("--kernel-config FILE"), "{text}");
    }

    #[test]
    fn an_unreadable_explicit_configuration_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        fake_host(root.path(), "");
        let host = Host::rooted(root.path(), "/usr/bin");
        assert!(Report::collect(&host, Some(Path::new("/nonexistent/k3rs-kernel-config"))).is_err());
    }
}
