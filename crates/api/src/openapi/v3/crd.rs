//! Custom resources in the documents: each served version of a CRD becomes two
//! component schemas named like upstream's (`com.example.stable.v1.CronTab` and
//! `...CronTabList`) and a resource with upstream's paths.
//!
//! The kind's schema is the version's `openAPIV3Schema` with `apiVersion` and
//! `kind` described, `metadata` pointing at ObjectMeta, embedded resources
//! (`x-kubernetes-embedded-resource`) given the same three fields, and the
//! group-version-kind tag that `kubectl explain` looks kinds up by.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::operations::{CUSTOM, schema_ref};
use super::paths::{ServedResource, ServedSubresource};
use crate::resource::GroupVersionKind;
use crate::schema::Catalog;

const OBJECT_META_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
const LIST_META_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";
const SCALE_DEF: &str = "io.k8s.api.autoscaling.v1.Scale";
/// A definition that always carries type-meta fields, to describe CRs' the same way.
const TYPE_META_SOURCE_DEF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";

const METADATA_DESCRIPTION: &str = "Standard object metadata: name, namespace, labels, annotations, owners, \
     and the fields the system maintains. More info: \
     https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const LIST_METADATA_DESCRIPTION: &str = "Standard list metadata: the list's resourceVersion and the continue \
     token of paginated lists. More info: \
     https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const EMBEDDED_API_VERSION_DESCRIPTION: &str = "The versioned schema of the embedded object, as group/version \
     (just the version for the core group). More info: \
     https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const EMBEDDED_KIND_DESCRIPTION: &str = "The type of the embedded object, in CamelCase. More info: \
     https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Why a CRD could not be described.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrdError {
    #[error("the CustomResourceDefinition has no {0}")]
    Missing(&'static str),
    #[error("CustomResourceDefinition {crd} does not serve version {version}")]
    VersionNotServed { crd: String, version: String },
}

/// The facts of one CRD version the documents need.
struct CrdVersion<'a> {
    gvk: GroupVersionKind,
    list_kind: String,
    plural: &'a str,
    namespaced: bool,
    schema: Option<&'a Value>,
    status: bool,
    scale: bool,
}

fn str_at<'a>(v: &'a Value, pointer: &str, what: &'static str) -> Result<&'a str, CrdError> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or(CrdError::Missing(what))
}

fn crd_version<'a>(crd: &'a Value, version: &str) -> Result<CrdVersion<'a>, CrdError> {
    let group = str_at(crd, "/spec/group", "spec.group")?;
    let kind = str_at(crd, "/spec/names/kind", "spec.names.kind")?;
    let plural = str_at(crd, "/spec/names/plural", "spec.names.plural")?;
    let list_kind = str_at(crd, "/spec/names/listKind", "spec.names.listKind")
        .map(String::from)
        .unwrap_or_else(|_| format!("{kind}List"));
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).ok_or(CrdError::Missing("spec.versions"))?;
    let entry =
        versions.iter().find(|v| v["name"] == version && v["served"].as_bool().unwrap_or(false)).ok_or_else(|| {
            CrdError::VersionNotServed {
                crd: crd.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(plural).to_string(),
                version: version.to_string(),
            }
        })?;
    Ok(CrdVersion {
        gvk: GroupVersionKind::new(group, version, kind),
        list_kind,
        plural,
        namespaced: crd.pointer("/spec/scope").and_then(Value::as_str) != Some("Cluster"),
        schema: entry.pointer("/schema/openAPIV3Schema").filter(|s| s.is_object()),
        status: entry.pointer("/subresources/status").is_some_and(Value::is_object),
        scale: entry.pointer("/subresources/scale").is_some_and(Value::is_object),
    })
}

/// The versions a CRD serves.
pub(super) fn served_versions(crd: &Value) -> Vec<&str> {
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    versions
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .filter_map(|v| v["name"].as_str())
        .collect()
}

