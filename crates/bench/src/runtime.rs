//! `k3rs-bench runtime`: the container runtime alone, on a private containerd (or the
//! one at `--endpoint`). For each of N pods: create a sandbox (namespaces, files), create
//! a container from a local busybox image, start it; then tear everything down. Prints
//! p50/p99 per step: the floor that the kubelet's pod start latency is compared against.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use k3rs_runtime::container::ContainerConfig;
use k3rs_runtime::testing::{TestEnvironment, missing_tools};
use k3rs_runtime::{Endpoint, Runtime, RuntimeConfig, SandboxConfig};
use tokio::sync::Semaphore;

use crate::stats::{Samples, report};

#[derive(Debug, clap::Args)]
pub struct RuntimeArgs {
    /// Containers (each in its own sandbox) to start.
    #[arg(long, default_value_t = 20)]
    containers: usize,
    /// Starts in flight at once.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Use this containerd socket instead of starting a private containerd.
    #[arg(long)]
    endpoint: Option<PathBuf>,
}

const IMAGE: &str = "k3rs.local/bench-busybox:1";

struct Timings {
    sandbox: Duration,
    create: Duration,
    start: Duration,
    total: Duration,
}

async fn start_one(runtime: &Runtime, logs: &std::path::Path, i: usize) -> anyhow::Result<(Timings, String)> {
    let begin = Instant::now();
    let sandbox = runtime
        .create_sandbox(SandboxConfig {
            name: format!("bench-{i}"),
            namespace: "bench".into(),
            uid: format!("bench-uid-{i}"),
            hostname: format!("bench-{i}"),
            ..Default::default()
        })
        .await?;
    let sandbox_done = Instant::now();
    let config = ContainerConfig {
        name: "sleep".into(),
        image: IMAGE.into(),
        command: vec!["sleep".into(), "3600".into()],
        log_path: logs.join(format!("bench-{i}/sleep/0.log")),
        mount_etc_files: true,
        termination_message_path: Some("/dev/termination-log".into()),
        ..Default::default()
    };
    let id = runtime.create_container(&sandbox.id, config).await?;
    let created = Instant::now();
    runtime.start_container(&id).await?;
    let started = Instant::now();
    let timings = Timings {
        sandbox: sandbox_done - begin,
        create: created - sandbox_done,
        start: started - created,
        total: started - begin,
    };
    Ok((timings, sandbox.id))
}

pub async fn run(args: RuntimeArgs) -> anyhow::Result<()> {
    let environment;
    let runtime = match &args.endpoint {
        Some(socket) => {
            let run_dir = std::env::temp_dir().join(format!("k3rs-bench-runtime-{}", std::process::id()));
            environment = None;
            Runtime::start(RuntimeConfig::new(Endpoint::Socket(socket.clone()), run_dir)).await?
        }
        None => {
            let missing = missing_tools();
            anyhow::ensure!(
                missing.is_empty(),
                "missing: {} (install containerd, runc and busybox-static)",
                missing.join(", ")
            );
            let env = TestEnvironment::start().await.context("starting a private containerd")?;
            let runtime = env.runtime.clone();
            environment = Some(env);
            runtime
        }
    };
    let version = runtime.containerd().version().await?;
    let logs = match &environment {
        Some(env) => env.log_dir(),
        None => std::env::temp_dir().join(format!("k3rs-bench-runtime-logs-{}", std::process::id())),
    };
    let import_started = Instant::now();
    match &environment {
        Some(env) => {
            env.import_busybox(IMAGE).await?;
        }
        None => {
            let archive = std::env::temp_dir().join(format!("k3rs-bench-image-{}.tar", std::process::id()));
            let path = archive.clone();
            tokio::task::spawn_blocking(move || {
                k3rs_runtime::image::builder::ImageBuilder::busybox(IMAGE)?.write_archive(
                    &path,
                    k3rs_runtime::image::builder::ArchiveFormat::Oci,
                    k3rs_runtime::image::builder::Compression::None,
                )
            })
            .await??;
            runtime.import_images(&archive, None).await?;
            let _ = std::fs::remove_file(&archive);
        }
    }
    println!(
        "runtime benchmark: containerd {version}, {} containers (one sandbox each), concurrency {}; image import {:.0}ms",
        args.containers,
        args.concurrency,
        import_started.elapsed().as_secs_f64() * 1000.0
    );

    let semaphore = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let begin = Instant::now();
    let mut tasks = Vec::with_capacity(args.containers);
    for i in 0..args.containers {
        let (runtime, logs, semaphore) = (runtime.clone(), logs.clone(), semaphore.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire_owned().await?;
            start_one(&runtime, &logs, i).await
        }));
    }
    let (mut sandbox, mut create, mut start, mut total) =
        (Samples::default(), Samples::default(), Samples::default(), Samples::default());
    let mut sandboxes = Vec::new();
    let mut failures = 0;
    for task in tasks {
        match task.await? {
            Ok((timings, id)) => {
                sandbox.record(timings.sandbox);
                create.record(timings.create);
                start.record(timings.start);
                total.record(timings.total);
                sandboxes.push(id);
            }
            Err(err) => {
                failures += 1;
                eprintln!("  start failed: {err:#}");
            }
        }
    }
    let elapsed = begin.elapsed();
    report("sandbox create", sandbox, elapsed, "sandbox/s");
    report("container create", create, elapsed, "create/s");
    report("container start (task running)", start, elapsed, "start/s");
    report("sandbox+create+start", total, elapsed, "pod/s");

    let begin = Instant::now();
    let mut teardown = Samples::default();
    for id in &sandboxes {
        let one = Instant::now();
        runtime.remove_sandbox(id).await?;
        teardown.record(one.elapsed());
    }
    report("sandbox removal (kill, delete)", teardown, begin.elapsed(), "remove/s");
    if failures > 0 {
        println!("  {failures} starts failed");
    }
    match environment {
        Some(env) => env.cleanup().await,
        None => {
            runtime.remove_image(IMAGE).await?;
            runtime.close().await;
        }
    }
    anyhow::ensure!(failures == 0, "{failures} container starts failed");
    Ok(())
}
