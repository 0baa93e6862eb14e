//! The scheduling queue (upstream's PriorityQueue): pods wait in `active` (highest priority
//! first, then oldest), in back-off after a failed attempt (1s doubling to 10s by
//! default), or as unschedulable until the cluster changes (a node appears or changes, a
//! pod goes away) or five minutes pass.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct QueueTimings {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_unschedulable: Duration,
}

impl Default for QueueTimings {
    fn default() -> Self {
        QueueTimings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable: Duration::from_secs(300),
        }
    }
}

/// Kinds of cluster change, as a bit set: what an unschedulable pod waits for.
pub mod wake {
    pub const NODE: u8 = 1;
    pub const POD_ADDED: u8 = 2;
    pub const POD_REMOVED: u8 = 4;
    pub const CLAIM: u8 = 8;
    pub const ANY: u8 = u8::MAX;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Active,
    Backoff,
    Unschedulable,
    /// Popped and being scheduled.
    InFlight,
}

#[derive(Debug, Clone)]
struct Entry {
    priority: i32,
    /// When the pod entered the queue (FIFO among equal priorities).
    since: Instant,
    attempts: u32,
    last_attempt: Option<Instant>,
    place: Place,
    /// When it became unschedulable.
    parked_at: Instant,
    /// Bumped on every move so stale heap entries are skipped.
    generation: u64,
    /// The cluster changed while it was in flight: retry after back-off, not when the next change comes.
    changed_in_flight: bool,
    /// Which changes may help it (a [`wake`] set).
    wake_on: u8,
}

#[derive(Debug, PartialEq, Eq)]
struct Ready {
    priority: i32,
    since: Reverse<Instant>,
    generation: u64,
    key: String,
}

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.priority, self.since, Reverse(self.generation)).cmp(&(
            other.priority,
            other.since,
            Reverse(other.generation),
        ))
    }
}

impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<Ready>,
    generation: u64,
}

impl State {
    fn activate(&mut self, key: &str) {
        self.generation += 1;
        let generation = self.generation;
        if let Some(e) = self.entries.get_mut(key) {
            e.place = Place::Active;
            e.generation = generation;
            self.active.push(Ready { priority: e.priority, since: Reverse(e.since), generation, key: key.to_string() });
        }
    }
}

pub struct SchedulingQueue {
    state: Mutex<State>,
    wake: Notify,
    timings: QueueTimings,
}

