//! The pod worker: one task per pod UID.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::context::Context;

/// What the manager tells a worker.
pub(crate) enum WorkerMessage {
    /// A new version of the pod.
    Update(Box<Pod>),
    /// The pod is gone from the API.
    Gone,
    /// The agent stops: stop watching, leave the containers running.
    Detach,
}

pub(crate) struct WorkerHandle {
    tx: mpsc::UnboundedSender<WorkerMessage>,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    pub fn send(&self, message: WorkerMessage) {
        let _ = self.tx.send(message);
    }

    pub async fn join(self) {
        let _ = self.task.await;
    }
}

pub(crate) fn spawn(context: Arc<Context>, pod: Pod, done: mpsc::UnboundedSender<String>) -> WorkerHandle {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let task = tokio::spawn(async move {
        let _ = context;
        while let Some(message) = rx.recv().await {
            if matches!(message, WorkerMessage::Gone | WorkerMessage::Detach) {
                break;
            }
        }
        let _ = done.send(uid);
    });
    WorkerHandle { tx, task }
}
