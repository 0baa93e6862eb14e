//! Keeps pods in step with the ConfigMaps and Secrets they use (upstream's "Watch" change
//! detection strategy): one watch per object (`fieldSelector=metadata.name=<name>`, which
//! the node authorizer allows a kubelet), shared by every pod that uses it and stopped
//! when the last one goes. A change tells the pods' workers to refresh their volumes (and
//! to retry a container waiting for a missing key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::sources::References;
use super::worker::WorkerMessage;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ObjectKind {
    ConfigMap,
    Secret,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    kind: ObjectKind,
    namespace: String,
    name: String,
}

type Subscribers = Arc<Mutex<HashMap<u64, UnboundedSender<WorkerMessage>>>>;

struct Entry {
    subscribers: Subscribers,
    task: JoinHandle<()>,
}

/// The shared watches.
pub(crate) struct ObjectWatches {
    client: Client,
    entries: Mutex<HashMap<Key, Entry>>,
    next_id: Mutex<u64>,
}

/// A pod's interest in its objects; dropping it unsubscribes.
pub(crate) struct Subscription {
    watches: Arc<ObjectWatches>,
    keys: Vec<Key>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let Ok(mut entries) = self.watches.entries.lock() else { return };
        for key in &self.keys {
            let empty = match entries.get(key) {
                Some(entry) => {
                    let mut subscribers = entry.subscribers.lock().unwrap_or_else(|e| e.into_inner());
                    subscribers.remove(&self.id);
                    subscribers.is_empty()
                }
                None => false,
            };
            if empty && let Some(entry) = entries.remove(key) {
                entry.task.abort();
            }
        }
    }
}

async fn watch<K>(api: Api<K>, name: String, subscribers: Subscribers)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut listed = false;
    while let Some(event) = stream.next().await {
        let notify = match event {
            Ok(Event::InitDone) => {
                // The first list is what the pod already read; a re-list may hide a change.
                let relist = listed;
                listed = true;
                relist
            }
            Ok(Event::Apply(_)) | Ok(Event::Delete(_)) => true,
            Ok(_) => false,
            Err(err) => {
                tracing::debug!(%name, %err, "object watch failed; retrying");
                false
            }
        };
        if notify {
            let subscribers = subscribers.lock().unwrap_or_else(|e| e.into_inner());
            for tx in subscribers.values() {
                let _ = tx.send(WorkerMessage::Resync);
            }
        }
    }
}

impl ObjectWatches {
    pub fn new(client: Client) -> Arc<ObjectWatches> {
        Arc::new(ObjectWatches { client, entries: Mutex::new(HashMap::new()), next_id: Mutex::new(0) })
    }

    /// Subscribes a worker to the objects a pod refers to.
    pub fn subscribe(
        self: &Arc<Self>,
        namespace: &str,
        refs: &References,
        worker: UnboundedSender<WorkerMessage>,
    ) -> Subscription {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|e| e.into_inner());
            *next += 1;
            *next
        };
        let keys: Vec<Key> = refs
            .config_maps
            .iter()
            .map(|n| (ObjectKind::ConfigMap, n))
            .chain(refs.secrets.iter().map(|n| (ObjectKind::Secret, n)))
            .map(|(kind, name)| Key { kind, namespace: namespace.to_string(), name: name.clone() })
            .collect();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for key in &keys {
            let entry = entries.entry(key.clone()).or_insert_with(|| {
                let subscribers: Subscribers = Arc::default();
                let task = match key.kind {
                    ObjectKind::ConfigMap => tokio::spawn(watch(
                        Api::<ConfigMap>::namespaced(self.client.clone(), &key.namespace),
                        key.name.clone(),
                        subscribers.clone(),
                    )),
                    ObjectKind::Secret => tokio::spawn(watch(
                        Api::<Secret>::namespaced(self.client.clone(), &key.namespace),
                        key.name.clone(),
                        subscribers.clone(),
                    )),
                };
                Entry { subscribers, task }
            });
            entry.subscribers.lock().unwrap_or_else(|e| e.into_inner()).insert(id, worker.clone());
        }
        drop(entries);
        Subscription { watches: self.clone(), keys, id }
    }

    /// How many objects are watched (for tests).
    #[cfg(test)]
    fn watched(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watches_are_shared_and_stop_with_the_last_subscriber() {
        // A client that points nowhere: the watch tasks just retry in the background.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let watches = ObjectWatches::new(client);
        let refs = References {
            config_maps: ["a".to_string()].into_iter().collect(),
            secrets: ["s".to_string()].into_iter().collect(),
        };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let first = watches.subscribe("ns", &refs, tx.clone());
        let second = watches.subscribe("ns", &refs, tx);
        assert_eq!(watches.watched(), 2);
        drop(first);
        assert_eq!(watches.watched(), 2);
        drop(second);
        assert_eq!(watches.watched(), 0);
    }
}