/// Upstream's definition name of a custom kind: the group's DNS labels reversed,
/// then version and kind (`stable.example.com`, `v1`, `CronTab` ->
/// `com.example.stable.v1.CronTab`).
pub fn crd_definition_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').filter(|p| !p.is_empty()).rev().collect();
    parts.push(version);
    parts.push(kind);
    parts.join(".")
}

/// The component schemas of one served version of a CRD: the kind and its list
/// kind, keyed by [`crd_definition_name`]. Their `$ref`s point into `catalog`
/// (ObjectMeta, ListMeta), so merge them into it to navigate them with
/// [`SchemaNode`](crate::schema::SchemaNode) (see [`extend_catalog`]), e.g. to
/// validate or prune custom resources.
pub fn crd_schema_definitions(
    catalog: &Catalog,
    crd: &Value,
    version: &str,
) -> Result<BTreeMap<String, Value>, CrdError> {
    let v = crd_version(crd, version)?;
    Ok(definitions(catalog, &v))
}

/// `catalog` plus the schemas of every served version of `crds`; CRDs that
/// cannot be described are left out.
pub fn extend_catalog(catalog: &Catalog, crds: &[Value]) -> Catalog {
    let mut defs = catalog.definitions().clone();
    for crd in crds {
        for version in served_versions(crd) {
            if let Ok(v) = crd_version(crd, version) {
                defs.extend(definitions(catalog, &v));
            }
        }
    }
    Catalog::from_definitions(defs)
}

/// The resource a served CRD version adds to its group-version document, and its schemas.
pub(super) fn served_resource(
    catalog: &Catalog,
    crd: &Value,
    version: &str,
) -> Result<(ServedResource, BTreeMap<String, Value>), CrdError> {
    let v = crd_version(crd, version)?;
    let kind_def = crd_definition_name(&v.gvk.group, version, &v.gvk.kind);
    let list_def = crd_definition_name(&v.gvk.group, version, &v.list_kind);
    let object_verbs = ["get", "patch", "update"].map(String::from).to_vec();
    let mut subresources = Vec::new();
    // Upstream tags every operation of a custom resource, scale included, with the resource's own kind.
    if v.status {
        subresources.push(ServedSubresource {
            name: "status".into(),
            gvk: v.gvk.clone(),
            def: Some(kind_def.clone()),
            verbs: object_verbs.clone(),
        });
    }
    if v.scale {
        subresources.push(ServedSubresource {
            name: "scale".into(),
            gvk: v.gvk.clone(),
            def: Some(SCALE_DEF.into()),
            verbs: object_verbs,
        });
    }
    let resource = ServedResource {
        gvk: v.gvk.clone(),
        plural: v.plural.to_string(),
        namespaced: v.namespaced,
        verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
            .map(String::from)
            .to_vec(),
        kind_def,
        list_def,
        subresources,
        flavor: &CUSTOM,
    };
    Ok((resource, definitions(catalog, &v)))
}

fn definitions(catalog: &Catalog, v: &CrdVersion<'_>) -> BTreeMap<String, Value> {
    let (group, version) = (v.gvk.group.as_str(), v.gvk.version.as_str());
    let kind_def = crd_definition_name(group, version, &v.gvk.kind);
    let list_def = crd_definition_name(group, version, &v.list_kind);
    let gvk = |kind: &str| json!([{"group": group, "version": version, "kind": kind}]);

    let mut schema = match v.schema {
        Some(schema) => {
            let mut schema = schema.clone();
            for_each_schema(&mut schema, &mut |s| {
                strip_non_openapi_keywords(s);
                add_embedded_resource_fields(s);
            });
            schema
        }
        // Without a schema anything goes; still describe what every object has.
        None => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
    };
    if let Some(map) = schema.as_object_mut() {
        map.entry("type").or_insert_with(|| json!("object"));
        if let Some(props) = properties_mut(map) {
            props.insert("apiVersion".into(), type_meta_field(catalog, "apiVersion"));
            props.insert("kind".into(), type_meta_field(catalog, "kind"));
            props.insert("metadata".into(), described_ref(OBJECT_META_DEF, METADATA_DESCRIPTION));
        }
        map.insert("x-kubernetes-group-version-kind".into(), gvk(&v.gvk.kind));
    }

    let list = json!({
        "description": format!("{} is a list of {}.", v.list_kind, v.gvk.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": type_meta_field(catalog, "apiVersion"),
            "kind": type_meta_field(catalog, "kind"),
            "items": {
                "description": format!("List of {}.", v.plural),
                "type": "array",
                "items": schema_ref(&kind_def),
            },
            "metadata": described_ref(LIST_META_DEF, LIST_METADATA_DESCRIPTION),
        },
        "x-kubernetes-group-version-kind": gvk(&v.list_kind),
    });
    BTreeMap::from([(kind_def, schema), (list_def, list)])
}

