//! Whole-document checks: what kubectl reads from the documents must be there.

use serde_json::{Value, json};

use super::*;
use crate::kinds;
use crate::resource::ResourceDef;
use crate::schema::{Catalog, REF_PREFIX, collect_refs};

fn catalog_and_resources() -> (Catalog, Vec<ResourceDef>) {
    let resources = kinds::builtin();
    (crate::schema::generate(&resources), resources)
}

fn document(group: &str, version: &str) -> Value {
    let (catalog, resources) = catalog_and_resources();
    let all: Vec<&ResourceDef> = resources.iter().collect();
    group_version_document(&catalog, group, version, &all)
}

/// The component a `$ref`/single-`allOf` schema points at, as kubectl resolves it.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..16 {
        let target = schema.get("allOf").and_then(|a| a.get(0)).unwrap_or(schema);
        let Some(r) = target.get("$ref").and_then(Value::as_str) else { return schema };
        let name = r.strip_prefix(REF_PREFIX).unwrap_or(r);
        schema = &doc["components"]["schemas"][name];
    }
    schema
}

/// Like kubectl: the component whose `x-kubernetes-group-version-kind` list has this kind.
fn kind_schema<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Option<(&'a str, &'a Value)> {
    let want = json!({"group": group, "version": version, "kind": kind});
    doc["components"]["schemas"].as_object()?.iter().find_map(|(name, s)| {
        let gvks = s.get("x-kubernetes-group-version-kind")?.as_array()?;
        gvks.contains(&want).then_some((name.as_str(), s))
    })
}

fn kind_schema_count(doc: &Value, group: &str, version: &str, kind: &str) -> usize {
    let want = json!({"group": group, "version": version, "kind": kind});
    let schemas = doc["components"]["schemas"].as_object().into_iter().flatten();
    schemas.filter(|(_, s)| s["x-kubernetes-group-version-kind"].as_array().is_some_and(|g| g.contains(&want))).count()
}

/// Like kubectl's field-validation probe: the PATCH operations tagged with this kind.
fn patch_operations<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> Vec<&'a Value> {
    let want = json!({"group": group, "version": version, "kind": kind});
    let paths = doc["paths"].as_object().into_iter().flatten();
    paths.filter_map(|(_, item)| item.get("patch")).filter(|op| op["x-kubernetes-group-version-kind"] == want).collect()
}

fn declares_field_validation(op: &Value) -> bool {
    op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation" && p["in"] == "query"))
}

fn unresolved_refs(doc: &Value) -> Vec<String> {
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    let mut raw = Vec::new();
    collect_raw_refs(doc, &mut raw);
    let schemas = &doc["components"]["schemas"];
    let mut missing: Vec<String> = refs.into_iter().filter(|name| schemas.get(name).is_none()).collect();
    // A `$ref` that isn't a component reference can't resolve either.
    missing.extend(raw.into_iter().filter(|r| !r.starts_with(REF_PREFIX)));
    missing.sort();
    missing.dedup();
    missing
}

fn collect_raw_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_raw_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_raw_refs(v, out)),
        _ => {}
    }
}

#[test]
fn apps_v1_deployments_patch_declares_field_validation_and_gvk() {
    let doc = document("apps", "v1");
    assert_eq!(doc["openapi"], "3.0.0");
    assert_eq!(doc["info"]["title"], "Kubernetes");
    let item = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    let patch = &item["patch"];
    assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
    assert_eq!(patch["x-kubernetes-action"], "patch");
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "version": "v1", "kind": "Deployment"})
    );
    assert!(declares_field_validation(patch));
    let content = patch["requestBody"]["content"].as_object().unwrap();
    for media in [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ] {
        assert_eq!(
            content[media]["schema"],
            json!({"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"})
        );
    }
    assert_eq!(doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"]["type"], "object");
    assert!(doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"].is_object());
    assert!(doc["paths"]["/apis/apps/v1/deployments"]["get"].is_object());
    assert!(doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]["put"].is_object());
    let scale = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
    assert_eq!(scale["get"]["x-kubernetes-group-version-kind"]["kind"], "Scale");
    assert!(kind_schema(&doc, "autoscaling", "v1", "Scale").is_some());
    // No other group-version leaks in.
    assert!(doc["paths"].as_object().unwrap().keys().all(|p| p.starts_with("/apis/apps/v1/")));
}

