//! `k3rs-bench pods`: pod start latency through the whole path (API server → the server's
//! in-process agent → containerd) against the floor of the same containers started
//! directly through the runtime, in one run on one private containerd.
//!
//! 1. Floor: N sandboxes+containers from a local busybox image, started concurrently
//!    through `k3rs_runtime` (what the kubelet does per pod, minus everything else).
//! 2. `k3rs server` with its agent on the same containerd; N pods (`sleep`, the same
//!    image, `imagePullPolicy: Never`) created through the API; a watch records when
//!    each reaches phase Running and condition Ready.
//! 3. The resident memory of the server process (API server + agent) idle and with the N
//!    pods running, and containerd's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use k3rs_runtime::container::ContainerConfig;
use k3rs_runtime::testing::{TestEnvironment, missing_tools};
use k3rs_runtime::{Runtime, SandboxConfig};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use tokio::sync::Mutex;

use crate::api::{free_port, k3rs_binary, rss_mib};
use crate::stats::{Samples, report};

#[derive(Debug, clap::Args)]
pub struct PodsArgs {
    /// Pods (and floor containers) to start.
    #[arg(long, default_value_t = 50)]
    pods: usize,
    /// Give up waiting for the pods after this many seconds.
    #[arg(long, default_value_t = 180)]
    timeout: u64,
    /// The k3rs binary (default: `k3rs` next to this benchmark).
    #[arg(long)]
    k3rs: Option<PathBuf>,
}

const IMAGE: &str = "k3rs.local/bench-pods:1";
const NODE: &str = "bench-node";
const NAMESPACE: &str = "default";

/// The floor: sandbox + container + start for `n` pods at once, each timed from its start.
async fn floor(runtime: &Runtime, logs: &std::path::Path, n: usize) -> anyhow::Result<(Samples, Duration)> {
    let begin = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (runtime, logs) = (runtime.clone(), logs.to_path_buf());
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let sandbox = runtime
                .create_sandbox(SandboxConfig {
                    name: format!("floor-{i}"),
                    namespace: "bench".into(),
                    uid: format!("floor-uid-{i}"),
                    hostname: format!("floor-{i}"),
                    ..Default::default()
                })
                .await?;
            let config = ContainerConfig {
                name: "sleep".into(),
                image: IMAGE.into(),
                command: vec!["sleep".into(), "3600".into()],
                log_path: logs.join(format!("floor-{i}/sleep/0.log")),
                mount_etc_files: true,
                ..Default::default()
            };
            let id = runtime.create_container(&sandbox.id, config).await?;
            runtime.start_container(&id).await?;
            anyhow::Ok((start.elapsed(), sandbox.id))
        }));
    }
    let mut samples = Samples::with_capacity(n);
    let mut sandboxes = Vec::new();
    for task in tasks {
        let (latency, id) = task.await??;
        samples.record(latency);
        sandboxes.push(id);
    }
    let elapsed = begin.elapsed();
    for id in sandboxes {
        runtime.remove_sandbox(&id).await?;
    }
    Ok((samples, elapsed))
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(binary: &PathBuf, env: &TestEnvironment) -> anyhow::Result<(Server, PathBuf)> {
    let dir = env.dir().join("k3rs");
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.yaml");
    std::fs::write(&config, "")?;
    let kubeconfig = dir.join("kubeconfig.yaml");
    let socket = env.runtime.containerd().socket().to_path_buf();
    let log = std::fs::File::create(dir.join("server.log"))?;
    let child = Command::new(binary)
        .args(["server", "--bind-address", "127.0.0.1", "--node-name", NODE, "--node-ip", "127.0.0.1"])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--https-listen-port", &free_port()?.to_string(), "--kubelet-port", "0"])
        .args(["--kubelet-address", "127.0.0.1"])
        .arg("--write-kubeconfig")
        .arg(&kubeconfig)
        .arg("--container-runtime-endpoint")
        .arg(&socket)
        .arg("--run-dir")
        .arg(&env.config().run_dir)
        .args(["--cgroup-parent", &env.config().cgroup_parent])
        .arg("--kubelet-root-dir")
        .arg(dir.join("kubelet"))
        .arg("--pod-log-dir")
        .arg(env.log_dir())
        .arg("--private-registry")
        .arg(dir.join("registries.yaml"))
        // A build machine's nearly full disk must not turn the node away from pods.
        .args(["--eviction-hard", "nodefs.available<1%"])
        .env_remove("K3RS_CONFIG_FILE")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    Ok((Server { child }, kubeconfig))
}

async fn client(kubeconfig: &PathBuf) -> anyhow::Result<kube::Client> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if kubeconfig.exists()
            && let Ok(config) = kube::config::Kubeconfig::read_from(kubeconfig)
            && let Ok(config) = kube::Config::from_custom_kubeconfig(config, &Default::default()).await
            && let Ok(client) = kube::Client::try_from(config)
            && client.apiserver_version().await.is_ok()
        {
            return Ok(client);
        }
        if Instant::now() > deadline {
            bail!("k3rs server did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_node_ready(client: &kube::Client) -> anyhow::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(node)) = nodes.get_opt(NODE).await
            && node
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("node {NODE} did not become Ready")
}

fn pod(i: usize) -> anyhow::Result<Pod> {
    Ok(serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("bench-{i}"), "labels": {"bench": "pods"}},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "sleep", "image": IMAGE, "imagePullPolicy": "Never",
                "command": ["sleep", "3600"],
            }],
        },
    }))?)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[derive(Default)]
