//! The server's configuration sources: flags, `K3RS_*` environment variables and the
//! configuration file, in that order of precedence.

mod common;

use common::TestServer;

#[test]
fn version_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k3rs")).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("k3rs ") && text.contains("Kubernetes v1.33"), "{text}");
}

#[test]
fn config_file_and_environment() {
    let s = TestServer::start_configured(
        &[],
        "service-cidr: 10.96.0.0/16\nservice-node-port-range: 30000-30100\nwrite-kubeconfig-mode: \"0640\"\n",
        // The environment wins over the file.
        &[("K3RS_SERVICE_NODE_PORT_RANGE", "31000-31010")],
    );
    assert_eq!(s.get_json(&["service", "kubernetes"])["spec"]["clusterIP"], "10.96.0.1");
    s.ok(&["create", "service", "nodeport", "np", "--tcp=80:80"]);
    let port = s.get_json(&["service", "np"])["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((31000..=31010).contains(&port), "node port {port} outside the environment's range");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.kubeconfig()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "- not\n- a map\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["server", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("map of flag names"), "{err}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k3rs"))
        .args(["server", "--service-cidr", "10.43.0.0", "--config"])
        .arg(dir.path().join("missing.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}