#[test]
fn every_builtin_group_version_is_complete_for_kubectl() {
    let (catalog, resources) = catalog_and_resources();
    let documents = builtin_documents(&catalog, &resources);
    assert!(documents.iter().any(|(key, _)| key == "api/v1"));
    assert!(documents.iter().any(|(key, _)| key == "apis/autoscaling/v1"));
    for (key, doc) in &documents {
        assert_eq!(unresolved_refs(doc), Vec::<String>::new(), "{key}");
        let (group, version) = parse_document_key(key).unwrap();
        for def in resources.iter().filter(|d| d.group == group && d.version == version) {
            let what = format!("{key} {}", def.kind);
            // kubectl takes the first schema tagged with the kind: there must be exactly one.
            assert_eq!(kind_schema_count(doc, group, version, &def.kind), 1, "{what}: kind schema");
            if !def.stored {
                // Reviews: create only, no list kind, nothing to patch.
                let scope = if def.namespaced { "namespaces/{namespace}/" } else { "" };
                let create = &doc["paths"][format!("/apis/{group}/{version}/{scope}{}", def.plural)]["post"];
                assert_eq!(create["x-kubernetes-group-version-kind"]["kind"], def.kind.as_str(), "{what}");
                continue;
            }
            assert_eq!(kind_schema_count(doc, group, version, &def.list_kind), 1, "{what}: list schema");
            let patches = patch_operations(doc, group, version, &def.kind);
            assert!(!patches.is_empty(), "{what}: no PATCH operation");
            // kubectl takes whichever PATCH of the kind it meets first: all must qualify.
            for op in patches {
                assert!(declares_field_validation(op), "{what}: {}", op["operationId"]);
                assert!(op["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object(), "{what}");
            }
        }
    }
}

#[test]
fn documents_are_deterministic() {
    let a = serde_json::to_vec(&document("", "v1")).unwrap();
    let b = serde_json::to_vec(&document("", "v1")).unwrap();
    assert_eq!(document_hash(&a), document_hash(&b));
}

#[test]
fn explain_walks_pod_spec_containers_liveness_probe() {
    let doc = document("", "v1");
    let (_, pod) = kind_schema(&doc, "", "v1", "Pod").expect("Pod schema tagged with its GVK");
    assert!(pod["description"].as_str().is_some_and(|d| !d.is_empty()));
    let mut node = pod;
    for field in ["spec", "containers", "livenessProbe"] {
        let field_schema = &node["properties"][field];
        assert!(field_schema.is_object(), "no field {field}");
        assert!(field_schema["description"].as_str().is_some_and(|d| !d.is_empty()), "{field} has no description");
        node = resolve(&doc, field_schema);
        if node["type"] == "array" {
            node = resolve(&doc, &node["items"]);
        }
    }
    assert!(node["description"].as_str().is_some_and(|d| d.contains("health check")));
    let http_get = &node["properties"]["httpGet"];
    assert!(http_get["allOf"][0]["$ref"].is_string());
    assert!(resolve(&doc, http_get)["properties"]["port"]["description"].is_string());
    assert_eq!(node["properties"]["periodSeconds"]["type"], "integer");
}

#[test]
fn strategic_merge_patch_metadata_is_reachable() {
    // What kubectl's patch computation looks up while diffing a pod.
    let doc = document("", "v1");
    let (_, pod) = kind_schema(&doc, "", "v1", "Pod").unwrap();
    let meta = resolve(&doc, &pod["properties"]["metadata"]);
    assert!(meta["properties"]["annotations"].is_object());
    let spec = resolve(&doc, &pod["properties"]["spec"]);
    let containers = &spec["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    let container = resolve(&doc, &containers["items"]);
    assert!(container["properties"]["livenessProbe"].is_object());
}

#[test]
fn custom_resource_document() {
    let (catalog, _) = catalog_and_resources();
    let crds = [crd::tests::crontab_crd(), json!({"spec": {"group": "stable.example.com"}})];
    let doc = crd_group_version_document(&catalog, &crds, "stable.example.com", "v1");
    assert_eq!(unresolved_refs(&doc), Vec::<String>::new());

    let (name, cr) = kind_schema(&doc, "stable.example.com", "v1", "CronTab").expect("CR schema");
    assert_eq!(name, "com.example.stable.v1.CronTab");
    assert_eq!(
        cr["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(cr["properties"]["spec"]["properties"]["cronSpec"]["description"], "When to run, in cron syntax.");
    assert!(kind_schema(&doc, "stable.example.com", "v1", "CronTabList").is_some());
    assert!(doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());

    let base = "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs";
    assert_eq!(doc["paths"][base]["get"]["operationId"], "listStableExampleComV1NamespacedCronTab");
    assert_eq!(
        doc["paths"]["/apis/stable.example.com/v1/crontabs"]["get"]["operationId"],
        "listStableExampleComV1CronTabForAllNamespaces"
    );
    let patches = patch_operations(&doc, "stable.example.com", "v1", "CronTab");
    assert_eq!(patches.len(), 3, "item, status and scale");
    for op in patches {
        assert!(declares_field_validation(op));
        let content = op["requestBody"]["content"].as_object().unwrap();
        assert!(content.contains_key("application/merge-patch+json"));
        assert!(content.contains_key("application/apply-patch+yaml"));
        assert!(!content.contains_key("application/strategic-merge-patch+json"));
    }
    let scale = &doc["paths"][format!("{base}/{{name}}/scale")]["get"];
    assert_eq!(
        scale["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/io.k8s.api.autoscaling.v1.Scale"
    );
    assert!(doc["paths"][format!("{base}/{{name}}/status")]["patch"].is_object());

    // A version the CRD doesn't serve has no kinds.
    let v2 = crd_group_version_document(&catalog, &crds, "stable.example.com", "v2");
    assert!(kind_schema(&v2, "stable.example.com", "v2", "CronTab").is_none());
}

#[test]
fn cluster_scoped_custom_resources_have_no_namespace_paths() {
    let (catalog, _) = catalog_and_resources();
    let mut crd = crd::tests::crontab_crd();
    crd["spec"]["scope"] = json!("Cluster");
    let doc = crd_group_version_document(&catalog, &[crd], "stable.example.com", "v1");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/apis/stable.example.com/v1/crontabs/{name}"));
    assert!(paths.keys().all(|p| !p.contains("{namespace}")));
    assert_eq!(
        paths["/apis/stable.example.com/v1/crontabs/{name}"]["get"]["operationId"],
        "readStableExampleComV1CronTab"
    );
}
