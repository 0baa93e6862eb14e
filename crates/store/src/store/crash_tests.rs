//! Durability under SIGKILL: a child process (this test binary, re-run with an environment
//! variable) creates keys and prints each acknowledged revision; the parent kills it mid-stream,
//! reopens the database and checks every acknowledged write is there.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{SqliteOptions, Store, StoreOptions};

const CHILD_DB: &str = "K3RS_STORE_CRASH_CHILD_DB";
const CHILD_FSYNC: &str = "K3RS_STORE_CRASH_CHILD_FSYNC";
const ACKS_BEFORE_KILL: usize = 300;

fn options(fsync: bool) -> StoreOptions {
    StoreOptions {
        compaction: None,
        sqlite: SqliteOptions { fsync, ..SqliteOptions::default() },
        ..StoreOptions::default()
    }
}

/// The child's work; does nothing when run as an ordinary test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Ok(path) = std::env::var(CHILD_DB) else { return };
    let fsync = std::env::var(CHILD_FSYNC).is_ok_and(|value| value == "1");
    let store = Store::open_sqlite(&path, options(fsync)).await.expect("child: open");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Several writers so that group commit batches several writes per transaction.
    let tasks: Vec<_> = (0..4)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let key = format!("/crash/{task}/{i}");
                    let revision = store.create(&key, format!("value-{i}")).await.expect("child: create");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {key} {revision}").expect("child: print");
                    out.flush().expect("child: flush");
                    i += 1;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("child: task");
    }
}

fn kill_mid_stream_and_verify(fsync: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--exact", "store::crash_tests::crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, &path)
        .env(CHILD_FSYNC, if fsync { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut acked: Vec<(String, i64)> = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child output");
        let Some(rest) = line.strip_prefix("ack ") else { continue };
        let (key, revision) = rest.rsplit_once(' ').expect("ack line");
        acked.push((key.to_string(), revision.parse().expect("revision")));
        if !killed && acked.len() >= ACKS_BEFORE_KILL {
            child.kill().expect("SIGKILL the child");
            killed = true;
        }
        // Lines printed before the kill are still read to the end of the pipe.
    }
    let status = child.wait().expect("wait for child");
    assert!(killed, "the child stopped after {} acknowledgements ({status}) before it was killed", acked.len());
    assert!(!status.success(), "the child was killed, yet exited successfully");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = Store::open_sqlite(&path, options(fsync)).await.expect("reopen after crash");
        let highest = acked.iter().map(|(_, revision)| *revision).max().unwrap_or(0);
        assert!(store.current_revision() >= highest);
        for (key, revision) in &acked {
            let kv = store.get(key).await.expect("get").unwrap_or_else(|| panic!("acknowledged {key} was lost"));
            assert_eq!(kv.mod_revision, *revision, "{key}");
        }
        // The store carries on from where the child stopped.
        let next = store.create("/crash/after", "x").await.expect("create after crash");
        assert_eq!(next, store.current_revision());
        assert!(next > highest);
    });
}

#[test]
fn acknowledged_writes_survive_sigkill_with_fsync() {
    kill_mid_stream_and_verify(true);
}

#[test]
fn acknowledged_writes_survive_sigkill_without_fsync() {
    kill_mid_stream_and_verify(false);
}
