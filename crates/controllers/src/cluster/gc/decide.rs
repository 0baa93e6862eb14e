//! What the garbage collector does with an object, given the state of each of
//! its owners (upstream's `attemptToDeleteItem` decision):
//! - some owner still stands: only references to absent owners (or to owners
//!   waiting for this object's deletion) are removed;
//! - an owner deletes its dependents in the foreground and this object has
//!   dependents itself: it is deleted in the foreground too;
//! - otherwise it has lost its owners and is deleted, propagating as its own
//!   finalizers ask.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::graph::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Gone, or replaced by another object of the same name.
    Absent,
    /// Being deleted in the foreground, waiting for its dependents.
    WaitingForDependents,
    /// Present (possibly being deleted some other way).
    Present,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Nothing,
    /// Remove the references to these owner uids.
    RemoveOwnerReferences(Vec<String>),
    /// Delete in the foreground; first make the owner references non-blocking
    /// when a dependent is itself deleting its dependents (a possible cycle).
    DeleteForeground {
        unblock_owner_references: bool,
    },
    Delete(Propagation),
}

/// Decides for an object whose `owners` were classified.
pub fn decide(
    owners: &[(OwnerReference, OwnerState)],
    has_dependents: bool,
    dependent_deleting_dependents: bool,
    finalizers: &[String],
) -> Decision {
    if owners.is_empty() {
        return Decision::Nothing;
    }
    let uids_in = |state: OwnerState| -> Vec<String> {
        owners.iter().filter(|(_, s)| *s == state).map(|(r, _)| r.uid.clone()).collect()
    };
    let absent = uids_in(OwnerState::Absent);
    let waiting = uids_in(OwnerState::WaitingForDependents);
    if owners.iter().any(|(_, s)| *s == OwnerState::Present) {
        if absent.is_empty() && waiting.is_empty() {
            return Decision::Nothing;
        }
        // A waiting owner would otherwise be stuck on its foregroundDeletion finalizer.
        return Decision::RemoveOwnerReferences(absent.into_iter().chain(waiting).collect());
    }
    if !waiting.is_empty() && has_dependents {
        return Decision::DeleteForeground { unblock_owner_references: dependent_deleting_dependents };
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    Decision::Delete(if has(ORPHAN_FINALIZER) {
        Propagation::Orphan
    } else if has(FOREGROUND_FINALIZER) {
        Propagation::Foreground
    } else {
        Propagation::Background
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use OwnerState::*;

    fn r(uid: &str) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: uid.into(),
            uid: uid.into(),
            ..Default::default()
        }
    }

    #[test]
    fn no_owners_means_not_garbage() {
        assert_eq!(decide(&[], true, false, &[]), Decision::Nothing);
    }

    #[test]
    fn a_present_owner_keeps_the_object_and_dangling_references_go() {
        assert_eq!(decide(&[(r("a"), Present)], false, false, &[]), Decision::Nothing);
        assert_eq!(
            decide(&[(r("a"), Present), (r("b"), Absent), (r("c"), WaitingForDependents)], false, false, &[]),
            Decision::RemoveOwnerReferences(vec!["b".into(), "c".into()])
        );
    }

    #[test]
    fn all_owners_gone_deletes_with_the_objects_own_propagation() {
        assert_eq!(decide(&[(r("a"), Absent)], false, false, &[]), Decision::Delete(Propagation::Background));
        assert_eq!(decide(&[(r("a"), Absent)], true, false, &["orphan".into()]), Decision::Delete(Propagation::Orphan));
        assert_eq!(
            decide(&[(r("a"), Absent)], true, false, &["foregroundDeletion".into()]),
            Decision::Delete(Propagation::Foreground)
        );
    }

    #[test]
    fn foreground_owners_cascade_foreground_to_objects_with_dependents() {
        assert_eq!(
            decide(&[(r("a"), WaitingForDependents)], true, false, &[]),
            Decision::DeleteForeground { unblock_owner_references: false }
        );
        assert_eq!(
            decide(&[(r("a"), WaitingForDependents)], true, true, &[]),
            Decision::DeleteForeground { unblock_owner_references: true }
        );
        // Without dependents of its own it simply goes.
        assert_eq!(
            decide(&[(r("a"), WaitingForDependents)], false, false, &[]),
            Decision::Delete(Propagation::Background)
        );
    }
}
