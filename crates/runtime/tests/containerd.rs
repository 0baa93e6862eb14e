//! Integration tests against a real, private containerd (see `k3rs_runtime::testing`).
//! They are skipped, with a message, only when containerd, runc or busybox are missing.

use std::time::Duration;

use k3rs_runtime::container::ContainerConfig;
use k3rs_runtime::logs::{LogReadOptions, container_log_path, pod_log_dir, read_log};
use k3rs_runtime::testing::{TestEnvironment, missing_tools};
use k3rs_runtime::{ExitReason, SandboxConfig};

const IMAGE: &str = "k3rs.local/busybox:test";

async fn environment() -> Option<TestEnvironment> {
    let missing = missing_tools();
    if !missing.is_empty() {
        eprintln!("skipping: {} not available (install containerd, runc and busybox-static)", missing.join(", "));
        return None;
    }
    Some(TestEnvironment::start().await.expect("private containerd starts"))
}

fn pod(name: &str) -> SandboxConfig {
    SandboxConfig {
        name: name.to_string(),
        namespace: "default".to_string(),
        uid: format!("uid-{name}"),
        hostname: name.to_string(),
        ..Default::default()
    }
}

fn container(env: &TestEnvironment, sandbox: &SandboxConfig, name: &str, script: &str) -> ContainerConfig {
    let dir = pod_log_dir(&env.log_dir(), &sandbox.namespace, &sandbox.name, &sandbox.uid);
    ContainerConfig {
        name: name.to_string(),
        image: IMAGE.to_string(),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: container_log_path(&dir, name, 0),
        mount_etc_files: true,
        termination_message_path: Some("/dev/termination-log".into()),
        ..Default::default()
    }
}

async fn read_all(path: std::path::PathBuf, options: LogReadOptions) -> String {
    let mut rx = read_log(path, options, None);
    let mut out = Vec::new();
    while let Some(chunk) = rx.recv().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn run_to_completion_with_logs_env_and_exit_codes() {
    let Some(env) = environment().await else { return };
    let image = env.import_busybox(IMAGE).await.unwrap();
    assert_eq!(image.name, IMAGE);
    assert!(image.unpacked);
    let rt = &env.runtime;
    let sandbox_config = pod("logs");
    let sandbox = rt.create_sandbox(sandbox_config.clone()).await.unwrap();

    let mut config = container(&env, &sandbox_config, "main", "echo hello; echo oops >&2; echo \"FOO=$FOO\"; hostname; printf bye > /dev/termination-log; exit 3");
    config.env = vec![("FOO".into(), "bar".into())];
    let log_path = config.log_path.clone();
    let id = rt.create_container(&sandbox.id, config).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), rt.wait_container(&id)).await.unwrap().unwrap();
    assert_eq!(exit.exit_code, 3);
    assert_eq!(exit.reason, ExitReason::Error);
    assert_eq!(exit.message.as_deref(), Some("bye"));

    let raw = std::fs::read_to_string(&log_path).unwrap();
    assert!(raw.lines().any(|l| l.ends_with(" stdout F hello")), "{raw}");
    assert!(raw.lines().any(|l| l.ends_with(" stderr F oops")), "{raw}");
    let text = read_all(log_path.clone(), LogReadOptions::default()).await;
    assert!(text.contains("FOO=bar\n"), "{text}");
    assert!(text.contains("logs\n"), "hostname is the pod's: {text}");
    let stderr_only = read_all(log_path, LogReadOptions { stream: Some(k3rs_runtime::logs::Stream::Stderr), ..Default::default() }).await;
    assert_eq!(stderr_only, "oops\n");

    let status = rt.container_status(&id).await.unwrap();
    assert_eq!(status.state, k3rs_runtime::ContainerState::Exited);
    assert_eq!(status.exit.unwrap().exit_code, 3);
    assert_eq!(status.name, "main");
    assert_eq!(status.pod.uid, "uid-logs");

    let ok = rt.create_container(&sandbox.id, container(&env, &sandbox_config, "ok", "true")).await.unwrap();
    rt.start_container(&ok).await.unwrap();
    let exit = rt.wait_container(&ok).await.unwrap();
    assert_eq!((exit.exit_code, exit.reason), (0, ExitReason::Completed));
    env.cleanup().await;
}
