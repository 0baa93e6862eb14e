//! Custom resources: what a `CustomResourceDefinition` makes the server serve.
//!
//! Each served version of an established CRD becomes a `ResourceDef` whose
//! strategy validates against the version's structural schema, prunes unknown
//! fields, applies defaults, prints the CRD's additional printer columns and
//! exposes the scale subresource paths. Objects are stored at
//! `/registry/<group>/<plural>/...` in the storage version; versions convert by
//! rewriting `apiVersion` (conversion strategy `None`).

pub mod jsonpath;
mod strategy;
pub mod structural;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::openapi::v3::{crd_definition_name, crd_schema_definitions};
use crate::resource::{ResourceDef, Subresource, VERBS_ALL};
use crate::schema::Catalog;
pub use strategy::CustomResourceStrategy;

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings_at(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

/// Whether the CRD has been accepted (its Established condition is True).
pub fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
}

/// The version objects are stored in.
pub fn storage_version(crd: &Value) -> Option<String> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name")?.as_str())
        .map(String::from)
}

/// The resources one CRD makes the server serve (one per served version), with the
/// component schemas they reference: `(defs, [(definition name, schema)])`. The
/// schemas' `$ref`s (ObjectMeta, ListMeta) point into `catalog`.
pub fn resources_for(crd: &Value, catalog: &Catalog) -> (Vec<ResourceDef>, Vec<(String, Value)>) {
    let group = str_at(crd, "/spec/group").to_string();
    let plural = str_at(crd, "/spec/names/plural").to_string();
    let kind = str_at(crd, "/spec/names/kind").to_string();
    let list_kind = match str_at(crd, "/spec/names/listKind") {
        "" => format!("{kind}List"),
        lk => lk.to_string(),
    };
    let singular = match str_at(crd, "/spec/names/singular") {
        "" => kind.to_lowercase(),
        s => s.to_string(),
    };
    let namespaced = str_at(crd, "/spec/scope") != "Cluster";
    let Some(storage) = storage_version(crd) else { return (Vec::new(), Vec::new()) };
    let mut defs = Vec::new();
    let mut schemas = Vec::new();
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut first_served = true;
    for v in &versions {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let version = v.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let def_name = crd_definition_name(&group, &version, &kind);
        let Ok(version_schemas) = crd_schema_definitions(catalog, crd, &version) else { continue };
        let kind_schema = version_schemas.get(&def_name).cloned().unwrap_or_else(|| json!({"type": "object"}));
        schemas.extend(version_schemas);
        let mut subresources = Vec::new();
        if v.pointer("/subresources/status").is_some() {
            subresources.push(Subresource::new("status", &group, &version, &kind, &["get", "patch", "update"]));
        }
        if v.pointer("/subresources/scale").is_some() {
            subresources.push(Subresource::new("scale", "autoscaling", "v1", "Scale", &["get", "patch", "update"]));
        }
        let strategy = CustomResourceStrategy::new(v, &group, &storage, kind_schema);
        defs.push(ResourceDef {
            group: group.clone(),
            version: version.clone(),
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced,
            short_names: strings_at(crd, "/spec/names/shortNames"),
            categories: strings_at(crd, "/spec/names/categories"),
            verbs: VERBS_ALL.to_vec(),
            subresources,
            storage_resource: format!("{group}/{plural}"),
            storage_group: group.clone(),
            storage_version: storage.clone(),
            schema_name: Some(def_name),
            preferred: first_served,
            add_schema: None,
            stored: true,
            strategy: Arc::new(strategy),
        });
        first_served = false;
    }
    (defs, schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}},
                        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}}},
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                    "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}
        })
    }

    #[test]
    fn crd_becomes_resources() {
        let catalog = crate::schema::generate(&crate::kinds::builtin());
        let (defs, schemas) = resources_for(&sample_crd(), &catalog);
        assert_eq!(defs.len(), 1);
        let d = &defs[0];
        assert_eq!((d.plural.as_str(), d.kind.as_str(), d.namespaced), ("crontabs", "CronTab", true));
        assert_eq!(d.storage_resource, "stable.example.com/crontabs");
        assert!(d.has_subresource("status") && d.has_subresource("scale"));
        assert!(schemas.iter().any(|(name, _)| name == "com.example.stable.v1.CronTab"));
        assert!(schemas.iter().any(|(name, _)| name == "com.example.stable.v1.CronTabList"));
        assert_eq!(d.strategy.scale_paths().unwrap().spec_replicas, "/spec/replicas");
        let cols: Vec<&str> = d.strategy.columns().iter().map(|c| c.name).collect();
        assert_eq!(cols, vec!["Spec", "Age"]);
    }
}
