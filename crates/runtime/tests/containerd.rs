//! Integration tests against a real, private containerd (see `k3rs_runtime::testing`).
//! They are skipped, with a message, only when containerd, runc or busybox are missing.

use std::time::Duration;

use k3rs_runtime::container::ContainerConfig;
use k3rs_runtime::logs::{LogReadOptions, container_log_path, pod_log_dir, read_log};
use k3rs_runtime::testing::{TestEnvironment, can_run_containers};
use k3rs_runtime::{ExitReason, SandboxConfig};

const IMAGE: &str = "k3rs.local/busybox:test";

async fn environment() -> Option<TestEnvironment> {
    if !can_run_containers() {
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

    let mut config = container(
        &env,
        &sandbox_config,
        "main",
        "echo hello; echo oops >&2; echo \"FOO=$FOO\"; hostname; printf bye > /dev/termination-log; exit 3",
    );
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
    let stderr_only =
        read_all(log_path, LogReadOptions { stream: Some(k3rs_runtime::logs::Stream::Stderr), ..Default::default() })
            .await;
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

#[tokio::test]
async fn import_formats_list_and_remove() {
    use k3rs_runtime::image::builder::{ArchiveFormat, Compression, ImageBuilder, Layer};
    let Some(env) = environment().await else { return };
    let rt = &env.runtime;
    let cases = [
        ("k3rs.local/docker-zst:1", ArchiveFormat::Docker, Compression::Zstd, "docker.tar.zst"),
        ("k3rs.local/oci-gz:1", ArchiveFormat::Oci, Compression::Gzip, "oci.tar.gz"),
        ("k3rs.local/docker-plain:1", ArchiveFormat::Docker, Compression::None, "docker.tar"),
    ];
    for (name, format, compression, file) in cases {
        let path = env.dir().join(file);
        let builder = ImageBuilder::new(name).layer(Layer::new().file("hello.txt", name, 0o644)).cmd(&["/hello"]);
        let built = builder.write_archive(&path, format, compression).unwrap();
        let imported = rt.import_images(&path, None).await.unwrap();
        assert_eq!(imported.len(), 1, "{file}");
        assert_eq!(imported[0].name, name);
        assert_eq!(imported[0].id, built.config_digest);
        assert!(rt.image_present(name).await.unwrap().is_some_and(|i| i.unpacked));
    }
    // Importing again is harmless, also as the airgap directory at agent start.
    let airgap = env.dir().join("images");
    std::fs::create_dir_all(&airgap).unwrap();
    std::fs::rename(env.dir().join("oci.tar.gz"), airgap.join("oci.tar.gz")).unwrap();
    std::fs::write(airgap.join("notes.txt"), "ignored").unwrap();
    let results = rt.import_images_dir(&airgap).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].1.as_ref().unwrap()[0].name, "k3rs.local/oci-gz:1");
    let names: Vec<String> = rt.list_images().await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, vec!["k3rs.local/docker-plain:1", "k3rs.local/docker-zst:1", "k3rs.local/oci-gz:1"]);
    rt.remove_image("k3rs.local/oci-gz:1").await.unwrap();
    assert!(rt.image_present("k3rs.local/oci-gz:1").await.unwrap().is_none());
    assert!(rt.remove_image("k3rs.local/oci-gz:1").await.unwrap_err().is_not_found());
    // Short names resolve to docker.io.
    assert!(rt.image_present("busybox").await.unwrap().is_none());
    let bad = env.dir().join("bad.tar");
    std::fs::write(&bad, b"not an archive").unwrap();
    assert!(rt.import_images(&bad, None).await.is_err());
    env.cleanup().await;
}

