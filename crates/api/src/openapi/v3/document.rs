//! Assembles a group-version document: the paths of its resources and every
//! component schema they reach.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::KUBERNETES_VERSION;
use super::crd;
use super::operations::BUILTIN;
use super::paths::{Paths, ServedResource, ServedSubresource};
use crate::resource::{GroupVersionKind, ResourceDef};
use crate::schema::{Catalog, collect_refs};

/// Meta types operations reference that the kind catalog doesn't carry.
static OPERATION_TYPES: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
    let mut generator = SchemaSettings::openapi3().into_generator();
    generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::Patch>();
    generator.take_definitions(true).into_iter().collect()
});

/// The `/openapi/v3/apis/<group>/<version>` (or `/openapi/v3/api/v1`) document of
/// built-in resources: their paths and operations, and every schema reachable from
/// their kinds, list kinds and operations. `resources` may hold other
/// group-versions too; only `group`/`version` ones are described, and only those
/// whose kind the catalog has a schema for.
pub fn group_version_document(catalog: &Catalog, group: &str, version: &str, resources: &[&ResourceDef]) -> Value {
    let mut paths = Paths::new(group, version);
    paths.add_discovery();
    let mut roots = BTreeSet::new();
    for def in resources.iter().filter(|d| d.group == group && d.version == version) {
        if let Some(served) = builtin_resource(catalog, def) {
            paths.add_resource(&served);
            roots.insert(served.kind_def.clone());
            roots.insert(served.list_def.clone());
        }
    }
    document(catalog, &BTreeMap::new(), &paths, roots)
}

/// The document of a custom resource group-version: every CRD of `crds` whose
/// group is `group` and that serves `version` contributes its kind, list kind and
/// paths. CRDs that cannot be described (missing names) are left out; the API
/// server validated them when they were created.
pub fn crd_group_version_document(catalog: &Catalog, crds: &[Value], group: &str, version: &str) -> Value {
    let mut paths = Paths::new(group, version);
    paths.add_discovery();
    let mut local = BTreeMap::new();
    let mut roots = BTreeSet::new();
    for crd in crds.iter().filter(|c| c.pointer("/spec/group").and_then(Value::as_str) == Some(group)) {
        let Ok((served, defs)) = crd::served_resource(catalog, crd, version) else { continue };
        paths.add_resource(&served);
        roots.insert(served.kind_def.clone());
        roots.insert(served.list_def.clone());
        local.extend(defs);
    }
    document(catalog, &local, &paths, roots)
}

/// Every built-in group-version of `resources`, in order, with its document key
/// (`api/v1`, `apis/apps/v1`) and document.
pub fn builtin_documents(catalog: &Catalog, resources: &[ResourceDef]) -> Vec<(String, Value)> {
    let mut group_versions: Vec<(&str, &str)> = Vec::new();
    for def in resources {
        if !group_versions.contains(&(def.group.as_str(), def.version.as_str())) {
            group_versions.push((def.group.as_str(), def.version.as_str()));
        }
    }
    let all: Vec<&ResourceDef> = resources.iter().collect();
    group_versions
        .into_iter()
        .map(|(g, v)| (super::document_key(g, v), group_version_document(catalog, g, v, &all)))
        .collect()
}

fn builtin_resource(catalog: &Catalog, def: &ResourceDef) -> Option<ServedResource> {
    let (group, version) = (def.group.as_str(), def.version.as_str());
    let kind_def = match &def.schema_name {
        Some(name) if catalog.get(name).is_some() => name.clone(),
        _ => catalog.find_kind(group, version, &def.kind)?.to_string(),
    };
    // Create-only kinds (reviews) have no list kind and no list operation to reference one.
    let list_def =
        if def.stored { catalog.find_kind(group, version, &def.list_kind)?.to_string() } else { kind_def.clone() };
    let subresources = def
        .subresources
        .iter()
        .map(|sub| {
            let (g, v, k) = &sub.response_kind;
            let def = if sub.name == "status" {
                Some(kind_def.clone())
            } else {
                catalog.find_kind(g, v, k).map(String::from)
            };
            ServedSubresource {
                name: sub.name.to_string(),
                gvk: GroupVersionKind::new(g, v, k),
                def,
                verbs: sub.verbs.iter().map(|v| v.to_string()).collect(),
            }
        })
        .collect();
    Some(ServedResource {
        gvk: def.gvk(),
        plural: def.plural.clone(),
        namespaced: def.namespaced,
        verbs: def.verbs.iter().map(|v| v.to_string()).collect(),
        kind_def,
        list_def,
        subresources,
        flavor: &BUILTIN,
    })
}

/// The document: `paths`, and the schemas reachable from `roots` and from the
/// operations, looked up in `local` (custom resources), then the operation meta
/// types, then the catalog.
fn document(catalog: &Catalog, local: &BTreeMap<String, Value>, paths: &Paths, roots: BTreeSet<String>) -> Value {
    let mut wanted: Vec<String> = roots.into_iter().chain(paths.referenced_definitions()).collect();
    let mut schemas = Map::new();
    while let Some(name) = wanted.pop() {
        if schemas.contains_key(&name) {
            continue;
        }
        let found = local.get(&name).or_else(|| OPERATION_TYPES.get(&name)).or_else(|| catalog.get(&name));
        if let Some(schema) = found {
            collect_refs(schema, &mut wanted);
            schemas.insert(name, schema.clone());
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths.to_json(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer token authentication",
                    "name": "authorization",
                    "in": "header",
                },
            },
        },
    })
}