impl SchedulingQueue {
    pub fn new(timings: QueueTimings) -> Self {
        SchedulingQueue { state: Mutex::new(State::default()), wake: Notify::new(), timings }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn backoff_of(&self, e: &Entry) -> Duration {
        let doublings = e.attempts.saturating_sub(1).min(20);
        self.timings.initial_backoff.saturating_mul(1 << doublings).min(self.timings.max_backoff)
    }

    fn backoff_until(&self, e: &Entry) -> Instant {
        e.last_attempt.map_or_else(Instant::now, |t| t + self.backoff_of(e))
    }

    /// A pending pod was added or changed. New pods become active; an unschedulable pod
    /// whose spec changed gets another chance (after its back-off).
    pub fn add_or_update(&self, key: &str, priority: i32, spec_changed: bool) {
        let mut st = self.lock();
        match st.entries.get_mut(key) {
            None => {
                let now = Instant::now();
                st.entries.insert(
                    key.to_string(),
                    Entry {
                        priority,
                        since: now,
                        attempts: 0,
                        last_attempt: None,
                        place: Place::Active,
                        parked_at: now,
                        generation: 0,
                        changed_in_flight: false,
                        wake_on: wake::ANY,
                    },
                );
                st.activate(key);
            }
            Some(e) => {
                e.priority = priority;
                match e.place {
                    Place::Unschedulable if spec_changed => e.place = Place::Backoff,
                    Place::InFlight if spec_changed => e.changed_in_flight = true,
                    _ => {}
                }
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    /// The pod was deleted or bound elsewhere.
    pub fn remove(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    /// Something in the cluster changed (a [`wake`] kind) that may let unschedulable pods fit.
    pub fn cluster_changed(&self, kind: u8) {
        let mut st = self.lock();
        for e in st.entries.values_mut() {
            match e.place {
                Place::Unschedulable if e.wake_on & kind != 0 => e.place = Place::Backoff,
                Place::InFlight => e.changed_in_flight = true,
                _ => {}
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Waits for the next pod to schedule; returns its key and how many attempts it had.
    pub async fn pop(&self) -> (String, u32) {
        loop {
            let wait_until = {
                let mut st = self.lock();
                let now = Instant::now();
                let mut due = Vec::new();
                let mut next: Option<Instant> = None;
                for (k, e) in &st.entries {
                    let at = match e.place {
                        Place::Backoff => self.backoff_until(e),
                        Place::Unschedulable => e.parked_at + self.timings.max_unschedulable,
                        _ => continue,
                    };
                    if at <= now {
                        due.push(k.clone());
                    } else {
                        next = Some(next.map_or(at, |n: Instant| n.min(at)));
                    }
                }
                for k in due {
                    let in_backoff = st
                        .entries
                        .get(&k)
                        .is_some_and(|e| e.place == Place::Unschedulable && self.backoff_until(e) > now);
                    if in_backoff {
                        if let Some(e) = st.entries.get_mut(&k) {
                            e.place = Place::Backoff;
                        }
                        next = Some(now);
                    } else {
                        st.activate(&k);
                    }
                }
                while let Some(top) = st.active.pop() {
                    let live = st
                        .entries
                        .get(&top.key)
                        .is_some_and(|e| e.place == Place::Active && e.generation == top.generation);
                    if !live {
                        continue;
                    }
                    let e = st.entries.get_mut(&top.key).expect("checked above");
                    e.place = Place::InFlight;
                    e.changed_in_flight = false;
                    e.attempts += 1;
                    e.last_attempt = Some(now);
                    return (top.key, e.attempts);
                }
                next
            };
            match wait_until {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at, self.wake.notified()).await;
                }
                None => self.wake.notified().await,
            }
        }
    }

    /// Scheduled: the pod leaves the queue.
    pub fn done(&self, key: &str) {
        self.remove(key);
    }

    /// No node fits: wait for a cluster change of the kinds in `wake_on` (or back off when
    /// a change came meanwhile).
    pub fn unschedulable(&self, key: &str, wake_on: u8) {
        let mut st = self.lock();
        if let Some(e) = st.entries.get_mut(key) {
            e.wake_on = wake_on;
            e.place = if e.changed_in_flight { Place::Backoff } else { Place::Unschedulable };
            e.parked_at = Instant::now();
        }
        drop(st);
        self.wake.notify_one();
    }

    /// A transient failure (API error): retry after back-off.
    pub fn retry(&self, key: &str) {
        let mut st = self.lock();
        if let Some(e) = st.entries.get_mut(key) {
            e.place = Place::Backoff;
        }
        drop(st);
        self.wake.notify_one();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time with short durations: pausing tokio's clock needs its test-util feature,
    // which would rebuild the whole dependency tree for tests.
    fn quick() -> SchedulingQueue {
        SchedulingQueue::new(QueueTimings {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            max_unschedulable: Duration::from_millis(1500),
        })
    }

    const NEVER: Duration = Duration::from_millis(700);

    #[tokio::test]
    async fn priority_then_age() {
        let q = quick();
        q.add_or_update("ns/old", 0, false);
        tokio::time::sleep(Duration::from_millis(2)).await;
        q.add_or_update("ns/young", 0, false);
        q.add_or_update("ns/vip", 100, false);
        assert_eq!(q.pop().await.0, "ns/vip");
        assert_eq!(q.pop().await.0, "ns/old");
        assert_eq!(q.pop().await.0, "ns/young");
    }

    #[tokio::test]
    async fn unschedulable_waits_for_a_change_then_backs_off() {
        let q = quick();
        q.add_or_update("ns/p", 0, false);
        assert_eq!(q.pop().await, ("ns/p".to_string(), 1));
        q.unschedulable("ns/p", wake::ANY);
        // Nothing happens without a cluster change.
        assert!(tokio::time::timeout(NEVER, q.pop()).await.is_err());
        q.cluster_changed(wake::NODE);
        let start = Instant::now();
        assert_eq!(q.pop().await, ("ns/p".to_string(), 2));
        assert!(start.elapsed() < Duration::from_millis(90), "{:?}", start.elapsed());
        q.unschedulable("ns/p", wake::ANY);
        q.cluster_changed(wake::NODE);
        // Second back-off: 200ms after the second attempt.
        let start = Instant::now();
        assert_eq!(q.pop().await.1, 3);
        assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn only_helpful_changes_wake_a_pod() {
        let q = quick();
        q.add_or_update("ns/p", 0, false);
        q.pop().await;
        q.unschedulable("ns/p", wake::NODE);
        q.cluster_changed(wake::POD_ADDED);
        assert!(tokio::time::timeout(NEVER, q.pop()).await.is_err());
        q.cluster_changed(wake::NODE);
        assert_eq!(tokio::time::timeout(NEVER, q.pop()).await.unwrap().1, 2);
    }

    #[tokio::test]
    async fn a_change_during_the_attempt_is_not_lost() {
        let q = quick();
        q.add_or_update("ns/p", 0, false);
        q.pop().await;
        q.cluster_changed(wake::NODE);
        q.unschedulable("ns/p", wake::ANY);
        assert_eq!(tokio::time::timeout(NEVER, q.pop()).await.unwrap().1, 2);
    }

    #[tokio::test]
    async fn unschedulable_pods_retry_after_the_maximum_wait() {
        let q = quick();
        q.add_or_update("ns/p", 0, false);
        q.pop().await;
        q.unschedulable("ns/p", wake::ANY);
        let start = Instant::now();
        assert_eq!(tokio::time::timeout(Duration::from_secs(3), q.pop()).await.unwrap().1, 2);
        assert!(start.elapsed() >= Duration::from_millis(1400));
    }

    #[tokio::test]
    async fn removed_pods_are_not_popped() {
        let q = quick();
        q.add_or_update("ns/a", 0, false);
        q.add_or_update("ns/b", 0, false);
        q.remove("ns/a");
        assert_eq!(q.pop().await.0, "ns/b");
        assert_eq!(q.len(), 1);
        q.done("ns/b");
        assert!(q.is_empty());
    }
}
