//! A work queue of keys, as client-go's rate-limited delaying queue: a key is
//! queued at most once, never handed to two workers at a time (a key added while
//! it is being processed is queued again when its worker is done), can be added
//! after a delay, and failing keys come back with exponential back-off.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Back-off of a failing key: 5ms doubling up to 1000s (client-go's default).
const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1000);

struct State<K> {
    ready: VecDeque<K>,
    /// Keys in `ready`.
    queued: HashSet<K>,
    /// Keys a worker holds right now.
    processing: HashSet<K>,
    /// Keys added while being processed: requeued on `done`.
    dirty: HashSet<K>,
    /// Delayed additions: (due, sequence, key).
    delayed: BinaryHeap<Reverse<(Instant, u64, K)>>,
    sequence: u64,
    failures: HashMap<K, u32>,
}

pub struct WorkQueue<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    max_delay: Duration,
}

impl<K: Clone + Eq + Hash + Ord> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Ord> WorkQueue<K> {
    pub fn new() -> Self {
        Self::with_max_delay(MAX_DELAY)
    }

    /// A queue whose back-off never exceeds `max_delay` (the namespace controller
    /// waits at most a minute: it has pods on nodes to wait for).
    pub fn with_max_delay(max_delay: Duration) -> Self {
        WorkQueue {
            state: Mutex::new(State {
                ready: VecDeque::new(),
                queued: HashSet::new(),
                processing: HashSet::new(),
                dirty: HashSet::new(),
                delayed: BinaryHeap::new(),
                sequence: 0,
                failures: HashMap::new(),
            }),
            notify: Notify::new(),
            max_delay,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        // A panicking worker must not wedge the queue for the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `key` now (a no-op when it is queued already).
    pub fn add(&self, key: K) {
        let mut s = self.lock();
        if s.processing.contains(&key) {
            s.dirty.insert(key);
            return;
        }
        if s.queued.insert(key.clone()) {
            s.ready.push_back(key);
            drop(s);
            self.notify.notify_waiters();
        }
    }

    /// Queues `key` once `delay` has passed.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let mut s = self.lock();
        s.sequence += 1;
        let seq = s.sequence;
        s.delayed.push(Reverse((Instant::now() + delay, seq, key)));
        drop(s);
        self.notify.notify_waiters();
    }

    /// Queues `key` after its back-off, which doubles with each failure until `forget`.
    pub fn add_rate_limited(&self, key: K) {
        let delay = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            let delay = BASE_DELAY.saturating_mul(1u32 << (*n).min(31)).min(self.max_delay);
            *n += 1;
            delay
        };
        self.add_after(key, delay);
    }

    /// Clears the back-off of `key` (after a success).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// How many times `key` failed since it was last forgotten.
    pub fn failures(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Moves due delayed keys to the ready queue; returns the next due time.
    fn promote_due(s: &mut State<K>, now: Instant) -> Option<Instant> {
        while let Some(Reverse((due, _, _))) = s.delayed.peek() {
            if *due > now {
                return Some(*due);
            }
            let Some(Reverse((_, _, key))) = s.delayed.pop() else { break };
            if s.processing.contains(&key) {
                s.dirty.insert(key);
            } else if s.queued.insert(key.clone()) {
                s.ready.push_back(key);
            }
        }
        None
    }

    /// Waits for the next key and marks it as being processed; pair with `done`.
    pub async fn next(&self) -> K {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_due = {
                let mut s = self.lock();
                let next_due = Self::promote_due(&mut s, Instant::now());
                if let Some(key) = s.ready.pop_front() {
                    s.queued.remove(&key);
                    s.processing.insert(key.clone());
                    return key;
                }
                next_due
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks `key` as processed; queues it again if it was added meanwhile.
    pub fn done(&self, key: &K) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.remove(key) && s.queued.insert(key.clone()) {
            s.ready.push_back(key.clone());
            drop(s);
            self.notify.notify_waiters();
        }
    }

    /// Keys ready or delayed (for tests and metrics).
    pub fn len(&self) -> usize {
        let s = self.lock();
        s.ready.len() + s.delayed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_queued_once() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, "a");
        assert_eq!(q.next().await, "b");
    }

    #[tokio::test]
    async fn a_key_added_while_processing_comes_back_after_done() {
        let q = WorkQueue::new();
        q.add("a");
        let k = q.next().await;
        q.add("a");
        assert!(q.is_empty(), "not handed out twice while processing");
        q.done(&k);
        assert_eq!(q.len(), 1);
        assert_eq!(q.next().await, "a");
    }

    #[tokio::test]
    async fn delayed_keys_wait_their_turn() {
        let q = std::sync::Arc::new(WorkQueue::new());
        q.add_after("late", Duration::from_millis(200));
        q.add_after("early", Duration::from_millis(50));
        let start = Instant::now();
        assert_eq!(q.next().await, "early");
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert_eq!(q.next().await, "late");
        assert!(start.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn failures_back_off_exponentially_until_forgotten() {
        let q = WorkQueue::new();
        for _ in 0..4 {
            q.add_rate_limited("k");
            let k = q.next().await;
            q.done(&k);
        }
        assert_eq!(q.failures(&"k"), 4);
        q.forget(&"k");
        assert_eq!(q.failures(&"k"), 0);
    }

    #[tokio::test]
    async fn back_off_is_capped() {
        let q = WorkQueue::with_max_delay(Duration::from_millis(20));
        for _ in 0..10 {
            q.add_rate_limited("k");
            let start = Instant::now();
            let k = q.next().await;
            assert!(start.elapsed() < Duration::from_millis(500));
            q.done(&k);
        }
    }

    #[tokio::test]
    async fn a_waiting_worker_wakes_on_add() {
        let q = std::sync::Arc::new(WorkQueue::new());
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.next().await });
        tokio::task::yield_now().await;
        q.add("x");
        assert_eq!(waiter.await.unwrap(), "x");
    }
}
