//! An informer: one watch of a kind across all namespaces, a local cache of the objects
//! it saw, and change handlers, as client-go's shared informers provide. Controllers
//! read the cache instead of the API server and turn changes into work-queue keys.
//!
//! Handlers run on the informer's task, one change at a time and in order, outside any
//! lock of the cache. They must be quick (enqueue keys, adjust expectations); reading
//! any informer's cache from a handler is fine.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tracing::{debug, warn};

use super::key::ObjectKey;
use super::shutdown::Shutdown;

/// What changed in the cache.
#[derive(Debug)]
pub enum Change<K> {
    Added(Arc<K>),
    Updated { old: Arc<K>, new: Arc<K> },
    Deleted(Arc<K>),
}

impl<K> Change<K> {
    /// The objects involved: the old one (if any), then the new or deleted one.
    pub fn objects(&self) -> impl Iterator<Item = &Arc<K>> {
        let (old, new) = match self {
            Change::Added(new) => (None, new),
            Change::Updated { old, new } => (Some(old), new),
            Change::Deleted(obj) => (None, obj),
        };
        old.into_iter().chain(std::iter::once(new))
    }

    /// The object as it now is, or as it was when deleted.
    pub fn latest(&self) -> &Arc<K> {
        match self {
            Change::Added(obj) | Change::Updated { new: obj, .. } | Change::Deleted(obj) => obj,
        }
    }

    /// The object as it now is, unless it was deleted.
    pub fn applied(&self) -> Option<&Arc<K>> {
        match self {
            Change::Added(new) | Change::Updated { new, .. } => Some(new),
            Change::Deleted(_) => None,
        }
    }
}

type Handler<K> = Arc<dyn Fn(&Change<K>) + Send + Sync>;

/// Bounds every kind an informer can watch.
pub trait Watchable: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static {}
impl<K> Watchable for K where K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static {}

struct Inner<K> {
    objects: RwLock<BTreeMap<ObjectKey, Arc<K>>>,
    handlers: Mutex<Vec<Handler<K>>>,
    synced: watch::Sender<bool>,
}

/// A handle on one kind's cache; clones share it.
pub struct Informer<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer { inner: self.inner.clone() }
    }
}

fn resource_version<K: Resource>(obj: &K) -> Option<&str> {
    obj.meta().resource_version.as_deref()
}

impl<K: Watchable> Informer<K> {
    /// An informer with an empty cache that nothing feeds yet (see [`Informer::start`]).
    pub fn new() -> Self {
        let (synced, _) = watch::channel(false);
        Informer {
            inner: Arc::new(Inner { objects: RwLock::new(BTreeMap::new()), handlers: Mutex::new(Vec::new()), synced }),
        }
    }

    /// Starts the watch that feeds this informer; it runs until `shutdown` fires.
    pub fn start(&self, client: Client, shutdown: Shutdown) {
        self.start_with(Api::all(client), watcher::Config::default(), shutdown);
    }

    /// An informer fed by a watch of `api` narrowed by `config` until `shutdown` fires.
    pub fn watch(api: Api<K>, config: watcher::Config, shutdown: Shutdown) -> Self {
        let informer = Self::new();
        informer.start_with(api, config, shutdown);
        informer
    }

    /// Starts a watch of `api` narrowed by `config` (label or field selectors), for a
    /// controller that only cares about some objects of the kind.
    pub fn start_with(&self, api: Api<K>, config: watcher::Config, shutdown: Shutdown) {
        let this = self.clone();
        tokio::spawn(async move {
            let stream = watch_stream(api, config).default_backoff();
            futures::pin_mut!(stream);
            let mut shutdown = shutdown;
            let mut relist: Option<BTreeMap<ObjectKey, Arc<K>>> = None;
            loop {
                let event = tokio::select! {
                    _ = shutdown.wait() => break,
                    e = stream.next() => e,
                };
                match event {
                    None => break,
                    Some(Ok(Event::Init)) => relist = Some(BTreeMap::new()),
                    Some(Ok(Event::InitApply(obj))) => {
                        relist.get_or_insert_with(BTreeMap::new).insert(ObjectKey::of(&obj), Arc::new(obj));
                    }
                    Some(Ok(Event::InitDone)) => {
                        this.replace_all(relist.take().unwrap_or_default());
                        this.inner.synced.send_replace(true);
                    }
                    Some(Ok(Event::Apply(obj))) => this.apply(obj),
                    Some(Ok(Event::Delete(obj))) => this.delete(obj),
                    Some(Err(e)) => warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying"),
                }
            }
            debug!(kind = %K::kind(&()), "informer stopped");
        });
    }

    /// Adds a handler. It first receives an `Added` for every object already cached,
    /// then every later change.
    pub fn add_handler(&self, handler: impl Fn(&Change<K>) + Send + Sync + 'static) {
        let handler: Handler<K> = Arc::new(handler);
        let mut handlers = self.inner.handlers.lock().unwrap_or_else(|e| e.into_inner());
        for obj in self.list() {
            handler(&Change::Added(obj));
        }
        handlers.push(handler);
    }

    fn dispatch(&self, change: Change<K>) {
        let handlers = self.inner.handlers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for handler in handlers {
            handler(&change);
        }
    }

    fn apply(&self, obj: K) {
        let key = ObjectKey::of(&obj);
        let new = Arc::new(obj);
        let old = self.inner.objects.write().unwrap_or_else(|e| e.into_inner()).insert(key, new.clone());
        match old {
            Some(old) => self.dispatch(Change::Updated { old, new }),
            None => self.dispatch(Change::Added(new)),
        }
    }

