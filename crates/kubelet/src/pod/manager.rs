//! The pod manager: watches the pods bound to this node (`spec.nodeName=<node>`) and runs
//! one pod worker per pod UID. It hands every version of a pod to its worker, tells the
//! worker when the pod is gone from the API, and, once the first list is in, removes what
//! the runtime still holds for pods that no longer exist (pods deleted while the agent was
//! down).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::KubeletConfig;
use super::context::Context;
use super::directory::PodDirectory;
use super::worker::{self, WorkerHandle, WorkerMessage};
use super::{PodManagerError, cleanup};
use k3rs_runtime::Runtime;

/// The pod manager. See [`PodManager::start`].
pub struct PodManager;

/// A running pod manager. Dropping it stops the manager like [`PodManagerHandle::shutdown`]
/// would, without waiting.
pub struct PodManagerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    directory: PodDirectory,
}

impl PodManager {
    /// Starts watching the pods bound to `config.node_name` and running them on `runtime`.
    /// Containers left running by an earlier run of the agent are re-adopted (probes
    /// resume; healthy containers are not restarted).
    pub async fn start(
        client: Client,
        runtime: Runtime,
        config: KubeletConfig,
    ) -> Result<PodManagerHandle, PodManagerError> {
        let context = Context::new(client, runtime, config).await?;
        let directory = context.directory.clone();
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(context, stop_rx));
        Ok(PodManagerHandle { stop: Some(stop_tx), task: Some(task), directory })
    }
}

impl PodManagerHandle {
    /// The pods the workers run, with the status they computed: what the kubelet's
    /// streaming endpoint resolves pod and container names with.
    pub fn directory(&self) -> PodDirectory {
        self.directory.clone()
    }

    /// Stops watching and stops every pod worker (probes, status updates). Containers keep
    /// running: a new manager on the same runtime re-adopts them.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PodManagerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The watch loop.
async fn run(context: Arc<Context>, mut stop: oneshot::Receiver<()>) {
    let node = context.config.node_name.clone();
    let pods: Api<Pod> = Api::all(context.client.clone());
    let selector = format!("spec.nodeName={node}");
    let mut stream = watcher::watcher(pods, watcher::Config::default().fields(&selector)).default_backoff().boxed();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    let mut workers: HashMap<String, WorkerHandle> = HashMap::new();
    // Pods whose worker finished (deleted); later events about them are stale.
    let mut finished: HashSet<String> = HashSet::new();
    let mut listing: Option<HashSet<String>> = None;
    let mut cleaned_up = false;
    tracing::info!(%node, "pod manager watching pods");
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(uid) = done_rx.recv() => {
                workers.remove(&uid);
                finished.insert(uid);
            }
            event = stream.next() => match event {
                None => break,
                Some(Err(err)) => tracing::warn!(%err, "pod watch failed; retrying"),
                Some(Ok(Event::Init)) => listing = Some(HashSet::new()),
                Some(Ok(Event::InitApply(pod))) => {
                    if let (Some(seen), Some(uid)) = (listing.as_mut(), pod.metadata.uid.clone()) {
                        seen.insert(uid);
                    }
                    dispatch(&context, &mut workers, &finished, &done_tx, pod);
                }
                Some(Ok(Event::InitDone)) => {
                    let seen = listing.take().unwrap_or_default();
                    for (uid, worker) in &workers {
                        if !seen.contains(uid) {
                            worker.send(WorkerMessage::Gone);
                        }
                    }
                    finished.retain(|uid| seen.contains(uid));
                    if !cleaned_up {
                        // Inline, so that no pod added meanwhile is mistaken for an orphan.
                        cleaned_up = true;
                        let known: HashSet<String> = seen.iter().chain(workers.keys()).cloned().collect();
                        cleanup::remove_orphans(&context, &known).await;
                    }
                }
                Some(Ok(Event::Apply(pod))) => dispatch(&context, &mut workers, &finished, &done_tx, pod),
                Some(Ok(Event::Delete(pod))) => {
                    let uid = pod.metadata.uid.clone().unwrap_or_default();
                    if let Some(worker) = workers.get(&uid) {
                        worker.send(WorkerMessage::Gone);
                    }
                    finished.remove(&uid);
                }
            }
        }
    }
    tracing::info!(%node, pods = workers.len(), "pod manager stopping; containers keep running");
    for worker in workers.values() {
        worker.send(WorkerMessage::Detach);
    }
    for (_, worker) in workers.drain() {
        worker.join().await;
    }
}

/// Hands a pod to its worker, starting one for a new UID.
fn dispatch(
    context: &Arc<Context>,
    workers: &mut HashMap<String, WorkerHandle>,
    finished: &HashSet<String>,
    done: &mpsc::UnboundedSender<String>,
    pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone().filter(|u| !u.is_empty()) else { return };
    // A finished pod comes back only if its final delete did not go through: try again.
    if finished.contains(&uid) && pod.metadata.deletion_timestamp.is_none() {
        return;
    }
    match workers.get(&uid) {
        Some(worker) => worker.send(WorkerMessage::Update(Box::new(pod))),
        None => {
            let worker = worker::spawn(context.clone(), pod, done.clone());
            workers.insert(uid, worker);
        }
    }
}
