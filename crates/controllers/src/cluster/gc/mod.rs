//! The garbage collector: watches every resource (metadata only), keeps a
//! graph of owner references, and deletes objects whose owners are gone.
//! Deletion propagation follows upstream:
//! - background: the owner goes at once; its dependents are collected after;
//! - foreground (`foregroundDeletion` finalizer, added by the API server):
//!   dependents are deleted first, those with `blockOwnerDeletion` holding the
//!   owner until they are gone, then the finalizer is removed;
//! - orphan (`orphan` finalizer): the dependents lose their reference to the
//!   owner, then the finalizer is removed.

pub mod absent;
pub mod decide;
pub mod graph;
pub mod monitor;
mod worker;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use kube::Client;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::Error;
use super::resources::{Catalog, ResourceInfo};
use crate::runtime::{Requeue, Shutdown, WorkQueue, run_workers};
use absent::AbsentOwners;
use graph::{Action, Graph, GraphEvent};

/// How often discovery runs again to watch new resources (custom resources).
const RESYNC_PERIOD: Duration = Duration::from_secs(30);
/// How long start-up waits for every watch's first list before collecting anyway.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);
const DELETE_WORKERS: usize = 4;
const ORPHAN_WORKERS: usize = 2;
const ABSENT_OWNERS_REMEMBERED: usize = 500;
/// A reference to a kind discovery has not shown asks for discovery to run again,
/// at most this often, and is looked at again after the same delay.
const REDISCOVERY_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) struct Collector {
    client: Client,
    graph: Mutex<Graph>,
    absent: Mutex<AbsentOwners>,
    catalog: RwLock<Catalog>,
    events: mpsc::UnboundedSender<GraphEvent>,
    delete_queue: WorkQueue<String>,
    orphan_queue: WorkQueue<String>,
    /// Asks the resync loop to run discovery now (a new custom resource is referenced).
    rediscover: tokio::sync::Notify,
}

impl Collector {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn absent(&self) -> MutexGuard<'_, AbsentOwners> {
        self.absent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn catalog(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Turns an unknown kind into a later retry after discovery ran again, rather
    /// than a failure with an ever longer back-off.
    fn unknown_kind_later(&self, result: Result<Requeue, Error>) -> Result<Requeue, Error> {
        match result {
            Err(Error::UnknownKind { .. }) => {
                self.rediscover.notify_one();
                Ok(Some(REDISCOVERY_INTERVAL))
            }
            other => other,
        }
    }

    fn set_catalog(&self, catalog: Catalog) {
        let scopes = catalog
            .preferred()
            .iter()
            .map(|r| ((r.resource.group.clone(), r.resource.kind.clone()), r.namespaced))
            .collect();
        self.graph().set_scopes(scopes);
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = catalog;
    }

    /// Applies graph events in order and queues the work they call for.
    async fn build_graph(self: Arc<Self>, mut events: mpsc::UnboundedReceiver<GraphEvent>) {
        while let Some(event) = events.recv().await {
            let actions = self.graph().apply(event);
            for action in actions {
                match action {
                    Action::AttemptToDelete(uid) => self.delete_queue.add(uid),
                    Action::AttemptToOrphan(uid) => self.orphan_queue.add(uid),
                    Action::MarkAbsent(id) => self.absent().add(id),
                }
            }
        }
    }
}

/// Resources the collector watches: everything that can be listed, watched
/// and deleted, except events (never owners, and the busiest resource).
fn watchable(r: &ResourceInfo) -> bool {
    ["list", "watch", "delete"].iter().all(|v| r.supports(v)) && r.resource.plural != "events"
}

/// The monitors started so far, by group and resource.
struct Monitors {
    client: Client,
    events: mpsc::UnboundedSender<GraphEvent>,
    started: HashSet<(String, String)>,
}

impl Monitors {
    /// Starts a monitor for each watchable resource not watched yet; returns
    /// their "listed" signals.
    fn start(&mut self, catalog: &Catalog, tasks: &mut JoinSet<()>) -> Vec<watch::Receiver<bool>> {
        let mut synced = Vec::new();
        for r in catalog.preferred().iter().filter(|r| watchable(r)) {
            if self.started.insert((r.resource.group.clone(), r.resource.plural.clone())) {
                let (sync_tx, sync_rx) = watch::channel(false);
                synced.push(sync_rx);
                tasks.spawn(monitor::run(self.client.clone(), r.resource.clone(), self.events.clone(), sync_tx));
            }
        }
        synced
    }
}

async fn discover_until_done(client: &Client) -> Catalog {
    let mut delay = Duration::from_millis(200);
    loop {
        match Catalog::discover(client).await {
            Ok(c) => return c,
            Err(e) => warn!(error = %e, "garbage collector: discovery failed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

pub async fn run(client: Client) -> Result<(), Error> {
    let mut tasks = JoinSet::new();
    // Dropping the trigger (this future ends or is dropped) stops the workers.
    let (_stop, shutdown) = Shutdown::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let collector = Arc::new(Collector {
        client: client.clone(),
        graph: Mutex::new(Graph::default()),
        absent: Mutex::new(AbsentOwners::new(ABSENT_OWNERS_REMEMBERED)),
        catalog: RwLock::new(Catalog::default()),
        events: tx.clone(),
        delete_queue: WorkQueue::default(),
        orphan_queue: WorkQueue::default(),
        rediscover: tokio::sync::Notify::new(),
    });
    tasks.spawn(collector.clone().build_graph(rx));

    // One monitor per resource, started as discovery finds them.
    let mut monitors = Monitors { client: client.clone(), events: tx, started: HashSet::new() };
    let catalog = discover_until_done(&client).await;
    let mut synced = monitors.start(&catalog, &mut tasks);
    collector.set_catalog(catalog);

    let all_synced = futures::future::join_all(synced.iter_mut().map(|rx| async move {
        let _ = rx.wait_for(|s| *s).await;
    }));
    if tokio::time::timeout(SYNC_TIMEOUT, all_synced).await.is_err() {
        warn!("garbage collector: not every resource's watch has listed yet; collecting anyway");
    }
    info!(objects = collector.graph().len(), "garbage collector: all resource monitors have synced");

    let deleters = {
        let c = collector.clone();
        let queue = collector.delete_queue.clone();
        run_workers("garbagecollector", queue, DELETE_WORKERS, shutdown.clone(), move |uid: String| {
            let c = c.clone();
            async move { c.unknown_kind_later(c.attempt_to_delete(&uid).await) }
        })
    };
    let orphaners = {
        let c = collector.clone();
        let queue = collector.orphan_queue.clone();
        run_workers("garbagecollector-orphan", queue, ORPHAN_WORKERS, shutdown.clone(), move |uid: String| {
            let c = c.clone();
            async move { c.unknown_kind_later(c.attempt_to_orphan(&uid).await) }
        })
    };
    let resync = async {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(RESYNC_PERIOD) => {}
                _ = collector.rediscover.notified() => {}
            }
            match Catalog::discover(&client).await {
                Ok(catalog) => {
                    monitors.start(&catalog, &mut tasks);
                    collector.set_catalog(catalog);
                }
                Err(e) => warn!(error = %e, "garbage collector: rediscovery failed"),
            }
            // However often it is asked for, discovery runs at most this often.
            tokio::time::sleep(REDISCOVERY_INTERVAL).await;
        }
    };
    tokio::join!(deleters, orphaners, resync);
    Ok(())
}
