//! Guards against acting on a stale cache: after this controller writes a
//! slice, its cache must show that write (or the deletion) before the Service
//! is reconciled again; otherwise a second reconcile could create duplicates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::runtime::ObjectKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The slice must be cached with at least this generation.
    Generation(i64),
    /// The slice must be gone from the cache.
    Deleted,
}

#[derive(Default)]
pub struct Tracker {
    expected: Mutex<HashMap<ObjectKey, HashMap<String, Expect>>>,
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, HashMap<String, Expect>>> {
        self.expected.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a slice as the API server returned it after a create or update.
    pub fn written(&self, service: &ObjectKey, slice: &EndpointSlice) {
        if let Some(uid) = slice.metadata.uid.clone() {
            let generation = slice.metadata.generation.unwrap_or(0);
            self.lock().entry(service.clone()).or_default().insert(uid, Expect::Generation(generation));
        }
    }

    pub fn deleted(&self, service: &ObjectKey, slice: &EndpointSlice) {
        if let Some(uid) = slice.metadata.uid.clone() {
            self.lock().entry(service.clone()).or_default().insert(uid, Expect::Deleted);
        }
    }

    pub fn forget(&self, service: &ObjectKey) {
        self.lock().remove(service);
    }

    /// Whether `cached` (the Service's slices in the cache) misses one of our
    /// writes. Expectations the cache meets are dropped.
    pub fn stale(&self, service: &ObjectKey, cached: &[Arc<EndpointSlice>]) -> bool {
        let mut all = self.lock();
        let Some(expected) = all.get_mut(service) else { return false };
        let by_uid: HashMap<&str, &EndpointSlice> =
            cached.iter().filter_map(|s| Some((s.metadata.uid.as_deref()?, s.as_ref()))).collect();
        let mut stale = false;
        expected.retain(|uid, expect| {
            let met = match (*expect, by_uid.get(uid.as_str())) {
                (Expect::Generation(g), Some(s)) => s.metadata.generation.unwrap_or(0) >= g,
                (Expect::Generation(_), None) => false,
                (Expect::Deleted, found) => found.is_none(),
            };
            stale |= !met;
            !met
        });
        if expected.is_empty() {
            all.remove(service);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn slice(uid: &str, generation: i64) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta { uid: Some(uid.into()), generation: Some(generation), ..Default::default() },
            address_type: "IPv4".into(),
            endpoints: vec![],
            ports: None,
        }
    }

    #[test]
    fn a_write_not_yet_cached_is_stale_until_it_is() {
        let t = Tracker::default();
        let svc = ObjectKey::new("default", "web");
        t.written(&svc, &slice("a", 2));
        assert!(t.stale(&svc, &[]));
        assert!(t.stale(&svc, &[Arc::new(slice("a", 1))]));
        assert!(!t.stale(&svc, &[Arc::new(slice("a", 2))]));
        // Met expectations are dropped: a later cache state is not judged by them.
        assert!(!t.stale(&svc, &[]));
    }

    #[test]
    fn a_deletion_must_leave_the_cache() {
        let t = Tracker::default();
        let svc = ObjectKey::new("default", "web");
        t.deleted(&svc, &slice("a", 1));
        assert!(t.stale(&svc, &[Arc::new(slice("a", 1))]));
        assert!(!t.stale(&svc, &[]));
    }
}
