//! What k3rs applied from each manifest file, kept on disk so that objects can be
//! deleted when their file (or their document in it) goes away, across restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One applied object, by the coordinates the API needs to find it again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{} ({})", self.kind, ns, self.name, self.api_version),
            None => write!(f, "{} {} ({})", self.kind, self.name, self.api_version),
        }
    }
}

/// Manifest name -> the objects applied from it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRecord {
    pub files: BTreeMap<String, BTreeSet<ObjectKey>>,
}

impl AppliedRecord {
    /// Reads the record; a missing file is an empty record, a damaged one is an error
    /// (pruning from a wrong record would delete the wrong objects).
    pub fn load(path: &Path) -> Result<AppliedRecord, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{} is damaged: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AppliedRecord::default()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// Writes the record atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("renaming {} into place: {e}", tmp.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("record.json");
        assert_eq!(AppliedRecord::load(&path).unwrap(), AppliedRecord::default());
        let mut record = AppliedRecord::default();
        record.files.entry("a.yaml".into()).or_default().insert(ObjectKey {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("default".into()),
            name: "x".into(),
        });
        record.save(&path).unwrap();
        assert_eq!(AppliedRecord::load(&path).unwrap(), record);
        std::fs::write(&path, "{not json").unwrap();
        assert!(AppliedRecord::load(&path).is_err());
    }
}
