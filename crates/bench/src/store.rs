//! `k3rs-bench store`: the store on a fresh SQLite file.
//!
//! Phases: sequential creates, concurrent creates, gets, lists of one namespace, and watch
//! fan-out (time from just before a create until each watcher has the event).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use k3rs_store::{ListOptions, SqliteOptions, Store, StoreOptions};

use crate::stats::{Samples, report};

#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Seconds spent in each throughput phase.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Writer tasks in the concurrent create phase.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Bytes per value (about the size of a small pod's JSON).
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Keys in the namespace that the list phase reads.
    #[arg(long, default_value_t = 100)]
    list_keys: usize,
    /// Watchers in the fan-out phase.
    #[arg(long, default_value_t = 32)]
    watchers: usize,
    /// Writes watched in the fan-out phase.
    #[arg(long, default_value_t = 500)]
    watched_writes: usize,
    /// Use synchronous=NORMAL (survives a killed process, not power loss) instead of fsyncing.
    #[arg(long)]
    no_fsync: bool,
    /// Directory for the database (default: a temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let temp = tempfile::tempdir().context("creating a temporary directory")?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let path = dir.join(format!("k3rs-bench-store-{}.db", std::process::id()));
    let options = StoreOptions {
        compaction: None,
        sqlite: SqliteOptions { fsync: !args.no_fsync, ..SqliteOptions::default() },
        ..StoreOptions::default()
    };
    let store = Store::open_sqlite(&path, options).await.with_context(|| format!("opening {}", path.display()))?;
    let phase = Duration::from_secs_f64(args.seconds.max(0.01));
    let value = vec![b'x'; args.value_size];
    println!(
        "store benchmark: SQLite at {}, fsync {}, {:.1}s per phase, {} B values",
        path.display(),
        if args.no_fsync { "off" } else { "on" },
        phase.as_secs_f64(),
        args.value_size
    );

    let (samples, elapsed, sequential_keys) = sequential_creates(&store, &value, phase).await?;
    report("create, sequential", samples, elapsed, "writes/s");

    let (samples, elapsed) = concurrent_creates(&store, &value, phase, args.concurrency).await?;
    report(&format!("create, {} tasks", args.concurrency), samples, elapsed, "writes/s");

    let (samples, elapsed) = gets(&store, &sequential_keys, phase).await?;
    report("get", samples, elapsed, "reads/s");

    let (samples, elapsed) = lists(&store, &value, args.list_keys, phase).await?;
    report(&format!("list {} keys", args.list_keys), samples, elapsed, "lists/s");

    let (samples, elapsed) = historic_lists(&store, &value, args.list_keys, phase).await?;
    report(&format!("list {} keys at a past revision", args.list_keys), samples, elapsed, "lists/s");

    let (samples, elapsed) = watch_fan_out(&store, args.watchers, args.watched_writes).await?;
    report(&format!("watch fan-out, {} watchers", args.watchers), samples, elapsed, "events/s");

    println!("  revisions written: {}", store.current_revision());
    drop(store);
    if args.dir.is_some() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}

async fn sequential_creates(
    store: &Store,
    value: &[u8],
    phase: Duration,
) -> anyhow::Result<(Samples, Duration, Vec<String>)> {
    let mut samples = Samples::with_capacity(4096);
    let mut keys = Vec::new();
    let start = Instant::now();
    while start.elapsed() < phase {
        let key = format!("/registry/configmaps/sequential/cm-{}", keys.len());
        let began = Instant::now();
        store.create(&key, value.to_vec()).await.context("sequential create")?;
        samples.record(began.elapsed());
        keys.push(key);
    }
    Ok((samples, start.elapsed(), keys))
}

async fn concurrent_creates(
    store: &Store,
    value: &[u8],
    phase: Duration,
    concurrency: usize,
) -> anyhow::Result<(Samples, Duration)> {
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|task| {
            let store = store.clone();
            let value = Bytes::copy_from_slice(value);
            tokio::spawn(async move {
                let mut samples = Samples::with_capacity(1024);
                let mut i = 0usize;
                while start.elapsed() < phase {
                    let key = format!("/registry/configmaps/concurrent-{task}/cm-{i}");
                    let began = Instant::now();
                    store.create(&key, value.clone()).await?;
                    samples.record(began.elapsed());
                    i += 1;
                }
                Ok::<_, k3rs_store::Error>(samples)
            })
        })
        .collect();
    let mut samples = Samples::default();
    for task in tasks {
        samples.extend(task.await.context("writer task")?.context("concurrent create")?);
    }
    Ok((samples, start.elapsed()))
}

