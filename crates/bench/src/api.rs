//! `k3rs-bench api`: the API server as clients see it. Starts a real `k3rs server`
//! process on a temporary data directory and a loopback port, then measures, with
//! the kube-rs client (what k3rs' own controllers use): create, get, list and watch
//! latency and throughput, and the server's resident memory when idle and after
//! the load. The store's raw write rate, measured in this process on the same
//! kind of disk, is the floor the API's create rate is compared against.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::{Client, Config};

use crate::stats::{Samples, report};

#[derive(clap::Args)]
pub struct ApiArgs {
    /// Objects created in the sequential phase (and read back).
    #[arg(long, default_value_t = 500)]
    objects: usize,
    /// Concurrent clients in the concurrent create phase.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Objects created per client in the concurrent phase.
    #[arg(long, default_value_t = 50)]
    per_client: usize,
    /// The k3rs binary (default: `k3rs` next to this benchmark).
    #[arg(long)]
    k3rs: Option<PathBuf>,
}

struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The k3rs binary: `given`, else `k3rs` next to this benchmark.
pub(crate) fn k3rs_binary(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    let me = std::env::current_exe()?;
    let sibling = me.with_file_name("k3rs");
    if sibling.exists() {
        return Ok(sibling);
    }
    bail!("no k3rs binary next to {}; build it (cargo build --release) or pass --k3rs", me.display())
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start_server(binary: &PathBuf) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "")?;
    let port = free_port()?;
    let child = Command::new(binary)
        .args(["server", "--disable-agent", "--bind-address", "127.0.0.1"])
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--https-listen-port", &port.to_string()])
        .arg("--write-kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let server = Server { child, _dir: dir, kubeconfig };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if server.kubeconfig.exists()
            && let Ok(client) = client_for(&server).await
            && client.apiserver_version().await.is_ok()
        {
            return Ok(server);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("k3rs server did not become ready")
}

async fn client_for(server: &Server) -> anyhow::Result<Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(&server.kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(Client::try_from(config)?)
}

/// Resident set size of a process, from /proc.
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn configmap(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"bench": "k3rs"}},
        "data": {"key": "value", "payload": "x".repeat(256)},
    }))
    .expect("a valid ConfigMap")
}

pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    let binary = k3rs_binary(args.k3rs.as_ref())?;
    let started = Instant::now();
    let server = start_server(&binary).await?;
    let startup = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = server.child.id();
    let idle_rss = rss_mib(pid);
    let client = client_for(&server).await?;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    println!(
        "k3rs-bench api: {} ({} objects, {} clients x {})",
        binary.display(),
        args.objects,
        args.concurrency,
        args.per_client
    );
    println!("  start to first answer                {:>10.0} ms", startup.as_secs_f64() * 1000.0);
    if let Some(rss) = idle_rss {
        println!("  server RSS, idle                     {rss:>10.1} MiB");
    }

    let mut samples = Samples::with_capacity(args.objects);
    let t = Instant::now();
    for i in 0..args.objects {
        let s = Instant::now();
        cms.create(&PostParams::default(), &configmap(&format!("seq-{i}"))).await?;
        samples.record(s.elapsed());
    }
    let api_create_elapsed = t.elapsed();
    let api_create_rate = args.objects as f64 / api_create_elapsed.as_secs_f64();
    report("create, sequential", samples, api_create_elapsed, "req/s");

    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.concurrency {
        let cms = cms.clone();
        let n = args.per_client;
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::with_capacity(n);
            for i in 0..n {
                let s = Instant::now();
                cms.create(&PostParams::default(), &configmap(&format!("par-{c}-{i}"))).await?;
                samples.record(s.elapsed());
            }
            Ok::<_, kube::Error>(samples)
        }));
    }
    let mut samples = Samples::default();
    for task in tasks {
        samples.extend(task.await??);
    }
    report(&format!("create, {} clients", args.concurrency), samples, t.elapsed(), "req/s");

    let mut samples = Samples::with_capacity(args.objects);
    let t = Instant::now();
    for i in 0..args.objects {
        let s = Instant::now();
        cms.get(&format!("seq-{i}")).await?;
        samples.record(s.elapsed());
    }
    report("get", samples, t.elapsed(), "req/s");

    let total = args.objects + args.concurrency * args.per_client;
    let mut samples = Samples::with_capacity(20);
    let t = Instant::now();
    for _ in 0..20 {
        let s = Instant::now();
        let list = cms.list(&ListParams::default()).await?;
        if list.items.len() < total {
            bail!("list returned {} of {total} objects", list.items.len());
        }
        samples.record(s.elapsed());
    }
    report(&format!("list {total} objects"), samples, t.elapsed(), "lists/s");

    // Watch delivery: time from a create's response to its ADDED event.
    let rv = cms.list(&ListParams::default().limit(1)).await?.metadata.resource_version.unwrap_or_default();
    let mut stream = cms.watch(&WatchParams::default().labels("bench=watch"), &rv).await?.boxed();
    let watched = 200;
    let mut samples = Samples::with_capacity(watched);
    let t = Instant::now();
    for i in 0..watched {
        let mut cm = configmap(&format!("watch-{i}"));
        cm.metadata.labels = Some([("bench".to_string(), "watch".to_string())].into());
        cms.create(&PostParams::default(), &cm).await?;
        let s = Instant::now();
        loop {
            match stream.next().await {
                Some(Ok(WatchEvent::Added(_))) => break,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("watch ended"),
            }
        }
        samples.record(s.elapsed());
    }
    report("watch delivery after create", samples, t.elapsed(), "events/s");

    if let Some(rss) = rss_mib(pid) {
        println!("  server RSS, after {:>6} objects     {rss:>10.1} MiB", total + watched);
    }

    // The floor: the store alone, in this process, on the same disk.
    let dir = tempfile::tempdir()?;
    let store = k3rs_store::Store::open_sqlite(dir.path().join("floor.db"), Default::default()).await?;
    let t = Instant::now();
    for i in 0..args.objects {
        store.create(&format!("/registry/configmaps/default/floor-{i}"), vec![b'x'; 400]).await?;
    }
    let store_rate = args.objects as f64 / t.elapsed().as_secs_f64();
    println!("  store create floor (same process)     {store_rate:>10.0} writes/s");
    println!("  API create / store create             {:>10.2}", api_create_rate / store_rate);
    Ok(())
}
