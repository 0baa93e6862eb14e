//! The running kernel's build configuration (`CONFIG_*` options) and its modules.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::host::Host;

/// How an option is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tristate {
    /// `=y`: in the kernel image.
    Builtin,
    /// `=m`: a loadable module.
    Module,
    /// `# ... is not set` (or `=n`).
    Off,
}

#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// Where it was read from, for the report.
    pub source: String,
    options: HashMap<String, Tristate>,
}

impl KernelConfig {
    pub fn parse(source: impl Into<String>, text: &str) -> KernelConfig {
        let mut options = HashMap::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("# CONFIG_") {
                if let Some(name) = rest.strip_suffix(" is not set") {
                    options.insert(name.to_string(), Tristate::Off);
                }
            } else if let Some(rest) = line.strip_prefix("CONFIG_")
                && let Some((name, value)) = rest.split_once('=')
            {
                let state = match value {
                    "y" => Tristate::Builtin,
                    "m" => Tristate::Module,
                    "n" => Tristate::Off,
                    // Strings and numbers: the option exists and is set.
                    _ => Tristate::Builtin,
                };
                options.insert(name.to_string(), state);
            }
        }
        KernelConfig { source: source.into(), options }
    }

    /// The option (without `CONFIG_`); `None` when the file does not mention it.
    pub fn get(&self, name: &str) -> Option<Tristate> {
        self.options.get(name).copied()
    }

    /// Whether the kernel can load modules at all.
    pub fn modular(&self) -> bool {
        self.get("MODULES") == Some(Tristate::Builtin)
    }

    /// Reads `explicit` if given, else the first of the usual places that exists.
    /// `Ok(None)`: no configuration was found (many container hosts hide it).
    pub fn load(host: &Host, explicit: Option<&Path>, release: Option<&str>) -> Result<Option<KernelConfig>, String> {
        if let Some(path) = explicit {
            return read_config(path, &path.display().to_string()).map(Some);
        }
        let mut candidates = vec![PathBuf::from("/proc/config.gz")];
        if let Some(release) = release {
            candidates.push(PathBuf::from(format!("/boot/config-{release}")));
            candidates.push(PathBuf::from(format!("/usr/lib/modules/{release}/config")));
            candidates.push(PathBuf::from(format!("/lib/modules/{release}/build/.config")));
        }
        for candidate in candidates {
            let on_host = host.path(&candidate);
            if on_host.exists() {
                return read_config(&on_host, &candidate.display().to_string()).map(Some);
            }
        }
        Ok(None)
    }
}

fn read_config(path: &Path, shown_as: &str) -> Result<KernelConfig, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {shown_as}: {e}"))?;
    // Gzip magic: /proc/config.gz, or a compressed copy given with --kernel-config.
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(|e| format!("decompressing {shown_as}: {e}"))?;
        text
    } else {
        String::from_utf8(bytes).map_err(|_| format!("{shown_as} is not a kernel configuration (not text)"))?
    };
    Ok(KernelConfig::parse(shown_as, &text))
}

/// Kernel modules: loaded now, built in, and installed on disk.
#[derive(Debug, Clone, Default)]
pub struct Modules {
    pub loaded: HashSet<String>,
    pub builtin: HashSet<String>,
    pub installed: HashSet<String>,
}

impl Modules {
    pub fn read(host: &Host, release: Option<&str>) -> Modules {
        let mut modules = Modules::default();
        if let Some(text) = host.read("/proc/modules") {
            modules.loaded = text.lines().filter_map(|l| l.split_whitespace().next()).map(normalize).collect();
        }
        let Some(release) = release else { return modules };
        for base in ["/lib/modules", "/usr/lib/modules"] {
            let dir = format!("{base}/{release}");
            if let Some(text) = host.read(format!("{dir}/modules.builtin")) {
                modules.builtin.extend(text.lines().filter_map(module_name_of_path));
            }
            if let Some(text) = host.read(format!("{dir}/modules.dep")) {
                modules
                    .installed
                    .extend(text.lines().filter_map(|l| l.split(':').next()).filter_map(module_name_of_path));
            }
        }
        modules
    }

    pub fn is_loaded(&self, name: &str) -> bool {
        self.loaded.contains(&normalize(name))
    }

    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize(name))
    }

    pub fn is_installed(&self, name: &str) -> bool {
        self.installed.contains(&normalize(name))
    }
}

/// The kernel treats `-` and `_` in module names alike.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// `kernel/net/bridge/br_netfilter.ko.zst` -> `br_netfilter`.
fn module_name_of_path(path: &str) -> Option<String> {
    let file = path.trim().rsplit('/').next()?;
    let stem = file.split(".ko").next()?;
    (!stem.is_empty()).then(|| normalize(stem))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn parses_builtin_module_and_unset_options() {
        let cfg = KernelConfig::parse(
            "test",
            "CONFIG_MODULES=y\nCONFIG_OVERLAY_FS=m\n# CONFIG_NF_TABLES is not set\nCONFIG_LOCALVERSION=\"-x\"\n",
        );
        assert_eq!(cfg.get("OVERLAY_FS"), Some(Tristate::Module));
        assert_eq!(cfg.get("NF_TABLES"), Some(Tristate::Off));
        assert_eq!(cfg.get("LOCALVERSION"), Some(Tristate::Builtin));
        assert_eq!(cfg.get("VETH"), None);
        assert!(cfg.modular());
    }

    #[test]
    fn loads_proc_config_gz_before_boot_config() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        std::fs::create_dir_all(root.path().join("boot")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"CONFIG_VETH=y\n").unwrap();
        std::fs::write(root.path().join("proc/config.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(root.path().join("boot/config-6.1.0"), "CONFIG_VETH=m\n").unwrap();
        let host = Host::rooted(root.path(), "/usr/bin");

        let cfg = KernelConfig::load(&host, None, Some("6.1.0")).unwrap().unwrap();
        assert_eq!(cfg.source, "/proc/config.gz");
        assert_eq!(cfg.get("VETH"), Some(Tristate::Builtin));

        std::fs::remove_file(root.path().join("proc/config.gz")).unwrap();
        let cfg = KernelConfig::load(&host, None, Some("6.1.0")).unwrap().unwrap();
        assert_eq!(cfg.source, "/boot/config-6.1.0");
        assert_eq!(cfg.get("VETH"), Some(Tristate::Module));

        std::fs::remove_file(root.path().join("boot/config-6.1.0")).unwrap();
        assert!(KernelConfig::load(&host, None, Some("6.1.0")).unwrap().is_none());
        assert!(KernelConfig::load(&host, Some(Path::new("/nonexistent/config")), None).is_err());
    }

    #[test]
    fn module_lists() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("lib/modules/6.1.0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        std::fs::write(root.path().join("proc/modules"), "overlay 151552 0 - Live 0x0\nnf_tables 1 0 - Live 0x0\n")
            .unwrap();
        std::fs::write(dir.join("modules.builtin"), "kernel/drivers/net/veth.ko\n").unwrap();
        std::fs::write(
            dir.join("modules.dep"),
            "kernel/net/bridge/br_netfilter.ko.zst: kernel/net/bridge/bridge.ko.zst\n",
        )
        .unwrap();
        let m = Modules::read(&Host::rooted(root.path(), ""), Some("6.1.0"));
        assert!(m.is_loaded("overlay") && m.is_loaded("nf-tables"));
        assert!(m.is_builtin("veth"));
        assert!(m.is_installed("br_netfilter"));
        assert!(!m.is_installed("bridge"), "only the module itself, not what it depends on, is on the line's left");
    }
}
