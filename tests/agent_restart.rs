//! Restarting the agent never restarts containers: on SIGTERM the agent stops watching
//! and stops the containerd it supervises, the containers' shims keep them running, and
//! the next start finds them as they were.

mod agent_common;

use std::time::Duration;

use agent_common::{AgentCluster, Containerd, can_run, eventually};
use k3rs_runtime::container::ContainerConfig;
use k3rs_runtime::{ContainerState, Endpoint, Runtime, SandboxConfig};

const IMAGE: &str = "k3rs.local/restart:1";

/// A runtime in a containerd namespace and run directory of its own on the agent's
/// containerd, so the agent's pod manager never sees (nor cleans up) what it makes.
fn side_runtime(cluster: &AgentCluster) -> Runtime {
    let env = cluster.env();
    let mut config = env.config().clone();
    config.endpoint = Endpoint::Socket(cluster.socket());
    config.namespace = "k3rs-restart-test".into();
    config.run_dir = env.dir().join("side-run");
    config.cgroup_parent = format!("{}/side", env.config().cgroup_parent);
    cluster.rt.block_on(Runtime::start(config)).expect("runtime on the agent's containerd")
}

#[test]
fn restarting_the_agent_leaves_containers_running() {
    if !can_run() {
        return;
    }
    let mut cluster = AgentCluster::start(Containerd::Managed, &[]);
    cluster.wait_agent_started(1);
    cluster.wait_node_ready();

    let runtime = side_runtime(&cluster);
    let (id, pid) = cluster.rt.block_on(async {
        let archive = cluster.dir().join("restart.tar");
        k3rs_runtime::image::builder::ImageBuilder::busybox(IMAGE)
            .unwrap()
            .write_archive(
                &archive,
                k3rs_runtime::image::builder::ArchiveFormat::Oci,
                k3rs_runtime::image::builder::Compression::None,
            )
            .unwrap();
        runtime.import_images(&archive, None).await.unwrap();
        let sandbox = runtime
            .create_sandbox(SandboxConfig {
                name: "restart".into(),
                namespace: "default".into(),
                uid: "restart-uid".into(),
                hostname: "restart".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let config = ContainerConfig {
            name: "sleep".into(),
            image: IMAGE.into(),
            command: vec!["sleep".into(), "3600".into()],
            log_path: cluster.env().log_dir().join("restart/sleep/0.log"),
            ..Default::default()
        };
        let id = runtime.create_container(&sandbox.id, config).await.unwrap();
        runtime.start_container(&id).await.unwrap();
        let status = runtime.container_status(&id).await.unwrap();
        assert_eq!(status.state, ContainerState::Running);
        runtime.close().await;
        (id, status.pid.expect("pid"))
    });

    cluster.stop();
    assert!(cluster.log().contains("agent stopped; containers keep running"), "{}", cluster.log());
    // containerd is gone with the agent, the container is not.
    let containerd_pid: i32 = std::fs::read_to_string(cluster.data_dir().join("agent/containerd/containerd.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    assert!(containerd_pid == 0 || !std::path::Path::new(&format!("/proc/{containerd_pid}")).exists());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the container died with the agent");

    cluster.restart_after_stop();
    cluster.wait_agent_started(2);
    cluster.wait_node_ready();
    let runtime = side_runtime(&cluster);
    let status = cluster.rt.block_on(runtime.container_status(&id)).unwrap();
    assert_eq!(status.state, ContainerState::Running);
    assert_eq!(status.pid, Some(pid), "the container was restarted");
    assert_eq!(status.restart_count, 0);
    cluster.rt.block_on(async {
        for sandbox in runtime.list_sandboxes().await.unwrap() {
            runtime.remove_sandbox(&sandbox.id).await.unwrap();
        }
        runtime.close().await;
    });
}

/// The same through the API: a pod keeps its containers (IDs and restart counts) across
/// an agent restart, and keeps running.
#[test]
fn restarting_the_agent_keeps_pods_running() {
    if !can_run() {
        return;
    }
    let cluster = AgentCluster::prepare(Containerd::Managed, &[]);
    let airgap = cluster.data_dir().join("agent/images");
    std::fs::create_dir_all(&airgap).unwrap();
    k3rs_runtime::image::builder::ImageBuilder::busybox(IMAGE)
        .unwrap()
        .write_archive(
            &airgap.join("busybox.tar"),
            k3rs_runtime::image::builder::ArchiveFormat::Docker,
            k3rs_runtime::image::builder::Compression::None,
        )
        .unwrap();
    let mut cluster = cluster.launch();
    cluster.wait_node_ready();
    let manifest = cluster.dir().join("pod.yaml");
    std::fs::write(
        &manifest,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: sleeper\nspec:\n  nodeName: {}\n  containers:\n  \
             - name: sleep\n    image: {IMAGE}\n    imagePullPolicy: Never\n    command: [sleep, '3600']\n",
            cluster.node
        ),
    )
    .unwrap();
    cluster.ok(&["apply", "-f", manifest.to_str().unwrap()]);
    let running = |cluster: &AgentCluster| {
        let pod = cluster.get_json(&["pod", "sleeper"]);
        (pod["status"]["phase"] == "Running").then(|| pod["status"]["containerStatuses"][0].clone())
    };
    let mut before = serde_json::Value::Null;
    assert!(
        eventually(Duration::from_secs(60), || running(&cluster).map(|s| before = s).is_some()),
        "{}",
        cluster.log()
    );
    cluster.restart();
    cluster.wait_agent_started(2);
    cluster.wait_node_ready();
    // Give the re-adopted pod worker a few status periods to (wrongly) restart anything.
    std::thread::sleep(Duration::from_secs(5));
    let after = running(&cluster).expect("pod running after the restart");
    assert_eq!(after["containerID"], before["containerID"]);
    assert_eq!(after["restartCount"], before["restartCount"]);
    assert_eq!(after["state"]["running"]["startedAt"], before["state"]["running"]["startedAt"]);
}
