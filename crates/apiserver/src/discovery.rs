//! Discovery: which groups, versions and resources the server serves, both in
//! the legacy documents (`APIVersions`, `APIGroupList`, `APIResourceList`) and
//! in the aggregated form (`apidiscovery.k8s.io/v2`) current kubectl prefers.

use axum::body::Body;
use axum::response::Response;
use http::{StatusCode, header};
use k3rs_api::ResourceDef;
use serde_json::{Value, json};

use crate::http::response;
use crate::registry::Registry;

pub const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
pub const AGGREGATED_V2BETA1: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// Which aggregated discovery version the client accepts (first match wins).
pub fn aggregated_version(accept: Option<&str>) -> Option<&'static str> {
    let accept = accept?;
    for part in accept.split(',') {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if params.first() == Some(&"application/json")
            && has("g=apidiscovery.k8s.io")
            && has("as=APIGroupDiscoveryList")
        {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
        if params.first() == Some(&"application/json") && params.len() == 1 {
            return None;
        }
    }
    None
}

fn group_version(group: &str, version: &str) -> String {
    k3rs_api::resource::api_version(group, version)
}

/// `/api` (legacy form).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn api_group(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> =
        versions.iter().map(|v| json!({"groupVersion": group_version(group, v), "version": v})).collect();
    json!({
        "name": group,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

/// `/apis` (legacy form).
pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> =
        registry.groups().iter().filter(|g| !g.group.is_empty()).map(|g| api_group(&g.group, &g.versions)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    registry.groups().into_iter().find(|g| g.group == name && !name.is_empty()).map(|g| {
        let mut v = api_group(&g.group, &g.versions);
        v["kind"] = json!("APIGroup");
        v["apiVersion"] = json!("v1");
        v
    })
}

fn legacy_resource(def: &ResourceDef) -> Vec<Value> {
    let mut out = Vec::new();
    let mut main = json!({
        "name": def.plural,
        "singularName": def.singular,
        "namespaced": def.namespaced,
        "kind": def.kind,
        "verbs": def.verbs,
    });
    if !def.short_names.is_empty() {
        main["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        main["categories"] = json!(def.categories);
    }
    out.push(main);
    for sub in &def.subresources {
        let (g, v, k) = &sub.response_kind;
        let mut entry = json!({
            "name": format!("{}/{}", def.plural, sub.name),
            "singularName": "",
            "namespaced": def.namespaced,
            "kind": k,
            "verbs": sub.verbs,
        });
        if g != &def.group || v != &def.version {
            entry["group"] = json!(g);
            entry["version"] = json!(v);
        }
        out.push(entry);
    }
    out
}

/// `/api/v1`, `/apis/<group>/<version>`.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs = registry.resources_of(group, version);
    if defs.is_empty() {
        return None;
    }
    let resources: Vec<Value> = defs.iter().flat_map(|d| legacy_resource(d)).collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": resources,
    }))
}

fn aggregated_resource(def: &ResourceDef) -> Value {
    let mut r = json!({
        "resource": def.plural,
        "responseKind": {"group": def.group, "version": def.version, "kind": def.kind},
        "scope": if def.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": def.singular,
        "verbs": def.verbs,
    });
    if !def.short_names.is_empty() {
        r["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        r["categories"] = json!(def.categories);
    }
    if !def.subresources.is_empty() {
        let subs: Vec<Value> = def
            .subresources
            .iter()
            .map(|s| {
                let (g, v, k) = &s.response_kind;
                json!({"subresource": s.name, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": s.verbs})
            })
            .collect();
        r["subresources"] = json!(subs);
    }
    r
}

fn aggregated_group(registry: &Registry, group: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> =
                registry.resources_of(group, v).iter().map(|d| aggregated_resource(d)).collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": versions})
}

/// The aggregated document of `/api` (`core == true`) or `/apis`.
pub fn aggregated(registry: &Registry, core: bool, version: &str) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|g| g.group.is_empty() == core)
        .map(|g| aggregated_group(registry, &g.group, &g.versions))
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// Answers `/api` or `/apis` in the form the client accepts.
pub fn respond_root(registry: &Registry, core: bool, accept: Option<&str>, server_address: &str) -> Response {
    match aggregated_version(accept) {
        Some(version) => {
            let body = serde_json::to_vec(&aggregated(registry, core, version)).unwrap_or_default();
            let ct = if version == "v2" { AGGREGATED_V2 } else { AGGREGATED_V2BETA1 };
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, ct)
                .header(header::VARY, "Accept")
                .body(Body::from(body))
                .unwrap_or_default()
        }
        None if core => response::json(StatusCode::OK, &core_versions(server_address)),
        None => response::json(StatusCode::OK, &group_list(registry)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_header_selects_v2() {
        let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(Some(accept)), Some("v2"));
        assert_eq!(aggregated_version(Some("application/json")), None);
        assert_eq!(aggregated_version(None), None);
    }
}