async fn gets(store: &Store, keys: &[String], phase: Duration) -> anyhow::Result<(Samples, Duration)> {
    anyhow::ensure!(!keys.is_empty(), "no keys were written to read back");
    let mut samples = Samples::with_capacity(4096);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let start = Instant::now();
    while start.elapsed() < phase {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let key = &keys[(seed >> 33) as usize % keys.len()];
        let began = Instant::now();
        let found = store.get(key).await.context("get")?;
        samples.record(began.elapsed());
        anyhow::ensure!(found.is_some(), "{key} vanished");
    }
    Ok((samples, start.elapsed()))
}

async fn lists(store: &Store, value: &[u8], count: usize, phase: Duration) -> anyhow::Result<(Samples, Duration)> {
    let prefix = "/registry/configmaps/listed/";
    for i in 0..count {
        store.create(&format!("{prefix}cm-{i:05}"), value.to_vec()).await.context("create for list")?;
    }
    let mut samples = Samples::with_capacity(1024);
    let start = Instant::now();
    while start.elapsed() < phase {
        let began = Instant::now();
        let list = store.list(prefix, ListOptions::default()).await.context("list")?;
        samples.record(began.elapsed());
        anyhow::ensure!(list.items.len() == count, "listed {} keys, expected {count}", list.items.len());
    }
    Ok((samples, start.elapsed()))
}

/// Lists the namespace of the list phase as it was before every key in it was updated once,
/// as a paginated list's later pages do.
async fn historic_lists(
    store: &Store,
    value: &[u8],
    count: usize,
    phase: Duration,
) -> anyhow::Result<(Samples, Duration)> {
    let prefix = "/registry/configmaps/listed/";
    let before = store.list(prefix, ListOptions::default()).await.context("list before updates")?;
    for kv in &before.items {
        store.update(&kv.key, value.to_vec(), kv.mod_revision).await.context("update for historic list")?;
    }
    let mut samples = Samples::with_capacity(1024);
    let start = Instant::now();
    while start.elapsed() < phase {
        let began = Instant::now();
        let options = ListOptions { revision: Some(before.revision), ..ListOptions::default() };
        let list = store.list(prefix, options).await.context("list at a past revision")?;
        samples.record(began.elapsed());
        anyhow::ensure!(list.items == before.items, "the past revision's list changed");
    }
    anyhow::ensure!(before.items.len() == count, "listed {} keys, expected {count}", before.items.len());
    Ok((samples, start.elapsed()))
}

/// Each write carries the time it was started (nanoseconds since `base`); every watcher records
/// how long after that it received the event.
async fn watch_fan_out(store: &Store, watchers: usize, writes: usize) -> anyhow::Result<(Samples, Duration)> {
    let prefix = "/registry/configmaps/watched/";
    let base = Instant::now();
    let from = store.current_revision();
    let mut tasks = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let mut stream = store.watch(prefix, from).await.context("watch")?;
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::with_capacity(writes);
            while samples.len() < writes {
                let event = match stream.next().await {
                    Some(event) => event?,
                    None => break,
                };
                let stamp = std::str::from_utf8(&event.kv.value).ok().and_then(|text| text.parse::<u64>().ok());
                if let Some(stamp) = stamp {
                    samples.record(base.elapsed().saturating_sub(Duration::from_nanos(stamp)));
                }
            }
            Ok::<_, k3rs_store::Error>(samples)
        }));
    }
    let start = Instant::now();
    for i in 0..writes {
        let stamp = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        store.create(&format!("{prefix}cm-{i}"), stamp.to_string().into_bytes()).await.context("watched create")?;
    }
    let mut samples = Samples::default();
    for task in tasks {
        samples.extend(task.await.context("watcher task")?.context("watch stream")?);
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(
        samples.len() == watchers * writes,
        "watchers saw {} of {} events",
        samples.len(),
        watchers * writes
    );
    Ok((samples, elapsed))
}
