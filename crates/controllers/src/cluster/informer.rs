//! Informers: a local cache of one kind kept current by a kube-rs watcher, and a
//! stream of the changes with the previous and the new object (controllers
//! need both, e.g. to requeue the Services a pod's old labels selected).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::warn;

/// A change observed by an informer.
pub enum Change<K> {
    /// Created (`old` is `None`) or updated.
    Applied {
        old: Option<Arc<K>>,
        new: Arc<K>,
    },
    Deleted(Arc<K>),
}

impl<K> Change<K> {
    /// The objects involved: the old one (if any) and the new or deleted one.
    pub fn objects(&self) -> impl Iterator<Item = &Arc<K>> {
        let (a, b) = match self {
            Change::Applied { old, new } => (old.as_ref(), Some(new)),
            Change::Deleted(obj) => (None, Some(obj)),
        };
        a.into_iter().chain(b)
    }
}

type Namespaced<K> = HashMap<String, BTreeMap<String, Arc<K>>>;

/// The cached objects of one kind, by namespace (`""` for cluster-scoped) and name.
pub struct Cache<K> {
    objects: RwLock<Namespaced<K>>,
    synced: watch::Receiver<bool>,
}

impl<K> Cache<K> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Namespaced<K>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.read().get(namespace).and_then(|m| m.get(name)).cloned()
    }

    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().values().flat_map(|m| m.values().cloned()).collect()
    }

    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.read().get(namespace).map(|m| m.values().cloned().collect()).unwrap_or_default()
    }

    /// Waits until the first full list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn is_synced(&self) -> bool {
        *self.synced.borrow()
    }
}

/// Starts watching `api` on `tasks`; returns the cache and the change stream.
pub fn spawn<K>(
    api: Api<K>,
    config: watcher::Config,
    tasks: &mut JoinSet<()>,
) -> (Arc<Cache<K>>, mpsc::UnboundedReceiver<Change<K>>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    let (synced_tx, synced_rx) = watch::channel(false);
    let cache = Arc::new(Cache { objects: RwLock::new(HashMap::new()), synced: synced_rx });
    let (tx, rx) = mpsc::unbounded_channel();
    let feeder = Feeder { cache: cache.clone(), tx, synced: synced_tx, relisted: None };
    tasks.spawn(feeder.run(api, config));
    (cache, rx)
}

struct Feeder<K> {
    cache: Arc<Cache<K>>,
    tx: mpsc::UnboundedSender<Change<K>>,
    synced: watch::Sender<bool>,
    /// Keys seen during a re-list, to find what disappeared meanwhile.
    relisted: Option<Vec<(String, String)>>,
}

fn key<K: Resource>(obj: &K) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

impl<K> Feeder<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    async fn run(mut self, api: Api<K>, config: watcher::Config) {
        let kind = K::kind(&Default::default()).to_string();
        let mut stream = watcher::watcher(api, config).default_backoff().boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => self.handle(event),
                Err(e) => warn!(%kind, error = %e, "watch failed; retrying"),
            }
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Namespaced<K>> {
        self.cache.objects.write().unwrap_or_else(|e| e.into_inner())
    }

    fn apply(&self, obj: K) {
        let (ns, name) = key(&obj);
        let new = Arc::new(obj);
        let old = self.write().entry(ns).or_default().insert(name, new.clone());
        // A re-list repeats unchanged objects: only real changes are reported.
        if old
            .as_ref()
            .is_some_and(|o| o.resource_version().is_some() && o.resource_version() == new.resource_version())
        {
            return;
        }
        let _ = self.tx.send(Change::Applied { old, new });
    }

    fn delete(&self, ns: &str, name: &str) {
        let removed = {
            let mut objects = self.write();
            let removed = objects.get_mut(ns).and_then(|m| m.remove(name));
            if objects.get(ns).is_some_and(BTreeMap::is_empty) {
                objects.remove(ns);
            }
            removed
        };
        if let Some(obj) = removed {
            let _ = self.tx.send(Change::Deleted(obj));
        }
    }

    fn handle(&mut self, event: Event<K>) {
        match event {
            Event::Apply(obj) => self.apply(obj),
            Event::Delete(obj) => {
                let (ns, name) = key(&obj);
                self.delete(&ns, &name);
            }
            Event::Init => self.relisted = Some(Vec::new()),
            Event::InitApply(obj) => {
                if let Some(seen) = self.relisted.as_mut() {
                    seen.push(key(&obj));
                }
                self.apply(obj);
            }
            Event::InitDone => {
                let seen: std::collections::HashSet<_> = self.relisted.take().unwrap_or_default().into_iter().collect();
                let gone: Vec<(String, String)> = {
                    let objects = self.cache.read();
                    objects
                        .iter()
                        .flat_map(|(ns, m)| m.keys().map(move |n| (ns.clone(), n.clone())))
                        .filter(|k| !seen.contains(k))
                        .collect()
                };
                for (ns, name) in gone {
                    self.delete(&ns, &name);
                }
                self.synced.send_replace(true);
            }
        }
    }
}
