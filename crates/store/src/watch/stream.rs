//! One watcher's stream: every event under a prefix after a revision, in revision order, then
//! live events.
//!
//! A watcher starts from the hub's ring when the ring still reaches back to its revision.
//! Otherwise it reads the backend's history page by page, and after each page tries again to
//! attach to the hub from where the history left off. Attaching copies the ring's backlog and
//! registers for live events under one lock, so no event falls between the two; events that the
//! history already delivered (a commit is visible in the database a moment before it reaches the
//! hub) are skipped by revision.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::hub::{Subscription, WatchHub};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::keys::KeyRange;
use crate::types::Event;

/// Events read from history per backend call.
const HISTORY_PAGE: usize = 512;

/// The events of one watch. Yields `Err` at most once, as its last item: `Compacted` if history
/// was compacted while catching up, `WatcherTooSlow` if the consumer fell too far behind.
/// It ends without error when the store shuts down.
pub struct WatchStream {
    inner: BoxStream<'static, Result<Event>>,
}

impl Stream for WatchStream {
    type Item = Result<Event>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for WatchStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").finish_non_exhaustive()
    }
}

impl WatchStream {
    /// Starts a watch. The caller has checked `after_revision` against the compacted revision.
    pub(crate) fn start(backend: Arc<dyn Backend>, hub: Arc<WatchHub>, prefix: String, after_revision: i64) -> Self {
        let range = KeyRange::new(&prefix, None);
        let mut watcher = Watcher {
            backend,
            hub,
            prefix,
            range,
            position: after_revision,
            pending: VecDeque::new(),
            live: None,
            finished: false,
        };
        // Attach now when the ring allows it, so that writes made right after `watch` returns
        // are seen even before the stream is first polled.
        watcher.try_attach();
        let inner = futures::stream::unfold(watcher, |mut watcher| async move {
            let item = watcher.next().await?;
            Some((item, watcher))
        })
        .boxed();
        WatchStream { inner }
    }
}

struct Watcher {
    backend: Arc<dyn Backend>,
    hub: Arc<WatchHub>,
    prefix: String,
    range: KeyRange,
    /// Every event up to this revision has been yielded or sits in `pending`.
    position: i64,
    pending: VecDeque<Event>,
    live: Option<Subscription>,
    finished: bool,
}

impl Watcher {
    fn try_attach(&mut self) -> bool {
        match self.hub.attach(&self.range, self.position) {
            Some((backlog, subscription)) => {
                if let Some(last) = backlog.last() {
                    self.position = last.revision();
                }
                self.pending.extend(backlog);
                self.live = Some(subscription);
                true
            }
            None => false,
        }
    }

    async fn next(&mut self) -> Option<Result<Event>> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if let Some(live) = &mut self.live {
                match live.rx.recv().await {
                    Some(event) if event.revision() <= self.position => continue,
                    Some(event) => {
                        self.position = event.revision();
                        return Some(Ok(event));
                    }
                    None => {
                        self.finished = true;
                        if live.overflowed.load(Ordering::Acquire) {
                            return Some(Err(Error::WatcherTooSlow { capacity: self.hub.buffer() }));
                        }
                        return None;
                    }
                }
            }
            if self.try_attach() {
                continue;
            }
            let page = match self.backend.history(self.prefix.clone(), self.position, HISTORY_PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            };
            let progressed = page.scanned_through > self.position;
            self.position = self.position.max(page.scanned_through);
            self.pending.extend(page.events);
            if !progressed && self.pending.is_empty() {
                // The hub is ahead of what the backend's reads show (a backend that reports
                // commits before they are readable); give the reads a moment rather than spinning.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use futures::future::BoxFuture;

    use super::*;
    use crate::types::{EventKind, HistoryPage, KeyValue, ListOptions, ListResult, WriteOp};

    /// A backend whose history is a list the test controls, so that the test can make a commit
    /// readable before the hub hears of it.
    struct ScriptedHistory {
        log: Mutex<Vec<Event>>,
    }

    fn unsupported<T: Send + 'static>() -> BoxFuture<'static, Result<T>> {
        Box::pin(async { Err(Error::Backend("not used by this test".into())) })
    }

    impl Backend for ScriptedHistory {
        fn write(&self, _: WriteOp) -> BoxFuture<'_, Result<Event>> {
            unsupported()
        }
        fn get(&self, _: String) -> BoxFuture<'_, Result<Option<KeyValue>>> {
            unsupported()
        }
        fn list(&self, _: String, _: ListOptions) -> BoxFuture<'_, Result<ListResult>> {
            unsupported()
        }
        fn count(&self, _: String) -> BoxFuture<'_, Result<u64>> {
            unsupported()
        }
        fn history(&self, prefix: String, after: i64, limit: usize) -> BoxFuture<'_, Result<HistoryPage>> {
            let log = self.log.lock().expect("log").clone();
            Box::pin(async move {
                let current = log.last().map_or(0, Event::revision);
                let events: Vec<Event> = log
                    .into_iter()
                    .filter(|event| event.revision() > after && event.kv.key.starts_with(&prefix))
                    .take(limit)
                    .collect();
                Ok(HistoryPage { events, scanned_through: current })
            })
        }
        fn compact(&self, _: i64) -> BoxFuture<'_, Result<i64>> {
            unsupported()
        }
        fn current_revision(&self) -> i64 {
            self.log.lock().expect("log").last().map_or(0, Event::revision)
        }
        fn compacted_revision(&self) -> i64 {
            0
        }
    }

    fn put(revision: i64) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: format!("/k/{revision}"),
                value: "v".into(),
                create_revision: revision,
                mod_revision: revision,
            },
            prev: None,
        }
    }

    #[tokio::test]
    async fn events_read_from_history_before_the_hub_has_them_are_not_repeated() {
        let backend = Arc::new(ScriptedHistory { log: Mutex::new((1..=3).map(put).collect()) });
        // No ring: the watch must catch up from history.
        let hub = Arc::new(WatchHub::new(0, 16));
        hub.start_at(0);
        hub.publish(vec![put(1), put(2)]);
        let mut stream = WatchStream::start(backend.clone(), hub.clone(), "/k/".into(), 0);
        // History yields 1..=3; revision 3 is committed but the hub has not published it yet.
        for expected in 1..=3 {
            assert_eq!(stream.next().await.expect("event").expect("ok").revision(), expected);
        }
        // Polling once more attaches the watcher to the hub at revision 3; nothing is live yet.
        assert!(futures::FutureExt::now_or_never(stream.next()).is_none());
        backend.log.lock().expect("log").push(put(4));
        hub.publish(vec![put(3), put(4)]);
        assert_eq!(stream.next().await.expect("event").expect("ok").revision(), 4);
    }
}
