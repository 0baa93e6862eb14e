//! Expectations: what a controller has asked the API server to create or delete and has
//! not yet seen in its caches. Until they are met, a sync must not act on the (stale)
//! cache, or it would create or delete the same pods twice. Expectations older than
//! five minutes are treated as met, so a lost watch event cannot wedge a controller
//! (upstream's `ControllerExpectations`, with deletions tracked by pod key as in
//! `UIDTrackingControllerExpectations`).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long expectations may stay unmet before a sync goes ahead anyway.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
struct Expected<P> {
    adds: i64,
    deletes: HashSet<P>,
    /// Deletions counted without a tracked key.
    untracked_deletes: i64,
    set_at: Instant,
}

impl<P> Expected<P> {
    fn fulfilled(&self) -> bool {
        self.adds <= 0 && self.deletes.is_empty() && self.untracked_deletes <= 0
    }
}

/// Expectations per controller key `C`, with deletions tracked per pod key `P`.
pub struct Expectations<C, P> {
    entries: Mutex<HashMap<C, Expected<P>>>,
    timeout: Duration,
}

impl<C: Eq + Hash + Clone, P: Eq + Hash + Clone> Default for Expectations<C, P> {
    fn default() -> Self {
        Self::with_timeout(EXPECTATIONS_TIMEOUT)
    }
}

impl<C: Eq + Hash + Clone, P: Eq + Hash + Clone> Expectations<C, P> {
    pub fn with_timeout(timeout: Duration) -> Self {
        Expectations { entries: Mutex::new(HashMap::new()), timeout }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<C, Expected<P>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the controller may act on its caches for `key`: nothing is pending, the
    /// pending work is older than the timeout, or nothing was ever recorded.
    pub fn satisfied(&self, key: &C) -> bool {
        match self.entries().get(key) {
            None => true,
            Some(e) => e.fulfilled() || e.set_at.elapsed() > self.timeout,
        }
    }

    /// Records that `count` creations are about to be requested.
    pub fn expect_creations(&self, key: &C, count: usize) {
        self.entries().insert(
            key.clone(),
            Expected { adds: count as i64, deletes: HashSet::new(), untracked_deletes: 0, set_at: Instant::now() },
        );
    }

    /// Records that the objects `pods` are about to be deleted.
    pub fn expect_deletions(&self, key: &C, pods: impl IntoIterator<Item = P>) {
        self.entries().insert(
            key.clone(),
            Expected { adds: 0, deletes: pods.into_iter().collect(), untracked_deletes: 0, set_at: Instant::now() },
        );
    }

    /// Records `adds` creations and `deletes` (unnamed) deletions about to be requested.
    pub fn expect_counts(&self, key: &C, adds: usize, deletes: usize) {
        self.entries().insert(
            key.clone(),
            Expected {
                adds: adds as i64,
                deletes: HashSet::new(),
                untracked_deletes: deletes as i64,
                set_at: Instant::now(),
            },
        );
    }

    /// Records that `count` deletions are about to be requested without naming them.
    pub fn expect_untracked_deletions(&self, key: &C, count: usize) {
        self.entries().insert(
            key.clone(),
            Expected { adds: 0, deletes: HashSet::new(), untracked_deletes: count as i64, set_at: Instant::now() },
        );
    }

    /// A creation showed up in the cache (or will never happen because the request failed).
    pub fn creation_observed(&self, key: &C) {
        if let Some(e) = self.entries().get_mut(key) {
            e.adds -= 1;
        }
    }

    /// A deletion showed up in the cache (or failed).
    pub fn deletion_observed(&self, key: &C, pod: &P) {
        if let Some(e) = self.entries().get_mut(key)
            && !e.deletes.remove(pod)
        {
            e.untracked_deletes -= 1;
        }
    }

    /// Forgets `key` (its owner is gone).
    pub fn delete(&self, key: &C) {
        self.entries().remove(key);
    }

    /// Pending (creations, deletions) for `key`, for logs and tests.
    pub fn pending(&self, key: &C) -> Option<(i64, usize)> {
        self.entries().get(key).map(|e| (e.adds, e.deletes.len() + e.untracked_deletes.max(0) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_must_be_observed() {
        let e = Expectations::<&str, &str>::default();
        assert!(e.satisfied(&"rs"));
        e.expect_creations(&"rs", 2);
        assert!(!e.satisfied(&"rs"));
        e.creation_observed(&"rs");
        assert!(!e.satisfied(&"rs"));
        e.creation_observed(&"rs");
        assert!(e.satisfied(&"rs"));
    }

    #[test]
    fn deletions_are_tracked_by_pod() {
        let e = Expectations::<&str, &str>::default();
        e.expect_deletions(&"rs", ["a", "b"]);
        e.deletion_observed(&"rs", &"a");
        e.deletion_observed(&"rs", &"a");
        assert!(!e.satisfied(&"rs"), "the same pod twice does not count as two");
        e.deletion_observed(&"rs", &"b");
        assert!(e.satisfied(&"rs"));
    }

    #[test]
    fn stale_expectations_expire() {
        let e = Expectations::<&str, &str>::with_timeout(Duration::ZERO);
        e.expect_creations(&"rs", 5);
        std::thread::sleep(Duration::from_millis(2));
        assert!(e.satisfied(&"rs"));
        e.delete(&"rs");
        assert!(e.pending(&"rs").is_none());
    }
}
