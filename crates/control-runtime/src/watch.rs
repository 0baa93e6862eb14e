//! Watches as streams of changes, built on kube-runtime's watcher (list, then watch,
//! relisting with back-off after errors). A relist arrives as one `Resync` with the
//! complete list, so a consumer can drop what disappeared while it was not watching.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Mutex;

use futures::{Stream, StreamExt, future};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tracing::warn;

/// One change seen by a watch.
#[derive(Debug, Clone)]
pub enum Change<K> {
    Apply(K),
    Delete(K),
    /// Every object there is, after a (re)list.
    Resync(Vec<K>),
}

/// The changes of `api`'s objects (selected by `config`), for ever. Errors are logged and
/// the watcher retries.
pub fn changes<K>(api: Api<K>, config: watcher::Config, what: &'static str) -> impl Stream<Item = Change<K>> + Send
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    watcher::watcher(api, config)
        .default_backoff()
        .scan(Vec::new(), move |listing: &mut Vec<K>, event| {
            let out = match event {
                Ok(Event::Init) => {
                    listing.clear();
                    None
                }
                Ok(Event::InitApply(obj)) => {
                    listing.push(obj);
                    None
                }
                Ok(Event::InitDone) => Some(Change::Resync(std::mem::take(listing))),
                Ok(Event::Apply(obj)) => Some(Change::Apply(obj)),
                Ok(Event::Delete(obj)) => Some(Change::Delete(obj)),
                Err(e) => {
                    warn!(watch = %what, error = %e, "watch failed; retrying");
                    None
                }
            };
            future::ready(Some(out))
        })
        .filter_map(future::ready)
}

/// Tracks which watches have delivered their first complete list.
pub struct Synced {
    done: Mutex<HashSet<&'static str>>,
    wanted: usize,
    notify: Notify,
}

impl Synced {
    /// Waits for `wanted` distinct watches.
    pub fn new(wanted: usize) -> Self {
        Synced { done: Mutex::new(HashSet::new()), wanted, notify: Notify::new() }
    }

    pub fn mark(&self, what: &'static str) {
        let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        if done.insert(what) && done.len() >= self.wanted {
            self.notify.notify_waiters();
        }
    }

    pub fn complete(&self) -> bool {
        self.done.lock().unwrap_or_else(|e| e.into_inner()).len() >= self.wanted
    }

    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.complete() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn synced_waits_for_every_watch() {
        let s = std::sync::Arc::new(Synced::new(2));
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        s.mark("pods");
        s.mark("pods");
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        s.mark("nodes");
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter).await.unwrap().unwrap();
    }
}