/// A `$ref` with a description beside it, wrapped in `allOf` as OpenAPI v3 requires
/// (and as the built-in schemas do).
fn described_ref(def: &str, description: &str) -> Value {
    json!({"allOf": [schema_ref(def)], "description": description})
}

fn type_meta_field(catalog: &Catalog, field: &str) -> Value {
    catalog
        .get(TYPE_META_SOURCE_DEF)
        .and_then(|s| s.pointer(&format!("/properties/{field}")))
        .cloned()
        .unwrap_or_else(|| json!({"type": "string"}))
}

/// The schema's `properties`, created (or replaced, when not an object) as needed.
fn properties_mut(map: &mut Map<String, Value>) -> Option<&mut Map<String, Value>> {
    if !map.get("properties").is_some_and(Value::is_object) {
        map.insert("properties".into(), json!({}));
    }
    map.get_mut("properties").and_then(Value::as_object_mut)
}

/// Calls `f` on every schema object inside `schema`, innermost first.
fn for_each_schema(schema: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    let Value::Object(map) = schema else { return };
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        props.values_mut().for_each(|s| for_each_schema(s, f));
    }
    match map.get_mut("items") {
        Some(items @ Value::Object(_)) => for_each_schema(items, f),
        Some(Value::Array(items)) => items.iter_mut().for_each(|s| for_each_schema(s, f)),
        _ => {}
    }
    if let Some(additional @ Value::Object(_)) = map.get_mut("additionalProperties") {
        for_each_schema(additional, f);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = map.get_mut(key) {
            list.iter_mut().for_each(|s| for_each_schema(s, f));
        }
    }
    if let Some(not) = map.get_mut("not") {
        for_each_schema(not, f);
    }
    f(map);
}

/// JSON-Schema keywords a CRD schema may carry that OpenAPI v3 schemas don't
/// have; `$ref` in particular would point outside the document.
fn strip_non_openapi_keywords(schema: &mut Map<String, Value>) {
    for key in ["$ref", "$schema", "id", "definitions", "dependencies", "additionalItems", "patternProperties"] {
        schema.remove(key);
    }
}

