//! deploy/install.sh run into a fake root (`INSTALL_K3RS_ROOT`): what it installs,
//! that running it twice changes nothing, and that the uninstaller it writes
//! leaves the root exactly as it was. Nothing outside the temporary root is
//! touched: with a root prefix the script only reports package installs and
//! service starts. Also checks the unit files with `systemd-analyze verify`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn install_script() -> PathBuf {
    repo().join("deploy/install.sh")
}

/// A root file system with the directories every system has, and an os-release.
fn fake_root(os_release: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("temp root");
    for dir in ["etc", "var/lib", "run", "usr/bin", "usr/sbin", "opt"] {
        std::fs::create_dir_all(root.path().join(dir)).expect("dir");
    }
    std::fs::write(root.path().join("etc/os-release"), os_release).expect("os-release");
    root
}

const DEBIAN: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
const LEAP_MICRO: &str = "NAME=\"openSUSE Leap Micro\"\nID=\"opensuse-leap-micro\"\nID_LIKE=\"suse opensuse\"\n";
const TUMBLEWEED: &str = "NAME=\"openSUSE Tumbleweed\"\nID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n";

/// Every path under `root` with its kind, mode and content hash.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).expect("under root").display().to_string();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            let desc = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).expect("link").display())
            } else if meta.is_dir() {
                walk(root, &path, out);
                "dir".to_string()
            } else {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&path).expect("read").hash(&mut h);
                format!("file {:o} {:x}", meta.permissions().mode() & 0o7777, h.finish())
            };
            out.insert(rel, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Runs the installer with only `PATH`, the fake root, the test binary and `env`.
fn install(root: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg(install_script())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("INSTALL_K3RS_ROOT", root)
        .env("INSTALL_K3RS_BINARY", env!("CARGO_BIN_EXE_k3rs"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run install.sh")
}

#[track_caller]
fn succeeded(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "install.sh failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[track_caller]
fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "install.sh unexpectedly succeeded:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path.trim_start_matches('/'))).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn mode(root: &Path, path: &str) -> u32 {
    std::fs::metadata(root.join(path.trim_start_matches('/'))).expect("metadata").permissions().mode() & 0o777
}

fn uninstall(root: &Path, bin_dir: &str) -> Output {
    let script = root.join(bin_dir.trim_start_matches('/')).join("k3rs-uninstall.sh");
    Command::new(&script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("run k3rs-uninstall.sh")
}

/// shellcheck the scripts the installer wrote, where shellcheck is installed.
fn shellcheck(paths: &[PathBuf]) {
    if Command::new("shellcheck").arg("--version").output().is_err() {
        eprintln!("shellcheck not installed; generated scripts not linted");
        return;
    }
    let out = Command::new("shellcheck").args(["-s", "sh", "-S", "warning"]).args(paths).output().expect("shellcheck");
    assert!(out.status.success(), "shellcheck:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn server_install_is_idempotent_and_the_uninstaller_restores_the_root() {
    let root = fake_root(DEBIAN);
    let r = root.path();
    let before = snapshot(r);
    let env = [("K3RS_TOKEN", "K10abc::server:secret"), ("K3RS_NODE_NAME", "cp1")];
    let args = ["server", "--tls-san", "k3rs.example.com", "--node-label", "tier=control plane"];

    let stdout = succeeded(&install(r, &env, &args));
    assert!(
        stdout.contains(
            "[WOULD] env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd runc"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("[WOULD] systemctl restart k3rs"), "{stdout}");

    assert_eq!(
        std::fs::read(r.join("usr/local/bin/k3rs")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_k3rs")).unwrap()
    );
    assert_eq!(mode(r, "/usr/local/bin/k3rs"), 0o755);
    let unit = read(r, "/etc/systemd/system/k3rs.service");
    assert!(
        unit.contains(
            "\nExecStart=/usr/local/bin/k3rs server --tls-san k3rs.example.com --node-label 'tier=control plane'\n"
        ),
        "{unit}"
    );
    assert!(unit.contains("\nEnvironmentFile=-/etc/systemd/system/k3rs.service.env\n"), "{unit}");
    assert_eq!(
        read(r, "/etc/systemd/system/k3rs.service.env"),
        "K3RS_NODE_NAME=\"cp1\"\nK3RS_TOKEN=\"K10abc::server:secret\"\n"
    );
    assert_eq!(mode(r, "/etc/systemd/system/k3rs.service.env"), 0o600, "the env file holds the token");
    assert_eq!(
        std::fs::read_link(r.join("etc/systemd/system/multi-user.target.wants/k3rs.service")).unwrap(),
        PathBuf::from("/etc/systemd/system/k3rs.service"),
        "enabled with a link valid inside the root"
    );
    for script in ["k3rs-killall.sh", "k3rs-uninstall.sh"] {
        assert_eq!(mode(r, &format!("/usr/local/bin/{script}")), 0o755);
    }
    shellcheck(&[r.join("usr/local/bin/k3rs-killall.sh"), r.join("usr/local/bin/k3rs-uninstall.sh")]);

    // Idempotent: the same settings give the same files.
    let installed = snapshot(r);
    succeeded(&install(r, &env, &args));
    assert_eq!(snapshot(r), installed, "a second run changed the installation");

    // What the server would have created at run time goes too.
    for (path, content) in [
        ("var/lib/rancher/k3rs/server/db/state.db", "db"),
        ("var/lib/rancher/k3rs/server/tls/server-ca.crt", "ca"),
        ("etc/rancher/k3rs/k3rs.yaml", "kubeconfig"),
        ("run/k3rs/containerd/containerd.sock", ""),
    ] {
        let p = r.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    let out = uninstall(r, "/usr/local/bin");
    assert!(out.status.success(), "uninstall failed:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(snapshot(r), before, "the uninstaller left something behind or removed too much");
}

#[test]
fn the_default_units_are_the_ones_in_deploy() {
    for (env, unit) in [
        (vec![], "k3rs.service"),
        (vec![("K3RS_URL", "https://10.0.0.1:6443"), ("K3RS_TOKEN", "K10abc::server:secret")], "k3rs-agent.service"),
    ] {
        let root = fake_root(DEBIAN);
        let mut env = env.clone();
        env.push(("INSTALL_K3RS_SKIP_DEPS", "true"));
        succeeded(&install(root.path(), &env, &[]));
        let written = read(root.path(), &format!("/etc/systemd/system/{unit}"));
        let shipped = std::fs::read_to_string(repo().join("deploy").join(unit)).expect("deploy unit");
        assert_eq!(written, shipped, "deploy/{unit} differs from what install.sh writes");
    }
}

#[test]
fn agent_on_leap_micro_uses_transactional_update_and_asks_for_a_reboot() {
    let root = fake_root(LEAP_MICRO);
    let r = root.path();
    let before = snapshot(r);
    let env = [("K3RS_URL", "https://cp1.example.com:6443"), ("K3RS_TOKEN", "K10abc::server:secret")];
    let out = install(r, &env, &[]);
    let stdout = succeeded(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("[WOULD] transactional-update --non-interactive pkg install containerd runc"), "{stdout}");
    assert!(stderr.contains("reboot"), "{stderr}");
    assert!(!stdout.contains("systemctl restart"), "must not start before the reboot: {stdout}");
    let unit = read(r, "/etc/systemd/system/k3rs-agent.service");
    assert!(unit.contains("\nExecStart=/usr/local/bin/k3rs agent\n"), "{unit}");
    assert!(r.join("etc/systemd/system/multi-user.target.wants/k3rs-agent.service").is_symlink());
    let env_file = read(r, "/etc/systemd/system/k3rs-agent.service.env");
    assert!(env_file.contains("K3RS_URL=\"https://cp1.example.com:6443\"\n"), "{env_file}");
    assert!(!r.join("etc/systemd/system/k3rs.service").exists());
    assert!(uninstall(r, "/usr/local/bin").status.success());
    assert_eq!(snapshot(r), before);
}

#[test]
fn package_manager_follows_the_distribution_and_present_programs_are_kept() {
    let root = fake_root(TUMBLEWEED);
    let stdout = succeeded(&install(root.path(), &[("INSTALL_K3RS_SKIP_START", "true")], &[]));
    assert!(stdout.contains("[WOULD] zypper --non-interactive install containerd runc"), "{stdout}");
    assert!(!stdout.contains("[WOULD] systemctl restart"), "{stdout}");

    let root = fake_root(DEBIAN);
    for program in ["usr/bin/containerd", "usr/bin/containerd-shim-runc-v2", "usr/sbin/runc"] {
        let p = root.path().join(program);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let stdout = succeeded(&install(root.path(), &[], &[]));
    assert!(stdout.contains("containerd and runc are installed"), "{stdout}");
    assert!(!stdout.contains("apt-get"), "{stdout}");
}

#[test]
fn bad_settings_are_refused() {
    let root = fake_root(DEBIAN);
    let err = failed(&install(root.path(), &[("K3RS_URL", "https://cp1:6443")], &[]));
    assert!(err.contains("K3RS_TOKEN"), "{err}");
    let err = failed(&install(root.path(), &[("K3RS_URL", "http://cp1:6443"), ("K3RS_TOKEN", "t")], &[]));
    assert!(err.contains("https://"), "{err}");
    let err = failed(&install(root.path(), &[], &["server", "--node-label", "it's"]));
    assert!(err.contains("not supported"), "{err}");
    let err = failed(&install(root.path(), &[("INSTALL_K3RS_BINARY", "/nonexistent/k3rs")], &[]));
    assert!(err.contains("does not exist"), "{err}");
    // Nothing was written by the refused runs.
    assert!(!root.path().join("usr/local").exists());
}

/// On image-based systems /usr is read-only and the binary goes to /opt/bin.
/// Needs a private mount namespace (root and unshare); skipped where there is none.
#[test]
fn read_only_usr_installs_to_opt_bin() {
    let root = fake_root(DEBIAN);
    let r = root.path();
    let before = snapshot(r);
    let usr = r.join("usr");
    let probe = Command::new("unshare").args(["-m", "true"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("no private mount namespace here (unshare -m); skipping the read-only /usr case");
        return;
    }
    let script = format!(
        "mount --bind '{usr}' '{usr}' && mount -o remount,bind,ro '{usr}' && exec sh '{install}' server",
        usr = usr.display(),
        install = install_script().display()
    );
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("INSTALL_K3RS_ROOT", r)
        .env("INSTALL_K3RS_BINARY", env!("CARGO_BIN_EXE_k3rs"))
        .env("INSTALL_K3RS_SKIP_DEPS", "true")
        .output()
        .expect("unshare");
    let stdout = succeeded(&out);
    assert!(stdout.contains("installing to /opt/bin"), "{stdout}");
    assert!(r.join("opt/bin/k3rs").is_file());
    assert!(!r.join("usr/local").exists());
    let unit = read(r, "/etc/systemd/system/k3rs.service");
    assert!(unit.contains("\nExecStart=/opt/bin/k3rs server\n"), "{unit}");
    assert!(uninstall(r, "/opt/bin").status.success());
    assert_eq!(snapshot(r), before);
}

/// `systemd-analyze verify` on the units as installed: in a root holding the
/// system's own units (for the targets they name) and the k3rs binary at the
/// path of ExecStart. Any message counts as a failure, not only the exit code.
#[test]
fn systemd_analyze_verify_accepts_the_units() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze not installed (Debian package systemd); skipping");
        return;
    }
    let system_units = ["/usr/lib/systemd/system", "/lib/systemd/system"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("multi-user.target").exists())
        .expect("the system's unit directory");
    let root = fake_root(DEBIAN);
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/lib/systemd")).unwrap();
    let copied =
        Command::new("cp").arg("-r").arg(system_units).arg(r.join("usr/lib/systemd/system")).status().expect("cp");
    assert!(copied.success(), "copying {}", system_units.display());
    succeeded(&install(r, &[("INSTALL_K3RS_SKIP_DEPS", "true")], &[]));
    succeeded(&install(
        r,
        &[("INSTALL_K3RS_SKIP_DEPS", "true"), ("K3RS_URL", "https://10.0.0.1:6443"), ("K3RS_TOKEN", "t")],
        &[],
    ));
    let verify = |unit: &str| {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no", "--generators=no"])
            .arg(format!("--root={}", r.display()))
            .arg(unit)
            .output()
            .expect("systemd-analyze");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text.trim().to_string())
    };
    for unit in ["k3rs.service", "k3rs-agent.service"] {
        assert_eq!(verify(unit), (true, String::new()), "systemd-analyze verify {unit}");
    }
    // The check can fail: a broken unit is reported.
    let broken = read(r, "/etc/systemd/system/k3rs.service").replace("Type=notify", "Type=notifyy");
    std::fs::write(r.join("etc/systemd/system/k3rs-broken.service"), broken).unwrap();
    let (_, text) = verify("k3rs-broken.service");
    assert!(text.contains("notifyy"), "systemd-analyze did not report a bad Type=: {text:?}");
}

/// The installer's semanage rules and the policy module's file contexts agree.
#[test]
fn selinux_file_contexts_match_the_installer() {
    let fc = std::fs::read_to_string(repo().join("deploy/selinux/k3rs.fc")).expect("k3rs.fc");
    let mut from_module: Vec<(String, String)> = fc
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let path = l.split_whitespace().next().expect("path").to_string();
            let ty = l.split("object_r:").nth(1).and_then(|t| t.split(',').next()).expect("type").to_string();
            (path, ty)
        })
        .collect();
    let script = std::fs::read_to_string(install_script()).expect("install.sh");
    let block = script.split("SELINUX_CONTEXTS=\"").nth(1).and_then(|b| b.split('"').next()).expect("SELINUX_CONTEXTS");
    let mut from_script: Vec<(String, String)> = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let (ty, path) = line.split_once('\t').expect("type<TAB>path");
        if path.contains("BIN_DIR") {
            for bin_dir in ["/usr/local/bin", "/opt/bin"] {
                from_script.push((path.replace("BIN_DIR", bin_dir), ty.to_string()));
            }
        } else {
            from_script.push((path.to_string(), ty.to_string()));
        }
    }
    from_module.sort();
    from_script.sort();
    assert!(!from_module.is_empty());
    assert_eq!(from_module, from_script);
}