struct Seen {
    created: HashMap<String, Instant>,
    running: HashMap<String, Duration>,
    ready: HashMap<String, Duration>,
}

pub async fn run(args: PodsArgs) -> anyhow::Result<()> {
    let missing = missing_tools();
    anyhow::ensure!(
        missing.is_empty(),
        "missing: {} (install containerd, runc and busybox-static)",
        missing.join(", ")
    );
    let binary = k3rs_binary(args.k3rs.as_ref())?;
    let env = TestEnvironment::start().await.context("starting a private containerd")?;
    let result = measure(&args, &binary, &env).await;
    env.cleanup().await;
    result
}

async fn measure(args: &PodsArgs, binary: &PathBuf, env: &TestEnvironment) -> anyhow::Result<()> {
    let version = env.runtime.containerd().version().await?;
    env.import_busybox(IMAGE).await?;
    let n = args.pods;
    println!("pods benchmark: {n} pods from a local image, containerd {version}");

    let (floor_samples, floor_elapsed) = floor(&env.runtime, &env.log_dir(), n).await?;
    report("floor: runtime sandbox+create+start", floor_samples, floor_elapsed, "pod/s");

    let (server, kubeconfig) = start_server(binary, env)?;
    let client = client(&kubeconfig).await?;
    wait_node_ready(&client).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_mib(server.child.id());
    if let Some(rss) = idle_rss {
        println!("  server+agent RSS with the node Ready and no pods: {rss:.1} MiB");
    }

    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let watch = {
        let (pods, seen) = (pods.clone(), seen.clone());
        tokio::spawn(async move {
            let mut stream = watcher::watcher(pods, watcher::Config::default().labels("bench=pods")).boxed();
            while let Some(event) = stream.next().await {
                let Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) = event else { continue };
                let now = Instant::now();
                let name = pod.metadata.name.clone().unwrap_or_default();
                let mut seen = seen.lock().await;
                let Some(&created) = seen.created.get(&name) else { continue };
                let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
                if running && !seen.running.contains_key(&name) {
                    seen.running.insert(name.clone(), now - created);
                }
                if is_ready(&pod) && !seen.ready.contains_key(&name) {
                    seen.ready.insert(name, now - created);
                }
            }
        })
    };
    // Let the watch establish before the first create.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let begin = Instant::now();
    for i in 0..n {
        let pod = pod(i)?;
        seen.lock().await.created.insert(format!("bench-{i}"), Instant::now());
        pods.create(&PostParams::default(), &pod).await.with_context(|| format!("creating pod bench-{i}"))?;
    }
    let created_in = begin.elapsed();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    loop {
        let (running, ready) = {
            let s = seen.lock().await;
            (s.running.len(), s.ready.len())
        };
        if ready >= n {
            break;
        }
        if Instant::now() > deadline {
            watch.abort();
            cleanup_pods(&pods).await;
            bail!("after {}s: {running}/{n} pods Running, {ready}/{n} Ready", args.timeout);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_ready = begin.elapsed();
    watch.abort();
    let with_pods_rss = rss_mib(server.child.id());
    let containerd_rss = match env.runtime.containerd_pid().await {
        Some(pid) => rss_mib(pid),
        None => None,
    };

    let s = seen.lock().await;
    let mut running = Samples::with_capacity(n);
    let mut ready = Samples::with_capacity(n);
    s.running.values().for_each(|d| running.record(*d));
    s.ready.values().for_each(|d| ready.record(*d));
    drop(s);
    println!("  {n} pods created through the API in {:.0}ms; all Ready after {:.0}ms", ms(created_in), ms(all_ready));
    report("api: create -> Running", running, all_ready, "pod/s");
    report("api: create -> Ready", ready, all_ready, "pod/s");
    let mib = |v: Option<f64>| v.map(|v| format!("{v:.1} MiB")).unwrap_or_else(|| "?".into());
    println!("  RSS: server+agent with {n} pods running {}; containerd {}", mib(with_pods_rss), mib(containerd_rss));
    if let (Some(idle), Some(busy)) = (idle_rss, with_pods_rss) {
        println!("  agent memory per running pod: {:.0} KiB", (busy - idle) * 1024.0 / n as f64);
    }
    cleanup_pods(&pods).await;
    drop(server);
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn cleanup_pods(pods: &Api<Pod>) {
    let _ = pods
        .delete_collection(&DeleteParams::default().grace_period(0), &ListParams::default().labels("bench=pods"))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match pods.list(&ListParams::default().labels("bench=pods")).await {
            Ok(list) if list.items.is_empty() => return,
            Err(_) => return,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