/// An embedded object (`x-kubernetes-embedded-resource: true`) is a full object:
/// it gets apiVersion, kind (both required) and ObjectMeta metadata.
fn add_embedded_resource_fields(schema: &mut Map<String, Value>) {
    if schema.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) != Some(true) {
        return;
    }
    if let Some(props) = properties_mut(schema) {
        props.insert("apiVersion".into(), json!({"type": "string", "description": EMBEDDED_API_VERSION_DESCRIPTION}));
        props.insert("kind".into(), json!({"type": "string", "description": EMBEDDED_KIND_DESCRIPTION}));
        props.insert("metadata".into(), described_ref(OBJECT_META_DEF, METADATA_DESCRIPTION));
    }
    let required = schema.entry("required").or_insert_with(|| json!([]));
    if let Value::Array(required) = required {
        for field in ["kind", "apiVersion"] {
            if !required.iter().any(|r| r == field) {
                required.push(json!(field));
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A namespaced CronTab CRD with two versions (v1 served with status and scale, v2 not served).
    pub fn crontab_crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList"},
                "versions": [
                    {
                        "name": "v1",
                        "served": true,
                        "storage": true,
                        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                        "schema": {"openAPIV3Schema": {
                            "type": "object",
                            "description": "A periodic job.",
                            "properties": {
                                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20}}},
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "cronSpec": {"type": "string", "description": "When to run, in cron syntax."},
                                        "replicas": {"type": "integer"},
                                        "template": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                                        "ports": {
                                            "type": "array",
                                            "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["name"],
                                            "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "id": {"type": "integer"}}}
                                        }
                                    }
                                },
                                "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
                            }
                        }}
                    },
                    {"name": "v2", "served": false, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}
                ]
            }
        })
    }

    fn catalog() -> Catalog {
        crate::schema::generate(&crate::kinds::builtin())
    }

    #[test]
    fn definition_names_reverse_the_group() {
        assert_eq!(crd_definition_name("stable.example.com", "v1", "CronTab"), "com.example.stable.v1.CronTab");
        assert_eq!(crd_definition_name("widgets", "v1alpha1", "Widget"), "widgets.v1alpha1.Widget");
    }

    #[test]
    fn schema_gets_type_meta_object_meta_and_gvk() {
        let c = catalog();
        let defs = crd_schema_definitions(&c, &crontab_crd(), "v1").unwrap();
        let cr = &defs["com.example.stable.v1.CronTab"];
        assert_eq!(cr["description"], "A periodic job.");
        assert_eq!(
            cr["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(cr["properties"]["metadata"].get("properties").is_none(), "the CRD's own metadata schema is replaced");
        assert!(cr["properties"]["apiVersion"]["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(cr["properties"]["kind"]["type"], "string");
        assert_eq!(
            cr["x-kubernetes-group-version-kind"],
            json!([{"group": "stable.example.com", "version": "v1", "kind": "CronTab"}])
        );
        let template = &cr["properties"]["spec"]["properties"]["template"];
        assert_eq!(template["required"], json!(["kind", "apiVersion"]));
        assert!(template["properties"]["metadata"]["allOf"].is_array());
        // Property names that look like keywords are left alone.
        assert!(cr.pointer("/properties/spec/properties/ports/items/properties/id").is_some());

        let list = &defs["com.example.stable.v1.CronTabList"];
        assert_eq!(list["properties"]["items"]["items"]["$ref"], "#/components/schemas/com.example.stable.v1.CronTab");
        assert_eq!(list["x-kubernetes-group-version-kind"][0]["kind"], "CronTabList");
    }

    #[test]
    fn unserved_versions_and_broken_crds_are_errors() {
        let c = catalog();
        assert!(matches!(crd_schema_definitions(&c, &crontab_crd(), "v2"), Err(CrdError::VersionNotServed { .. })));
        let mut broken = crontab_crd();
        broken["spec"]["names"] = json!({});
        assert_eq!(crd_schema_definitions(&c, &broken, "v1"), Err(CrdError::Missing("spec.names.kind")));
        assert_eq!(crd_schema_definitions(&c, &json!("nonsense"), "v1"), Err(CrdError::Missing("spec.group")));
    }

    #[test]
    fn extended_catalog_navigates_custom_resources() {
        let c = extend_catalog(&catalog(), &[crontab_crd(), json!({"spec": {}})]);
        let cr = c.root("com.example.stable.v1.CronTab").unwrap();
        let ports = cr.property("spec").unwrap().property("ports").unwrap();
        assert_eq!(ports.list_type(), crate::schema::ListType::Map(vec!["name".into()]));
        let labels = cr.property("metadata").unwrap().property("labels").unwrap();
        assert!(labels.is_map());
        assert!(c.root("com.example.stable.v2.CronTab").is_none());
    }
}
