//! The manifest directory: which files there are, which are skipped, and the
//! objects each holds.
//!
//! `*.yaml`, `*.yml` and `*.json` files anywhere under the directory count (hidden
//! files and directories do not). A file `NAME.skip` beside `NAME` turns `NAME`
//! off: it is neither applied nor pruned, so its objects stay as they are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// One manifest file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    pub path: PathBuf,
    pub text: String,
    /// Hex SHA-256 of the content; a change re-applies the file.
    pub checksum: String,
}

/// The directory's state: manifests by name (their path relative to the directory),
/// and the names turned off by `.skip` files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub files: BTreeMap<String, ManifestFile>,
    pub skipped: Vec<String>,
}

/// Reads the directory; a missing directory holds nothing. Unreadable files are
/// reported and left out (and so neither applied nor pruned until readable again).
pub fn scan(dir: &Path) -> (Scan, Vec<String>) {
    let mut scan = Scan::default();
    let mut problems = Vec::new();
    let mut entries = Vec::new();
    walk(dir, &mut entries, &mut problems);
    let names: Vec<String> =
        entries.iter().filter_map(|p| p.strip_prefix(dir).ok()).map(|p| p.to_string_lossy().into_owned()).collect();
    for (path, name) in entries.iter().zip(&names) {
        if !is_manifest(name) {
            continue;
        }
        if names.contains(&format!("{name}.skip")) {
            scan.skipped.push(name.clone());
            continue;
        }
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let checksum = hex::encode(Sha256::digest(text.as_bytes()));
                scan.files.insert(name.clone(), ManifestFile { path: path.clone(), text, checksum });
            }
            Err(e) => problems.push(format!("reading {}: {e}", path.display())),
        }
    }
    (scan, problems)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            problems.push(format!("reading {}: {e}", dir.display()));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, out, problems);
        } else {
            out.push(path);
        }
    }
}

fn is_manifest(name: &str) -> bool {
    [".yaml", ".yml", ".json"].iter().any(|ext| name.ends_with(ext))
}

/// The objects of a manifest, in file order: every YAML document (or the JSON
/// value), with `kind: List` (and `*List`) documents expanded into their items.
pub fn objects(name: &str, text: &str) -> Result<Vec<Value>, String> {
    let docs: Vec<Value> = if name.ends_with(".json") {
        vec![serde_json::from_str(text).map_err(|e| format!("{name}: not valid JSON: {e}"))?]
    } else {
        serde_saphyr::from_multiple(text).map_err(|e| format!("{name}: not valid YAML: {e}"))?
    };
    let mut out = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Object(ref map) => {
                let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
                if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
                    let items = map.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                    out.extend(items);
                } else {
                    out.push(doc);
                }
            }
            other => return Err(format!("{name}: a document is not an object: {other}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_files_hidden_files_and_subdirectories() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("addons")).unwrap();
        std::fs::create_dir_all(d.join(".hidden")).unwrap();
        std::fs::write(d.join("a.yaml"), "kind: ConfigMap\n").unwrap();
        std::fs::write(d.join("b.yaml"), "kind: Secret\n").unwrap();
        std::fs::write(d.join("b.yaml.skip"), "").unwrap();
        std::fs::write(d.join("notes.txt"), "not a manifest").unwrap();
        std::fs::write(d.join("addons/c.json"), "{}").unwrap();
        std::fs::write(d.join(".hidden/d.yaml"), "kind: x\n").unwrap();
        std::fs::write(d.join(".e.yaml"), "kind: x\n").unwrap();
        let (scan, problems) = scan(d);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(scan.files.keys().collect::<Vec<_>>(), vec!["a.yaml", "addons/c.json"]);
        assert_eq!(scan.skipped, vec!["b.yaml"]);
        let again = super::scan(d).0;
        assert_eq!(scan.files["a.yaml"].checksum, again.files["a.yaml"].checksum);
        std::fs::write(d.join("a.yaml"), "kind: ConfigMap\n# changed\n").unwrap();
        assert_ne!(scan.files["a.yaml"].checksum, super::scan(d).0.files["a.yaml"].checksum);
    }

    #[test]
    fn missing_directory_is_empty() {
        let (scan, problems) = scan(Path::new("/nonexistent/k3rs/manifests"));
        assert!(scan.files.is_empty() && problems.is_empty());
    }

    #[test]
    fn documents_and_lists() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n\
                    - {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: z}}\n";
        let objs = objects("m.yaml", text).unwrap();
        let names: Vec<&str> = objs.iter().map(|o| o["metadata"]["name"].as_str().unwrap_or_default()).collect();
        assert_eq!(names, vec!["a", "x", "z"]);
        assert_eq!(objects("m.json", r#"{"kind":"ConfigMap"}"#).unwrap().len(), 1);
        assert!(objects("m.yaml", "- a\n- b\n").is_err());
        assert!(objects("m.json", "{").is_err());
        assert!(objects("m.yaml", "a: [\n").is_err());
    }
}
