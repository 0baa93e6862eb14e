//! Auto-deployed manifests: every `*.yaml`, `*.yml` and `*.json` file under
//! `<data-dir>/server/manifests/` is applied to the cluster when the server starts
//! and again whenever it changes. k3rs applies them through its own API server,
//! as a client (server-side apply, field manager `k3rs-deploy`), never by writing
//! the datastore. Objects that leave a file, or whose file is deleted, are deleted
//! too; `NAME.skip` beside a file leaves it, and its objects, alone.
//!
//! The directory is watched with inotify; without it (or when events are lost)
//! a rescan every few seconds takes over. Files that fail to apply (say, a custom
//! resource whose CRD is not established yet) are retried with backoff.

mod applier;
mod directory;
mod record;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{info, warn};

use applier::Applier;
use directory::ManifestFile;
use record::{AppliedRecord, ObjectKey};

/// Quiet time after a change before rescanning, so an editor's write-rename-chmod
/// sequence is applied once.
const DEBOUNCE: Duration = Duration::from_millis(300);
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Rescan period when the directory cannot be watched.
const POLL_INTERVAL: Duration = Duration::from_secs(10);

pub struct DeployOptions {
    /// The manifest directory (created when missing).
    pub dir: PathBuf,
    /// Where the record of applied objects is kept.
    pub record: PathBuf,
    /// An admin kubeconfig for the local API server.
    pub kubeconfig: String,
}

/// The running deployer; dropping it stops it.
pub struct DeployTask(tokio::task::JoinHandle<()>);

impl Drop for DeployTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts applying the manifest directory in the background.
pub async fn start(opts: DeployOptions) -> anyhow::Result<DeployTask> {
    let dir = opts.dir.clone();
    let record_path = opts.record.clone();
    let record = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        AppliedRecord::load(&record_path).map_err(|e| {
            anyhow::anyhow!(
                "{e}; remove it to start over (objects of manifests deleted since will then stay in the cluster)"
            )
        })
    })
    .await
    .context("manifest directory task")??;
    let kubeconfig = Kubeconfig::from_yaml(&opts.kubeconfig).context("reading the deployer's kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("configuring the deployer's API client")?;
    let client = kube::Client::try_from(config).context("building the deployer's API client")?;
    let deployer = Deployer {
        dir: opts.dir,
        record_path: opts.record,
        record,
        applier: Applier::new(client),
        applied: HashMap::new(),
    };
    Ok(DeployTask(tokio::spawn(deployer.run())))
}

struct Deployer {
    dir: PathBuf,
    record_path: PathBuf,
    record: AppliedRecord,
    applier: Applier,
    /// Checksums of the files applied by this process; empty at start, so that
    /// every file is applied once when the server starts.
    applied: HashMap<String, String>,
}

