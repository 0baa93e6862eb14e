//! A rate-limited work queue with client-go's guarantees: a key waiting in the queue
//! is held once however often it is added; a key being processed is never handed to
//! a second worker, and if it is added meanwhile it is processed again afterwards;
//! failed keys come back after a per-key exponential back-off.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

/// Per-key exponential back-off: `base * 2^failures`, at most `max` (client-go's default
/// controller limiter uses 5ms and 1000s).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_millis(5), max: Duration::from_secs(1000) }
    }
}

impl Backoff {
    /// The delay before retry number `failures + 1`.
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 2u32.checked_pow(failures.min(31)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).map_or(self.max, |d| d.min(self.max))
    }
}

struct State<T> {
    queue: VecDeque<T>,
    /// Keys that need processing (queued, or re-added while being processed).
    dirty: HashSet<T>,
    processing: HashSet<T>,
    failures: HashMap<T, u32>,
    shutting_down: bool,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    notify: Notify,
    backoff: Backoff,
}

pub struct WorkQueue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for WorkQueue<T> {
    fn clone(&self) -> Self {
        WorkQueue { inner: self.inner.clone() }
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<T> {
    fn default() -> Self {
        Self::new(Backoff::default())
    }
}

impl<T: Clone + Eq + Hash + Send + 'static> WorkQueue<T> {
    pub fn new(backoff: Backoff) -> Self {
        WorkQueue {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    failures: HashMap::new(),
                    shutting_down: false,
                }),
                notify: Notify::new(),
                backoff,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `item` as needing processing.
    pub fn add(&self, item: T) {
        Self::add_to(&self.inner, item);
    }

    fn add_to(inner: &Inner<T>, item: T) {
        let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.shutting_down || state.dirty.contains(&item) {
            return;
        }
        state.dirty.insert(item.clone());
        if state.processing.contains(&item) {
            // `done` queues it again.
            return;
        }
        state.queue.push_back(item);
        drop(state);
        inner.notify.notify_one();
    }

    /// Adds `item` once `delay` has passed.
    pub fn add_after(&self, item: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(item);
        }
        let weak: Weak<Inner<T>> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(inner) = weak.upgrade() {
                Self::add_to(&inner, item);
            }
        });
    }

    /// Adds `item` after its back-off, which doubles with every call until [`Self::forget`].
    pub fn add_rate_limited(&self, item: T) {
        let delay = {
            let mut state = self.state();
            let failures = state.failures.entry(item.clone()).or_insert(0);
            let delay = self.inner.backoff.delay(*failures);
            *failures = failures.saturating_add(1);
            delay
        };
        self.add_after(item, delay);
    }

    /// Clears `item`'s back-off (after a successful sync).
    pub fn forget(&self, item: &T) {
        self.state().failures.remove(item);
    }

    /// How many times `item` failed since it was last forgotten.
    pub fn failures(&self, item: &T) -> u32 {
        self.state().failures.get(item).copied().unwrap_or(0)
    }

    /// The next item to process, or `None` once the queue is shut down.
    pub async fn get(&self) -> Option<T> {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state();
                if state.shutting_down {
                    return None;
                }
                if let Some(item) = state.queue.pop_front() {
                    state.dirty.remove(&item);
                    state.processing.insert(item.clone());
                    let more = !state.queue.is_empty();
                    drop(state);
                    if more {
                        // Pass the wake-up on so other idle workers pick up the rest.
                        self.inner.notify.notify_one();
                    }
                    return Some(item);
                }
            }
            notified.await;
        }
    }

    /// Ends processing of `item`; if it was added meanwhile it is queued again.
    pub fn done(&self, item: &T) {
        let mut state = self.state();
        state.processing.remove(item);
        if state.dirty.contains(item) && !state.shutting_down {
            state.queue.push_back(item.clone());
            drop(state);
            self.inner.notify.notify_one();
        }
    }

    /// Wakes every waiting worker with `None`; later adds are ignored.
    pub fn shut_down(&self) {
        self.state().shutting_down = true;
        self.inner.notify.notify_waiters();
    }

    pub fn len(&self) -> usize {
        self.state().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deduplicates_waiting_items() {
        let q = WorkQueue::<String>::default();
        q.add("a".into());
        q.add("a".into());
        q.add("b".into());
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.as_deref(), Some("a"));
        assert_eq!(q.get().await.as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn an_item_added_while_processing_comes_back_after_done() {
        let q = WorkQueue::<String>::default();
        q.add("a".into());
        let item = q.get().await.unwrap();
        q.add("a".into());
        // Not handed out twice at once.
        assert!(q.is_empty());
        q.done(&item);
        assert_eq!(q.len(), 1);
        assert_eq!(q.get().await.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn shut_down_releases_waiting_workers() {
        let q = WorkQueue::<String>::default();
        let waiter = {
            let q = q.clone();
            tokio::spawn(async move { q.get().await })
        };
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(waiter.await.unwrap(), None);
    }

    #[tokio::test]
    async fn rate_limited_items_come_back_after_their_backoff() {
        let q = WorkQueue::<String>::new(Backoff { base: Duration::from_millis(20), max: Duration::from_secs(10) });
        q.add_rate_limited("a".into());
        q.add_rate_limited("a".into());
        assert_eq!(q.failures(&"a".to_string()), 2);
        assert!(q.is_empty(), "not before the back-off");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(q.len(), 1);
        q.forget(&"a".to_string());
        assert_eq!(q.failures(&"a".to_string()), 0);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff { base: Duration::from_millis(5), max: Duration::from_secs(1000) };
        assert_eq!(b.delay(0), Duration::from_millis(5));
        assert_eq!(b.delay(3), Duration::from_millis(40));
        assert_eq!(b.delay(40), Duration::from_secs(1000));
    }
}
