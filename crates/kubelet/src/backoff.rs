//! Restart back-off (CrashLoopBackOff): 10s after the first crash, doubling to
//! five minutes, forgotten once a container has not needed a back-off for ten
//! minutes (upstream: twice the maximum), so a container that ran well starts over at 10s.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Entry {
    delay: Duration,
    last_update: Instant,
}

/// Back-off state per key (pod uid + container name).
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL, MAX)
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max, entries: HashMap::new() }
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(entry.last_update) > self.max * 2
    }

    /// Records a restart at `now` and returns the delay before it may happen.
    pub fn next(&mut self, key: &str, now: Instant) -> Duration {
        let (initial, max) = (self.initial, self.max);
        let expired = self.entries.get(key).is_some_and(|e| self.expired(e, now));
        let entry = self.entries.entry(key.to_string()).or_insert(Entry { delay: Duration::ZERO, last_update: now });
        entry.delay = if expired || entry.delay.is_zero() { initial } else { (entry.delay * 2).min(max) };
        entry.last_update = now;
        entry.delay
    }

    /// The current delay of `key` (zero when none).
    pub fn current(&self, key: &str, now: Instant) -> Duration {
        match self.entries.get(key) {
            Some(e) if !self.expired(e, now) => e.delay,
            _ => Duration::ZERO,
        }
    }

    /// Whether a container that exited at `exited_at` must still wait before restarting.
    pub fn in_backoff(&self, key: &str, exited_at: Instant, now: Instant) -> bool {
        let delay = self.current(key, now);
        !delay.is_zero() && now < exited_at + delay
    }

    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Drops entries nobody needed for a long time.
    pub fn gc(&mut self, now: Instant) {
        let max = self.max;
        self.entries.retain(|_, e| now.saturating_duration_since(e.last_update) <= max * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_five_minutes_and_resets_after_ten() {
        let mut b = Backoff::default();
        let t0 = Instant::now();
        let delays: Vec<u64> = (0..7).map(|i| b.next("p/c", t0 + Duration::from_secs(i)).as_secs()).collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300]);
        assert!(b.in_backoff("p/c", t0, t0 + Duration::from_secs(100)));
        // Ten minutes without a crash: back to the start.
        let later = t0 + Duration::from_secs(6) + Duration::from_secs(601);
        assert_eq!(b.current("p/c", later), Duration::ZERO);
        assert_eq!(b.next("p/c", later).as_secs(), 10);
    }
}
