//! Key checks and the byte ranges that prefixes and continue keys select.
//!
//! Keys are UTF-8 and compared bytewise (as etcd does). UTF-8 never contains the byte 0xFF, so
//! `[0xFF]` is above every key and incrementing the last byte of a prefix gives its exclusive end.

use crate::error::{Error, Result};

/// Rejects keys that the store cannot hold.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey { key: key.to_string(), reason: "must not be empty" });
    }
    if key.contains('\0') {
        return Err(Error::InvalidKey { key: key.to_string(), reason: "must not contain NUL" });
    }
    Ok(())
}

/// The half-open byte range `[start, end)` of keys under `prefix` that sort after `start_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
}

impl KeyRange {
    pub fn new(prefix: &str, start_after: Option<&str>) -> KeyRange {
        let mut start = prefix.as_bytes().to_vec();
        if let Some(after) = start_after {
            // `after + NUL` is the smallest key greater than `after`.
            let mut successor = after.as_bytes().to_vec();
            successor.push(0);
            if successor > start {
                start = successor;
            }
        }
        KeyRange { start, end: prefix_end(prefix) }
    }

    pub fn contains(&self, key: &str) -> bool {
        let key = key.as_bytes();
        key >= self.start.as_slice() && key < self.end.as_slice()
    }
}

/// Exclusive upper bound of the keys starting with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    match end.last_mut() {
        // UTF-8 bytes are at most 0xF4, so the increment cannot overflow.
        Some(last) => *last += 1,
        None => end.push(0xFF),
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_selects_exactly_the_prefixed_keys() {
        let range = KeyRange::new("/registry/pods/", None);
        assert!(range.contains("/registry/pods/default/a"));
        assert!(range.contains("/registry/pods/"));
        assert!(!range.contains("/registry/pods"));
        assert!(!range.contains("/registry/podsx/a"));
        assert!(!range.contains("/registry/pod/a"));
        assert!(range.contains("/registry/pods/\u{10FFFF}"));
    }

    #[test]
    fn empty_prefix_selects_everything() {
        let range = KeyRange::new("", None);
        assert!(range.contains("/a"));
        assert!(range.contains("\u{10FFFF}\u{10FFFF}"));
    }

    #[test]
    fn start_after_is_exclusive() {
        let range = KeyRange::new("/r/", Some("/r/b"));
        assert!(!range.contains("/r/a"));
        assert!(!range.contains("/r/b"));
        assert!(range.contains("/r/b/"));
        assert!(range.contains("/r/ba"));
        assert!(range.contains("/r/c"));
        // A continue key before the prefix does not widen the range.
        let range = KeyRange::new("/r/", Some("/a"));
        assert!(!range.contains("/b"));
        assert!(range.contains("/r/a"));
    }

    #[test]
    fn bad_keys_are_rejected() {
        assert!(matches!(check_key(""), Err(Error::InvalidKey { .. })));
        assert!(matches!(check_key("/a\0b"), Err(Error::InvalidKey { .. })));
        assert!(check_key("/registry/pods/default/x").is_ok());
    }
}
