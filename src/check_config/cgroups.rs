//! Which cgroup hierarchy the host mounts and which controllers it offers.

use super::host::Host;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2 only, at /sys/fs/cgroup.
    Unified,
    /// cgroup v1 controllers (with or without a v2 hierarchy beside them).
    Legacy { hybrid: bool },
    /// No cgroup file system is mounted.
    None,
}

#[derive(Debug, Clone)]
pub struct Controller {
    pub name: &'static str,
    pub required: bool,
    pub available: bool,
}

#[derive(Debug, Clone)]
pub struct Cgroups {
    pub layout: Layout,
    pub controllers: Vec<Controller>,
}

/// Controllers and whether the kubelet cannot do without them.
const V2_CONTROLLERS: &[(&str, bool)] =
    &[("cpu", true), ("memory", true), ("pids", true), ("cpuset", false), ("io", false), ("hugetlb", false)];
const V1_CONTROLLERS: &[(&str, bool)] = &[
    ("cpu", true),
    ("cpuacct", true),
    ("memory", true),
    ("pids", true),
    ("devices", true),
    ("freezer", true),
    ("cpuset", false),
    ("blkio", false),
    ("hugetlb", false),
];

impl Cgroups {
    pub fn read(host: &Host) -> Cgroups {
        if let Some(list) = host.read("/sys/fs/cgroup/cgroup.controllers") {
            let offered: Vec<&str> = list.split_whitespace().collect();
            let controllers = V2_CONTROLLERS
                .iter()
                .map(|&(name, required)| Controller { name, required, available: offered.contains(&name) })
                .collect();
            return Cgroups { layout: Layout::Unified, controllers };
        }
        let Some(table) = host.read("/proc/cgroups") else {
            return Cgroups { layout: Layout::None, controllers: Vec::new() };
        };
        // `#subsys_name hierarchy num_cgroups enabled`; a controller counts when the
        // kernel enables it and a hierarchy for it is mounted.
        let enabled: Vec<&str> = table
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.len() >= 4 && cols[3] == "1").then(|| cols[0])
            })
            .collect();
        let mounted = |name: &str| host.exists(format!("/sys/fs/cgroup/{name}"));
        let controllers: Vec<Controller> = V1_CONTROLLERS
            .iter()
            .map(|&(name, required)| Controller { name, required, available: enabled.contains(&name) && mounted(name) })
            .collect();
        if controllers.iter().all(|c| !c.available) {
            return Cgroups { layout: Layout::None, controllers };
        }
        let hybrid = host.exists("/sys/fs/cgroup/unified/cgroup.controllers");
        Cgroups { layout: Layout::Legacy { hybrid }, controllers }
    }

    pub fn describe(&self) -> &'static str {
        match self.layout {
            Layout::Unified => "v2 (unified)",
            Layout::Legacy { hybrid: true } => "v1 (hybrid, with a v2 hierarchy at /sys/fs/cgroup/unified)",
            Layout::Legacy { hybrid: false } => "v1",
            Layout::None => "not mounted",
        }
    }

    /// Required controllers that are not available.
    pub fn missing_controllers(&self) -> Vec<&'static str> {
        self.controllers.iter().filter(|c| c.required && !c.available).map(|c| c.name).collect()
    }

    /// What is missing, as the report names it.
    pub fn missing_required(&self) -> Vec<String> {
        if self.layout == Layout::None {
            return vec!["a mounted cgroup file system".to_string()];
        }
        self.missing_controllers().into_iter().map(|c| format!("cgroup controller {c}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("sys/fs/cgroup")).unwrap();
        std::fs::write(root.path().join("sys/fs/cgroup/cgroup.controllers"), "cpuset cpu io pids\n").unwrap();
        let cg = Cgroups::read(&Host::rooted(root.path(), ""));
        assert_eq!(cg.layout, Layout::Unified);
        assert_eq!(cg.missing_controllers(), vec!["memory"]);
        assert_eq!(cg.missing_required(), vec!["cgroup controller memory"]);
    }

    #[test]
    fn legacy_hierarchy_needs_enabled_and_mounted_controllers() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        for c in ["cpu", "cpuacct", "memory", "pids", "devices"] {
            std::fs::create_dir_all(root.path().join("sys/fs/cgroup").join(c)).unwrap();
        }
        std::fs::write(
            root.path().join("proc/cgroups"),
            "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\ncpuacct\t2\t1\t1\nmemory\t4\t1\t0\n\
             pids\t5\t1\t1\ndevices\t6\t1\t1\nfreezer\t7\t1\t1\n",
        )
        .unwrap();
        let cg = Cgroups::read(&Host::rooted(root.path(), ""));
        assert_eq!(cg.layout, Layout::Legacy { hybrid: false });
        // memory is disabled at boot; freezer is enabled but not mounted.
        assert_eq!(cg.missing_controllers(), vec!["memory", "freezer"]);
    }

    #[test]
    fn nothing_mounted() {
        let root = tempfile::tempdir().unwrap();
        let cg = Cgroups::read(&Host::rooted(root.path(), ""));
        assert_eq!(cg.layout, Layout::None);
        assert_eq!(cg.missing_required(), vec!["a mounted cgroup file system"]);
    }
}