    fn delete(&self, obj: K) {
        let key = ObjectKey::of(&obj);
        self.inner.objects.write().unwrap_or_else(|e| e.into_inner()).remove(&key);
        // The watch's final state of the object is the most recent one, so it is reported.
        self.dispatch(Change::Deleted(Arc::new(obj)));
    }

    /// After a (re)list: what appeared or changed is reported, and what vanished while the
    /// watch was down is reported deleted.
    fn replace_all(&self, fresh: BTreeMap<ObjectKey, Arc<K>>) {
        let previous =
            std::mem::replace(&mut *self.inner.objects.write().unwrap_or_else(|e| e.into_inner()), fresh.clone());
        let mut changes = Vec::new();
        for (key, new) in &fresh {
            match previous.get(key) {
                None => changes.push(Change::Added(new.clone())),
                Some(old) if resource_version(old.as_ref()) != resource_version(new.as_ref()) => {
                    changes.push(Change::Updated { old: old.clone(), new: new.clone() })
                }
                Some(_) => {}
            }
        }
        for (key, old) in previous {
            if !fresh.contains_key(&key) {
                changes.push(Change::Deleted(old));
            }
        }
        for change in changes {
            self.dispatch(change);
        }
    }

    /// Whether the first list has been loaded.
    pub fn has_synced(&self) -> bool {
        *self.inner.synced.borrow()
    }

    /// Waits until the first list has been loaded.
    pub async fn wait_synced(&self) {
        let mut rx = self.inner.synced.subscribe();
        let _ = rx.wait_for(|synced| *synced).await;
    }

    pub fn get(&self, key: &ObjectKey) -> Option<Arc<K>> {
        self.inner.objects.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.inner.objects.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    /// The cached objects of one namespace.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        let objects = self.inner.objects.read().unwrap_or_else(|e| e.into_inner());
        let start = ObjectKey::new(namespace, "");
        objects.range(start..).take_while(|(k, _)| k.namespace == namespace).map(|(_, v)| v.clone()).collect()
    }

    /// A cached object by namespace (empty for cluster-scoped kinds) and name.
    pub fn get_named(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.get(&ObjectKey::new(namespace, name))
    }

    /// Puts an object in the cache as if the watch had reported it (tests, and
    /// controllers that want their own writes visible before the watch echoes them).
    pub fn inject(&self, obj: K) {
        self.apply(obj);
    }

    /// Removes an object from the cache as if the watch had reported its deletion.
    pub fn inject_delete(&self, obj: K) {
        self.delete(obj);
    }

    /// Marks the cache loaded without a watch (tests).
    pub fn mark_synced(&self) {
        self.inner.synced.send_replace(true);
    }
}

impl<K: Watchable> Default for Informer<K> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(ns: &str, name: &str, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn recorder(informer: &Informer<Pod>) -> Arc<Mutex<Vec<String>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        informer.add_handler(move |c| {
            let line = match c {
                Change::Added(p) => format!("add {}", ObjectKey::of(p.as_ref())),
                Change::Updated { new, .. } => format!("update {}", ObjectKey::of(new.as_ref())),
                Change::Deleted(p) => format!("delete {}", ObjectKey::of(p.as_ref())),
            };
            s.lock().unwrap().push(line);
        });
        seen
    }

    #[test]
    fn handlers_see_existing_objects_then_changes() {
        let informer = Informer::<Pod>::new();
        informer.inject(pod("a", "p1", "1"));
        let seen = recorder(&informer);
        informer.inject(pod("a", "p1", "2"));
        informer.inject(pod("b", "p2", "3"));
        informer.inject_delete(pod("a", "p1", "4"));
        assert_eq!(*seen.lock().unwrap(), vec!["add a/p1", "update a/p1", "add b/p2", "delete a/p1"]);
        assert!(informer.get(&ObjectKey::new("a", "p1")).is_none());
        assert_eq!(informer.list_namespace("b").len(), 1);
        assert!(informer.list_namespace("a").is_empty());
    }

    #[test]
    fn changes_name_their_objects() {
        let (old, new) = (Arc::new(pod("a", "p", "1")), Arc::new(pod("a", "p", "2")));
        let updated = Change::Updated { old: old.clone(), new: new.clone() };
        let versions: Vec<_> = updated.objects().map(|p| resource_version(p.as_ref()).unwrap()).collect();
        assert_eq!(versions, vec!["1", "2"]);
        assert!(updated.applied().is_some_and(|p| Arc::ptr_eq(p, &new)));
        let deleted = Change::Deleted(old);
        assert_eq!(deleted.objects().count(), 1);
        assert!(deleted.applied().is_none());
    }

    #[test]
    fn relist_reports_vanished_and_changed_objects() {
        let informer = Informer::<Pod>::new();
        informer.inject(pod("a", "keep", "1"));
        informer.inject(pod("a", "gone", "1"));
        informer.inject(pod("a", "changed", "1"));
        let seen = recorder(&informer);
        seen.lock().unwrap().clear();
        let mut fresh = BTreeMap::new();
        for p in [pod("a", "keep", "1"), pod("a", "changed", "5"), pod("a", "new", "6")] {
            fresh.insert(ObjectKey::of(&p), Arc::new(p));
        }
        informer.replace_all(fresh);
        let mut got = seen.lock().unwrap().clone();
        got.sort();
        assert_eq!(got, vec!["add a/new", "delete a/gone", "update a/changed"]);
    }
}
