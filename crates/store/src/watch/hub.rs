//! The watch hub: receives every commit from the backend, keeps a ring of recent events, and
//! pushes each event into the bounded buffer of every watcher whose prefix matches.
//!
//! Publishing never waits for a watcher: a watcher whose buffer is full is removed and flagged
//! as overflowed, so its stream ends with an error and its client re-lists. Writers and the
//! other watchers carry on.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use crate::keys::KeyRange;
use crate::types::Event;

pub(crate) struct WatchHub {
    state: Mutex<HubState>,
    /// Capacity of each watcher's buffer.
    buffer: usize,
}

struct HubState {
    /// Recent events in revision order.
    ring: VecDeque<Event>,
    ring_capacity: usize,
    /// Every committed event with a revision above `floor` is in `ring`.
    floor: i64,
    subscribers: HashMap<u64, Subscriber>,
    next_id: u64,
}

struct Subscriber {
    range: KeyRange,
    tx: mpsc::Sender<Event>,
    overflowed: Arc<AtomicBool>,
}

/// A watcher's live feed. Dropping it unregisters the watcher.
pub(crate) struct Subscription {
    pub(crate) rx: mpsc::Receiver<Event>,
    /// Set when the hub dropped this watcher because its buffer was full.
    pub(crate) overflowed: Arc<AtomicBool>,
    hub: Arc<WatchHub>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.lock().subscribers.remove(&self.id);
    }
}

impl WatchHub {
    pub(crate) fn new(ring_capacity: usize, buffer: usize) -> WatchHub {
        WatchHub {
            state: Mutex::new(HubState {
                ring: VecDeque::with_capacity(ring_capacity.min(4096)),
                ring_capacity,
                floor: 0,
                subscribers: HashMap::new(),
                next_id: 0,
            }),
            buffer: buffer.max(1),
        }
    }

    pub(crate) fn buffer(&self) -> usize {
        self.buffer
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // The state stays consistent even if a holder panicked: every update is a single step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Declares that everything up to `current_revision` was committed before the hub was
    /// connected, so the ring covers only what comes after it.
    pub(crate) fn start_at(&self, current_revision: i64) {
        let mut state = self.lock();
        state.floor = state.floor.max(current_revision);
        let floor = state.floor;
        state.ring.retain(|event| event.revision() > floor);
    }

    /// Fans out committed events and remembers them in the ring.
    pub(crate) fn publish(&self, events: Vec<Event>) {
        let mut state = self.lock();
        let mut dropped = Vec::new();
        for event in events {
            for (id, subscriber) in &state.subscribers {
                if !subscriber.range.contains(&event.kv.key) {
                    continue;
                }
                match subscriber.tx.try_send(event.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => {
                        subscriber.overflowed.store(true, Ordering::Release);
                        dropped.push(*id);
                    }
                    Err(TrySendError::Closed(_)) => dropped.push(*id),
                }
            }
            // Dropping the sender ends the watcher's stream once it has read what it was sent.
            for id in dropped.drain(..) {
                state.subscribers.remove(&id);
            }
            state.remember(event);
        }
    }

    /// Registers a watcher for events under `range` with a revision above `after_revision`,
    /// if the ring still holds all of them. Returns the ones already in the ring and the live feed
    /// for the rest; both are taken under one lock, so nothing is missed or seen twice.
    /// `None` means the watcher must first catch up from the backend's history.
    pub(crate) fn attach(
        self: &Arc<Self>,
        range: &KeyRange,
        after_revision: i64,
    ) -> Option<(Vec<Event>, Subscription)> {
        let mut state = self.lock();
        if after_revision < state.floor {
            return None;
        }
        let first = state.ring.partition_point(|event| event.revision() <= after_revision);
        let backlog: Vec<Event> =
            state.ring.range(first..).filter(|event| range.contains(&event.kv.key)).cloned().collect();
        let (tx, rx) = mpsc::channel(self.buffer);
        let overflowed = Arc::new(AtomicBool::new(false));
        let id = state.next_id;
        state.next_id += 1;
        state.subscribers.insert(id, Subscriber { range: range.clone(), tx, overflowed: overflowed.clone() });
        Some((backlog, Subscription { rx, overflowed, hub: self.clone(), id }))
    }

    #[cfg(test)]
    pub(crate) fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }
}

impl HubState {
    fn remember(&mut self, event: Event) {
        if self.ring_capacity == 0 {
            self.floor = self.floor.max(event.revision());
            return;
        }
        self.ring.push_back(event);
        while self.ring.len() > self.ring_capacity {
            if let Some(evicted) = self.ring.pop_front() {
                self.floor = evicted.revision();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{EventKind, KeyValue};

    fn put(key: &str, revision: i64) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue { key: key.into(), value: "v".into(), create_revision: revision, mod_revision: revision },
            prev: None,
        }
    }

    #[tokio::test]
    async fn attach_returns_ring_backlog_then_live_events() {
        let hub = Arc::new(WatchHub::new(10, 10));
        hub.start_at(0);
        hub.publish(vec![put("/a/1", 1), put("/b/1", 2), put("/a/2", 3)]);
        let (backlog, mut sub) = hub.attach(&KeyRange::new("/a/", None), 1).expect("ring covers revision 1");
        assert_eq!(backlog.iter().map(Event::revision).collect::<Vec<_>>(), vec![3]);
        hub.publish(vec![put("/a/3", 4), put("/b/2", 5)]);
        assert_eq!(sub.rx.recv().await.map(|e| e.revision()), Some(4));
        assert!(sub.rx.try_recv().is_err());
    }

    #[test]
    fn attach_below_the_ring_needs_history() {
        let hub = Arc::new(WatchHub::new(2, 10));
        hub.start_at(0);
        hub.publish(vec![put("/a", 1), put("/a", 2), put("/a", 3)]);
        assert!(hub.attach(&KeyRange::new("/", None), 0).is_none());
        assert!(hub.attach(&KeyRange::new("/", None), 1).is_some());
    }

    #[test]
    fn full_buffer_drops_the_watcher_without_blocking() {
        let hub = Arc::new(WatchHub::new(0, 2));
        hub.start_at(0);
        let (_, sub) = hub.attach(&KeyRange::new("/", None), 0).expect("attach");
        hub.publish((1..=5).map(|rev| put("/k", rev)).collect());
        assert!(sub.overflowed.load(Ordering::Acquire));
        assert_eq!(hub.subscriber_count(), 0);
    }

    #[test]
    fn dropping_a_subscription_unregisters_it() {
        let hub = Arc::new(WatchHub::new(0, 2));
        let (_, sub) = hub.attach(&KeyRange::new("/", None), 0).expect("attach");
        assert_eq!(hub.subscriber_count(), 1);
        drop(sub);
        assert_eq!(hub.subscriber_count(), 0);
    }
}
