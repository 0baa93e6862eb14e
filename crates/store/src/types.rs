//! The values the store hands out: key-value pairs, watch events, list options and results.

use bytes::Bytes;

/// One key as stored at one revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this key (stays the same across updates).
    pub create_revision: i64,
    /// Revision of the write that produced this value; it becomes `metadata.resourceVersion`.
    pub mod_revision: i64,
}

/// What a write did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The key was created (then `Event::prev` is `None`) or updated.
    Put,
    /// The key was deleted.
    Delete,
}

/// One committed write, as delivered to watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// For `Put`, the new value. For `Delete`, the key with its last value and
    /// `mod_revision` set to the revision of the delete.
    pub kv: KeyValue,
    /// The value before this event: `None` for a create, the replaced or deleted value otherwise.
    /// The API server needs it to turn an update that leaves a selector into a DELETED event.
    pub prev: Option<KeyValue>,
}

impl Event {
    /// The revision this event was committed at.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// Options of [`crate::Store::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Read the state as of this revision; `None` reads the latest state.
    pub revision: Option<i64>,
    /// Return at most this many items; `None` or `Some(0)` means no limit (as Kubernetes' `limit=0`).
    pub limit: Option<usize>,
    /// Continue after this key (exclusive): the last key of the previous page.
    pub start_after: Option<String>,
}

/// Result of a list: one consistent snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// The items, in key order.
    pub items: Vec<KeyValue>,
    /// The revision the list is consistent at (the requested one, or the latest).
    pub revision: i64,
    /// True when more keys under the prefix follow the last item.
    pub more: bool,
}

/// A write, as handed to a [`crate::Backend`]. Every write is a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Create a key that must not exist.
    Create { key: String, value: Bytes },
    /// Replace the value of a key whose current `mod_revision` must be `expected_mod_revision`.
    Update { key: String, value: Bytes, expected_mod_revision: i64 },
    /// Delete a key, optionally only if its `mod_revision` is `expected_mod_revision`.
    Delete { key: String, expected_mod_revision: Option<i64> },
}

impl WriteOp {
    pub fn key(&self) -> &str {
        match self {
            WriteOp::Create { key, .. } | WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// A page of history read by [`crate::Backend::history`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Events under the prefix, in revision order.
    pub events: Vec<Event>,
    /// Every revision up to and including this one has been examined: the next page starts after it.
    /// When the page is not full this is the backend's current revision at the time of the read.
    pub scanned_through: i64,
}