#[tokio::test]
async fn exec_attach_and_tty() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(env) = environment().await else { return };
    env.import_busybox(IMAGE).await.unwrap();
    let rt = &env.runtime;
    let sandbox_config = pod("exec");
    let sandbox = rt.create_sandbox(sandbox_config.clone()).await.unwrap();
    let mut config = container(&env, &sandbox_config, "shell", "cat");
    config.stdin = true;
    let id = rt.create_container(&sandbox.id, config).await.unwrap();
    rt.start_container(&id).await.unwrap();

    let output = rt
        .exec_sync(
            &id,
            vec!["sh".into(), "-c".into(), "echo out; echo err >&2; exit 7".into()],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(output.exit_code, 7);
    assert_eq!(output.stdout, b"out\n");
    assert_eq!(output.stderr, b"err\n");
    let slow = rt.exec_sync(&id, vec!["sleep".into(), "30".into()], Duration::from_millis(500)).await;
    assert!(matches!(slow, Err(k3rs_runtime::RuntimeError::Timeout(_))), "{slow:?}");

    // Interactive exec: stdin in, stdout out.
    let exec = k3rs_runtime::ExecConfig {
        command: vec!["sh".into(), "-c".into(), "read line; echo got:$line".into()],
        stdin: true,
        ..Default::default()
    };
    let mut session = rt.exec(&id, exec).await.unwrap();
    session.stdin.as_mut().unwrap().write_all(b"ping\n").await.unwrap();
    let mut out = String::new();
    session.stdout.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "got:ping\n");
    assert_eq!(session.handle.wait().await.unwrap(), 0);

    // Terminal exec: one stream, resizable.
    let exec = k3rs_runtime::ExecConfig {
        command: vec!["sh".into(), "-c".into(), "sleep 0.3; stty size".into()],
        tty: true,
        ..Default::default()
    };
    let mut session = rt.exec(&id, exec).await.unwrap();
    assert!(session.stderr.is_none());
    session.handle.resize(100, 40).await.unwrap();
    let mut out = String::new();
    session.stdout.read_to_string(&mut out).await.unwrap();
    assert_eq!(out.trim(), "40 100");
    assert_eq!(session.handle.wait().await.unwrap(), 0);

    // Attach: the container's own stdin and output.
    let mut attached = rt.attach(&id).await.unwrap();
    attached.stdin.as_mut().unwrap().write_all(b"echoed by cat\n").await.unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(10), attached.next()).await.unwrap().unwrap();
    assert_eq!(&chunk.data[..], b"echoed by cat\n");
    env.cleanup().await;
}

#[tokio::test]
async fn stop_with_grace_period_then_sigkill() {
    let Some(env) = environment().await else { return };
    env.import_busybox(IMAGE).await.unwrap();
    let rt = &env.runtime;
    let sandbox_config = pod("stop");
    let sandbox = rt.create_sandbox(sandbox_config.clone()).await.unwrap();
    let polite =
        container(&env, &sandbox_config, "polite", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done");
    let polite_log = polite.log_path.clone();
    let polite = rt.create_container(&sandbox.id, polite).await.unwrap();
    // As PID 1 without a handler, the shell ignores SIGTERM: only SIGKILL stops it.
    let stubborn = container(&env, &sandbox_config, "stubborn", "sleep 1000");
    let stubborn = rt.create_container(&sandbox.id, stubborn).await.unwrap();
    rt.start_container(&polite).await.unwrap();
    rt.start_container(&stubborn).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rt.container_status(&polite).await.unwrap().state, k3rs_runtime::ContainerState::Running);

    let started = std::time::Instant::now();
    let exit = rt.stop_container(&polite, Duration::from_secs(20)).await.unwrap();
    assert_eq!((exit.exit_code, exit.reason), (0, ExitReason::Completed));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(std::fs::read_to_string(&polite_log).unwrap().contains(" stdout F bye"));

    let started = std::time::Instant::now();
    let exit = rt.stop_container(&stubborn, Duration::from_secs(1)).await.unwrap();
    assert_eq!(exit.exit_code, 137);
    assert!(started.elapsed() >= Duration::from_secs(1));
    // Stopping again returns the same exit.
    assert_eq!(rt.stop_container(&stubborn, Duration::from_secs(1)).await.unwrap().exit_code, 137);
    env.cleanup().await;
}

#[tokio::test]
async fn memory_limit_gets_oom_killed() {
    let Some(env) = environment().await else { return };
    env.import_busybox(IMAGE).await.unwrap();
    let rt = &env.runtime;
    let sandbox_config = pod("oom");
    let sandbox = rt.create_sandbox(sandbox_config.clone()).await.unwrap();
    // Command substitution keeps the whole output in the shell's memory.
    let mut config =
        container(&env, &sandbox_config, "hog", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived");
    config.resources.memory_limit_bytes = Some(32 << 20);
    let id = rt.create_container(&sandbox.id, config).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(60), rt.wait_container(&id)).await.unwrap().unwrap();
    assert_eq!(exit.reason, ExitReason::OomKilled, "{exit:?}");
    assert_eq!(rt.container_status(&id).await.unwrap().exit.unwrap().reason, ExitReason::OomKilled);
    env.cleanup().await;
}