impl Deployer {
    async fn run(mut self) {
        let (tx, mut events) = mpsc::unbounded_channel::<()>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reading the files (our own scans) raises access events; anything else,
            // or a watch error, means: look again.
            if !event.as_ref().is_ok_and(|e| matches!(e.kind, notify::EventKind::Access(_))) {
                let _ = tx.send(());
            }
        })
        .and_then(|mut w| w.watch(&self.dir, RecursiveMode::Recursive).map(|()| w));
        let watching = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                warn!(dir = %self.dir.display(), "cannot watch the manifest directory ({e}); rescanning every {}s", POLL_INTERVAL.as_secs());
                None
            }
        };
        let mut backoff = RETRY_MIN;
        loop {
            let complete = self.sync().await;
            let wait = if complete {
                backoff = RETRY_MIN;
                if watching.is_some() { None } else { Some(POLL_INTERVAL) }
            } else {
                let wait = backoff;
                backoff = (backoff * 2).min(RETRY_MAX);
                Some(wait)
            };
            tokio::select! {
                event = events.recv(), if watching.is_some() => {
                    if event.is_none() {
                        // The watcher's sender is gone: nothing more will arrive.
                        warn!("the manifest directory watcher stopped; manifests are no longer applied on change");
                        return;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    while events.try_recv().is_ok() {}
                }
                _ = sleep_for(wait) => {}
            }
        }
    }

    /// One pass over the directory; false when something failed and needs a retry.
    async fn sync(&mut self) -> bool {
        self.applier.forget_kinds();
        let dir = self.dir.clone();
        let (scan, problems) = match tokio::task::spawn_blocking(move || directory::scan(&dir)).await {
            Ok(found) => found,
            Err(e) => {
                warn!("scanning the manifest directory failed: {e}");
                return false;
            }
        };
        let mut complete = problems.is_empty();
        for problem in problems {
            warn!("manifests: {problem}");
        }
        let mut record_changed = false;
        for (name, file) in &scan.files {
            if self.applied.get(name) == Some(&file.checksum) {
                continue;
            }
            let (ok, changed) = self.apply_file(name, file).await;
            complete &= ok;
            record_changed |= changed;
        }
        let gone: Vec<String> = self
            .record
            .files
            .keys()
            .filter(|name| !scan.files.contains_key(*name) && !scan.skipped.contains(name))
            .cloned()
            .collect();
        for name in gone {
            let keys = self.record.files.remove(&name).unwrap_or_default();
            self.applied.remove(&name);
            let left = self.delete_all(&keys).await;
            if left.is_empty() {
                info!(manifest = %name, objects = keys.len(), "manifest removed; deleted its objects");
            } else {
                complete = false;
                self.record.files.insert(name, left);
            }
            record_changed = true;
        }
        if record_changed && !self.save_record().await {
            complete = false;
        }
        complete
    }

    /// Applies one file and prunes what left it; returns (succeeded, record changed).
    async fn apply_file(&mut self, name: &str, file: &ManifestFile) -> (bool, bool) {
        let objects = match directory::objects(name, &file.text) {
            Ok(objects) => objects,
            Err(e) => {
                warn!(manifest = %name, "{e}");
                return (false, false);
            }
        };
        let before = self.record.files.get(name).cloned().unwrap_or_default();
        let mut applied = BTreeSet::new();
        let mut failed = None;
        for object in objects {
            match self.applier.apply(object).await {
                Ok(key) => {
                    applied.insert(key);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            warn!(manifest = %name, path = %file.path.display(), "applying the manifest failed (will retry): {e}");
            // Remember what did land, so that it is pruned if the file goes away.
            let known: BTreeSet<ObjectKey> = before.union(&applied).cloned().collect();
            let changed = known != before;
            self.record.files.insert(name.to_string(), known);
            return (false, changed);
        }
        let stale: BTreeSet<ObjectKey> = before.difference(&applied).cloned().collect();
        let left = self.delete_all(&stale).await;
        let ok = left.is_empty();
        let known: BTreeSet<ObjectKey> = applied.union(&left).cloned().collect();
        let changed = known != before;
        info!(manifest = %name, objects = applied.len(), pruned = stale.len() - left.len(), "applied manifest");
        self.record.files.insert(name.to_string(), known);
        if ok {
            self.applied.insert(name.to_string(), file.checksum.clone());
        }
        (ok, changed)
    }

    /// Deletes `keys`; returns those that could not be deleted.
    async fn delete_all(&mut self, keys: &BTreeSet<ObjectKey>) -> BTreeSet<ObjectKey> {
        let mut left = BTreeSet::new();
        for key in keys {
            if let Err(e) = self.applier.delete(key).await {
                warn!("pruning a manifest object failed (will retry): {e}");
                left.insert(key.clone());
            }
        }
        left
    }

    async fn save_record(&self) -> bool {
        let record = self.record.clone();
        let path = self.record_path.clone();
        match tokio::task::spawn_blocking(move || record.save(&path)).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                warn!("saving the manifest record failed: {e}");
                false
            }
            Err(e) => {
                warn!("saving the manifest record failed: {e}");
                false
            }
        }
    }
}

async fn sleep_for(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
