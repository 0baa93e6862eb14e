//! Watching running containers: for each, a task that waits for its process to exit,
//! lets the log pump drain, works out the reason (OOM kill or exit code) and the
//! termination message, records the exit in the container's labels, and deletes the
//! task. Also a watcher of containerd's OOM events.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use containerd_client::services::v1::{DeleteTaskRequest, SubscribeRequest, WaitRequest};
use futures::StreamExt;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::labels;
use super::status::{ContainerExit, ExitReason};
use crate::containerd::Containerd;
use crate::error::is_not_found;
use crate::io::pump::{OutputChunk, Pump};
use crate::runtime::Runtime;

/// A container the runtime watches (started by us, or re-adopted).
pub(crate) struct Live {
    /// Set once the exit is known and recorded.
    pub(crate) exit: watch::Receiver<Option<ContainerExit>>,
    pub(crate) pump: Option<Pump>,
    /// The container's stdin FIFO, held open read-write for attach.
    pub(crate) stdin: Option<Arc<File>>,
    pub(crate) tty: bool,
    pub(crate) monitor: Mutex<Option<JoinHandle<()>>>,
}

impl Live {
    pub(crate) fn output(&self) -> Option<broadcast::Sender<OutputChunk>> {
        self.pump.as_ref().map(|p| p.output.clone())
    }

    /// Stops watching (the container keeps running).
    pub(crate) fn detach(&self) {
        if let Some(pump) = &self.pump {
            pump.stop();
        }
        if let Ok(mut monitor) = self.monitor.lock()
            && let Some(handle) = monitor.take()
        {
            handle.abort();
        }
    }
}

/// Containers the OOM killer struck, as containerd's `/tasks/oom` events report them.
pub(crate) struct OomWatch {
    seen: Arc<Mutex<HashSet<String>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl OomWatch {
    pub(crate) fn start(containerd: Containerd) -> OomWatch {
        let seen = Arc::new(Mutex::new(HashSet::new()));
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                loop {
                    let filter = format!("namespace=={},topic==\"/tasks/oom\"", containerd.namespace());
                    let request = SubscribeRequest { filters: vec![filter] };
                    if let Ok(response) = containerd.events().subscribe(tonic::Request::new(request)).await {
                        let mut stream = response.into_inner();
                        while let Some(Ok(envelope)) = stream.next().await {
                            let Some(event) = envelope.event else { continue };
                            if let Ok(oom) =
                                <containerd_client::events::TaskOom as prost::Message>::decode(&event.value[..])
                                && let Ok(mut seen) = seen.lock()
                            {
                                seen.insert(oom.container_id);
                            }
                        }
                    }
                    // containerd restarts or is not up yet: subscribe again.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
        OomWatch { seen, task: Mutex::new(Some(task)) }
    }

    pub(crate) fn take(&self, id: &str) -> bool {
        self.seen.lock().map(|mut seen| seen.remove(id)).unwrap_or(false)
    }

    pub(crate) fn stop(&self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

/// Waits for the task's main process to exit; rides out containerd restarts.
pub(crate) async fn wait_task(containerd: &Containerd, id: &str) -> (i32, jiff::Timestamp) {
    loop {
        let request = WaitRequest { container_id: id.to_string(), exec_id: String::new() };
        match containerd.tasks().wait(containerd.request(request)).await {
            Ok(response) => {
                let response = response.into_inner();
                let finished = response
                    .exited_at
                    .and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok())
                    .unwrap_or_else(jiff::Timestamp::now);
                return (response.exit_status as i32, finished);
            }
            // The task is gone (deleted behind our back): its exit code is lost.
            Err(status) if is_not_found(&status) => return (255, jiff::Timestamp::now()),
            Err(status) => {
                tracing::debug!(%id, %status, "waiting for task failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Starts the monitor of a container and returns the receiver of its exit.
pub(crate) fn spawn_monitor(
    runtime: &Runtime,
    id: &str,
    cgroup: String,
    pump_done: Option<watch::Receiver<bool>>,
    exit_tx: watch::Sender<Option<ContainerExit>>,
) -> JoinHandle<()> {
    let runtime = runtime.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let containerd = runtime.containerd().clone();
        let (exit_code, finished_at) = wait_task(&containerd, &id).await;
        // Let the pump write the last lines, so that logs are complete when the exit is reported.
        if let Some(mut done) = pump_done {
            let _ = tokio::time::timeout(Duration::from_secs(5), done.wait_for(|d| *d)).await;
        }
        let oom_from_cgroup = {
            let cgroup = cgroup.clone();
            tokio::task::spawn_blocking(move || crate::cgroups::oom_kills(&cgroup).unwrap_or(0) > 0)
                .await
                .unwrap_or(false)
        };
        // The OOM event may trail the exit slightly.
        let mut oom = oom_from_cgroup || runtime.inner.oom.take(&id);
        if !oom && exit_code == 137 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            oom = runtime.inner.oom.take(&id);
        }
        let reason = ExitReason::for_exit(exit_code, oom);
        let message = runtime.termination_message(&id).await;
        let exit = ContainerExit { exit_code, finished_at, reason, message };
        let labels = BTreeMap::from([
            (labels::EXIT_CODE.to_string(), exit_code.to_string()),
            (labels::FINISHED_AT.to_string(), finished_at.to_string()),
            (labels::REASON.to_string(), reason.as_str().to_string()),
        ]);
        if let Err(err) = runtime.set_labels(&id, labels).await {
            tracing::warn!(%id, %err, "recording the container's exit failed");
        }
        let delete = DeleteTaskRequest { container_id: id.clone() };
        if let Err(status) = containerd.tasks().delete(containerd.request(delete)).await
            && !is_not_found(&status)
        {
            tracing::warn!(%id, %status, "deleting the exited task failed");
        }
        tracing::debug!(%id, exit_code, reason = reason.as_str(), "container exited");
        let _ = exit_tx.send(Some(exit));
    })
}