#[tokio::test]
async fn restarted_agent_readopts_running_containers() {
    use k3rs_runtime::ContainerFilter;
    let Some(mut env) = environment().await else { return };
    env.import_busybox(IMAGE).await.unwrap();
    let sandbox_config = pod("adopt");
    let sandbox = env.runtime.create_sandbox(sandbox_config.clone()).await.unwrap();
    let mut config =
        container(&env, &sandbox_config, "ticker", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
    config.restart_count = 2;
    let log_path = config.log_path.clone();
    let id = env.runtime.create_container(&sandbox.id, config).await.unwrap();
    let pid = env.runtime.start_container(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The agent goes away (its containerd too) and comes back.
    env.restart().await.unwrap();
    let rt = &env.runtime;
    let filter = ContainerFilter { pod_uid: Some(sandbox_config.uid.clone()), ..Default::default() };
    let found = rt.list_containers(&filter).await.unwrap();
    assert_eq!(found.len(), 1);
    let status = &found[0];
    assert_eq!((status.id.as_str(), status.name.as_str(), status.restart_count), (id.as_str(), "ticker", 2));
    assert_eq!(status.state, k3rs_runtime::ContainerState::Running);
    assert_eq!(status.pid, Some(pid), "the same process runs on");
    assert_eq!(rt.list_sandboxes().await.unwrap()[0].id, sandbox.id);

    // The log pump was re-attached: new lines keep arriving.
    let before = std::fs::read_to_string(&log_path).unwrap().lines().count();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = std::fs::read_to_string(&log_path).unwrap().lines().count();
    assert!(after > before, "{before} -> {after}");
    let follow = LogReadOptions { follow: true, tail: Some(1), ..Default::default() };
    let mut followed = rt.read_container_logs(&id, follow).await.unwrap();
    let first = String::from_utf8(followed.recv().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(first.starts_with("tick "), "{first}");
    let exit = rt.stop_container(&id, Duration::from_secs(1)).await.unwrap();
    assert_eq!(exit.exit_code, 137);
    // Following ends once the container has exited.
    let drained =
        tokio::time::timeout(Duration::from_secs(10), async { while followed.recv().await.is_some() {} }).await;
    assert!(drained.is_ok(), "following did not end after the container exited");
    env.cleanup().await;
}

#[tokio::test]
async fn sandbox_shares_namespaces_and_cleans_up() {
    let Some(env) = environment().await else { return };
    env.import_busybox(IMAGE).await.unwrap();
    let rt = &env.runtime;
    let mut sandbox_config = pod("shared");
    sandbox_config.share_pid = true;
    sandbox_config.hosts =
        vec![k3rs_runtime::sandbox::HostEntry { ip: "10.0.0.9".into(), hostnames: vec!["shared".into()] }];
    let sandbox = rt.create_sandbox(sandbox_config.clone()).await.unwrap();
    let netns = sandbox.netns.clone().unwrap();
    assert!(k3rs_runtime::mounts::is_mount_point(&netns).unwrap());
    let a = rt.create_container(&sandbox.id, container(&env, &sandbox_config, "a", "sleep 1001")).await.unwrap();
    let b = rt.create_container(&sandbox.id, container(&env, &sandbox_config, "b", "sleep 1002")).await.unwrap();
    rt.start_container(&a).await.unwrap();
    rt.start_container(&b).await.unwrap();

    let run = |cmd: &str| rt.exec_sync(&b, vec!["sh".into(), "-c".into(), cmd.into()], Duration::from_secs(10));
    let ps = run("ps").await.unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(ps.contains("sleep 1001") && ps.contains("sleep 1002"), "shared PID namespace: {ps}");
    let hosts = run("cat /etc/hosts; hostname; ip link 2>/dev/null || cat /proc/net/dev").await.unwrap();
    let hosts = String::from_utf8_lossy(&hosts.stdout);
    assert!(hosts.contains("10.0.0.9\tshared"), "{hosts}");
    assert!(hosts.contains("\nshared\n"), "{hosts}");
    assert!(hosts.contains("lo"), "{hosts}");
    assert!(!hosts.contains("eth0"), "only loopback: {hosts}");

    rt.remove_sandbox(&sandbox.id).await.unwrap();
    assert!(rt.list_containers(&Default::default()).await.unwrap().is_empty());
    assert!(rt.list_sandboxes().await.unwrap().is_empty());
    assert!(!netns.exists());
    assert!(!sandbox.dir.exists());
    let leftovers: Vec<_> = k3rs_runtime::mounts::mounts_under(env.dir())
        .unwrap()
        .into_iter()
        .filter(|m| *m != env.config().run_dir.join("ns"))
        .collect();
    assert!(leftovers.is_empty(), "mounts left behind: {leftovers:?}");
    let holder = sandbox.pid_holder.unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{holder}")).exists(), "PID holder still runs");
    env.cleanup().await;
}

#[tokio::test]
async fn supervised_containerd_is_restarted() {
    let Some(env) = environment().await else { return };
    env.import_busybox(IMAGE).await.unwrap();
    let rt = &env.runtime;
    let pid = rt.containerd_pid().await.unwrap();
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rt.containerd_pid().await == Some(pid) {
        assert!(std::time::Instant::now() < deadline, "containerd was not restarted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rt.wait_ready(Duration::from_secs(30)).await.unwrap();
    assert!(rt.image_present(IMAGE).await.unwrap().is_some());
    env.cleanup().await;
}
