//! Derives schema facts that k8s-openapi carries only in code.
//!
//! k8s-openapi's JSON schemas (schemars) omit upstream's list and map extensions
//! (`x-kubernetes-list-type`, `-list-map-keys`, `-map-type`), but its generated
//! `DeepMerge` impls encode exactly that information. This script reads the
//! generated sources of the pinned k8s-openapi version and writes a JSON table
//! `{definition: {jsonField: {"list": "atomic"|"set"|"map", "keys": [rust_key], "map": "atomic"}}}`
//! that `schema::extensions` turns back into OpenAPI extensions.
//!
//! The sources are found through `cargo metadata`, so the table always matches
//! the k8s-openapi version in Cargo.lock.
//!
//! It also derives the protobuf message table from k8s-pb's prost-generated
//! sources (see `build/k8s_pb.rs`): prost keeps field tags and wire kinds only
//! in `#[prost(..)]` attributes, and k8s-pb ships no descriptors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[path = "build/k8s_pb.rs"]
mod k8s_pb;

const K8S_VERSION_DIR: &str = "v1_33";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build/k8s_pb.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let metadata = cargo_metadata();
    list_types(&out, &package_src(&metadata, "k8s-openapi"));
    k8s_pb::write_messages(&out, &package_src(&metadata, "k8s-pb"));
}

/// Writes `list_types.json` from the k8s-openapi sources.
fn list_types(out: &Path, k8s_openapi_src: &Path) {
    let src = k8s_openapi_src.join(K8S_VERSION_DIR);
    let mut table: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    let mut files = Vec::new();
    collect_rs_files(&src, &mut files);
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read k8s-openapi source");
        if let Some((name, fields)) = scan_file(&text)
            && !fields.is_empty()
        {
            table.insert(name, fields);
        }
    }
    assert!(table.len() > 100, "k8s-openapi list/map strategies not found under {}", src.display());
    std::fs::write(out.join("list_types.json"), serde_json::to_string(&table).expect("json")).expect("write table");
}

/// `cargo metadata` of this package (offline first).
fn cargo_metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    // Offline first; a fresh cache may still lack manifests of packages this
    // build doesn't compile (other platforms, dev-dependencies), which the
    // registry then provides.
    let run = |offline: bool| {
        let mut cmd = std::process::Command::new(&cargo);
        cmd.args(["metadata", "--format-version", "1", "--manifest-path"]).arg(&manifest);
        if offline {
            cmd.arg("--offline");
        }
        cmd.output().expect("run cargo metadata")
    };
    let mut output = run(true);
    if !output.status.success() {
        output = run(false);
    }
    assert!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("cargo metadata json")
}

/// The `src` directory of a dependency this crate is built against.
fn package_src(meta: &serde_json::Value, name: &str) -> PathBuf {
    let packages = meta["packages"].as_array().expect("packages");
    let pkg = packages.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{name} in cargo metadata"));
    let manifest_path = PathBuf::from(pkg["manifest_path"].as_str().expect("manifest_path"));
    manifest_path.parent().expect("package dir").join("src")
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Finds the definition name and the per-field list/map strategies of one generated file.
fn scan_file(text: &str) -> Option<(String, BTreeMap<String, serde_json::Value>)> {
    let name = between(text, "fn schema_name() -> std::borrow::Cow<'static, str> {", ".into()")
        .map(|s| s.trim().trim_matches('"').to_string())?;
    let json_names = json_field_names(text);
    let mut fields = BTreeMap::new();
    let mut rest = text;
    while let Some(pos) = rest.find("crate::merge_strategies::") {
        rest = &rest[pos + "crate::merge_strategies::".len()..];
        let Some(open) = rest.find('(') else { break };
        let strategy = &rest[..open];
        let args = &rest[open + 1..];
        let Some(field) = args.trim_start().strip_prefix("&mut self.").map(ident) else { continue };
        let json = json_names.get(field).cloned().unwrap_or_else(|| field.to_string());
        let entry = match strategy {
            "list::atomic" => serde_json::json!({"list": "atomic"}),
            "list::set" => serde_json::json!({"list": "set"}),
            "list::map" => {
                let closures_end = args.find("|current_item").unwrap_or(args.len());
                let keys: Vec<&str> = args[..closures_end].split("|lhs, rhs| lhs.").skip(1).map(ident).collect();
                serde_json::json!({"list": "map", "keys": keys})
            }
            "map::atomic" => serde_json::json!({"map": "atomic"}),
            "map::granular" => serde_json::json!({"map": "granular"}),
            _ => continue,
        };
        fields.insert(json, entry);
    }
    Some((name, fields))
}

/// Maps Rust field names to JSON names from the generated `Serialize` impl.
fn json_field_names(text: &str) -> BTreeMap<&str, String> {
    let mut names = BTreeMap::new();
    let marker = "SerializeStruct::serialize_field(&mut state, \"";
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        let before = &rest[..pos];
        rest = &rest[pos + marker.len()..];
        let Some(end) = rest.find('"') else { break };
        let json = &rest[..end];
        let after = &rest[end + 1..];
        // Either `..., "name", &self.field)` or `if let Some(value) = &self.field { ...("name", value)`.
        let field = if let Some(direct) = after.trim_start().strip_prefix(", &self.") {
            Some(ident(direct))
        } else {
            before.rfind("= &self.").map(|i| ident(&before[i + "= &self.".len()..]))
        };
        if let Some(field) = field {
            names.insert(field, json.to_string());
        }
    }
    names
}

fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let s = text.find(start)? + start.len();
    let e = text[s..].find(end)? + s;
    Some(&text[s..e])
}
