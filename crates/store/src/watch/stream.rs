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
