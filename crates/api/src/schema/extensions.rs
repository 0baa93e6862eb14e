//! Adds upstream's `x-kubernetes-*` field extensions to the generated schemas.
//!
//! The list/map strategies come from the table `build.rs` derives from k8s-openapi;
//! patch strategies follow from them (a keyed list merges on its first key, a set
//! merges), plus the few fields where upstream's patch strategy says more.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::REF_PREFIX;

static LIST_TYPES: &str = include_str!(concat!(env!("OUT_DIR"), "/list_types.json"));

/// Fields whose patch strategy upstream declares beyond plain `merge`.
const PATCH_STRATEGY_OVERRIDES: &[(&str, &str, &str)] = &[
    ("io.k8s.api.core.v1.PodSpec", "volumes", "merge,retainKeys"),
    ("io.k8s.api.core.v1.PodSpec", "resourceClaims", "merge,retainKeys"),
    ("io.k8s.api.apps.v1.DeploymentSpec", "strategy", "retainKeys"),
];

/// Lists whose item identity upstream defines by more keys than the patch merge key.
const LIST_MAP_KEY_OVERRIDES: &[(&str, &str, &[&str])] = &[
    ("io.k8s.api.core.v1.ServiceSpec", "ports", &["port", "protocol"]),
    ("io.k8s.api.core.v1.Container", "ports", &["containerPort", "protocol"]),
    ("io.k8s.api.core.v1.EphemeralContainer", "ports", &["containerPort", "protocol"]),
];

/// Structs upstream marks `+structType=atomic`: owned and replaced as a whole.
const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.core.v1.TopologySelectorTerm",
];

fn normalize(name: &str) -> String {
    name.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect()
}

fn ref_name(schema: &Value) -> Option<&str> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.strip_prefix(REF_PREFIX);
    }
    schema.get("allOf")?.as_array()?.first().and_then(ref_name)
}

/// The JSON names of Rust key fields, looked up among the item type's properties.
fn json_keys(defs: &BTreeMap<String, Value>, item_def: Option<&str>, rust_keys: &[String]) -> Vec<String> {
    let props: Vec<&String> = item_def
        .and_then(|d| defs.get(d))
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    rust_keys
        .iter()
        .map(|k| {
            let nk = normalize(k);
            props.iter().find(|p| normalize(p) == nk).map(|p| p.to_string()).unwrap_or_else(|| k.clone())
        })
        .collect()
}

pub(super) fn apply(defs: &mut BTreeMap<String, Value>) {
    let table: BTreeMap<String, BTreeMap<String, Value>> =
        serde_json::from_str(LIST_TYPES).expect("build.rs writes valid JSON");
    for (def_name, fields) in &table {
        for (field, info) in fields {
            let item_def = defs
                .get(def_name)
                .and_then(|d| d.pointer(&format!("/properties/{field}/items")))
                .and_then(ref_name)
                .map(String::from);
            let keys = info
                .get("keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect::<Vec<_>>())
                .unwrap_or_default();
            let keys = json_keys(defs, item_def.as_deref(), &keys);
            let Some(prop) = property_mut(defs, def_name, field) else { continue };
            match info.get("list").and_then(Value::as_str) {
                Some("atomic") => {
                    prop.insert("x-kubernetes-list-type".into(), json!("atomic"));
                }
                Some("set") => {
                    prop.insert("x-kubernetes-list-type".into(), json!("set"));
                    prop.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                }
                Some("map") => {
                    prop.insert("x-kubernetes-list-type".into(), json!("map"));
                    if let Some(first) = keys.first() {
                        prop.insert("x-kubernetes-patch-merge-key".into(), json!(first));
                        prop.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                    }
                    prop.insert("x-kubernetes-list-map-keys".into(), json!(keys));
                }
                _ => {}
            }
            if info.get("map").and_then(Value::as_str) == Some("atomic") {
                prop.insert("x-kubernetes-map-type".into(), json!("atomic"));
            }
        }
    }
    for (def_name, field, strategy) in PATCH_STRATEGY_OVERRIDES {
        if let Some(prop) = property_mut(defs, def_name, field) {
            prop.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        }
    }
    for (def_name, field, keys) in LIST_MAP_KEY_OVERRIDES {
        if let Some(prop) = property_mut(defs, def_name, field) {
            prop.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        }
    }
    for def_name in ATOMIC_STRUCTS {
        if let Some(Value::Object(schema)) = defs.get_mut(*def_name) {
            schema.insert("x-kubernetes-map-type".into(), json!("atomic"));
        }
    }
}

fn property_mut<'a>(
    defs: &'a mut BTreeMap<String, Value>,
    def_name: &str,
    field: &str,
) -> Option<&'a mut serde_json::Map<String, Value>> {
    defs.get_mut(def_name)?.get_mut("properties")?.get_mut(field)?.as_object_mut()
}
