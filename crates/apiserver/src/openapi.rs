//! Serves `/openapi/v3`: the root listing every group-version with a content
//! hash, and one document per group-version, cached until the registry changes.
//! Hashed URLs are immutable, so kubectl's HTTP cache can skip refetching them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use k3rs_api::ApiError;
use k3rs_api::openapi::v3;
use serde_json::Value;

use crate::http::response;
use crate::registry::Registry;

#[derive(Clone)]
pub struct Document {
    pub bytes: Bytes,
    pub hash: String,
}

/// Documents by path (`api/v1`, `apis/apps/v1`), built on first use.
#[derive(Default)]
pub struct DocumentCache {
    docs: Mutex<Option<Arc<BTreeMap<String, Document>>>>,
}

impl DocumentCache {
    pub fn clear(&self) {
        *self.docs.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn get_or_build(&self, registry: &Registry) -> Arc<BTreeMap<String, Document>> {
        let mut guard = self.docs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(docs) = guard.as_ref() {
            return docs.clone();
        }
        let docs = Arc::new(build_all(registry));
        *guard = Some(docs.clone());
        docs
    }
}

fn path_of(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

fn build_all(registry: &Registry) -> BTreeMap<String, Document> {
    let mut docs = BTreeMap::new();
    let crds: Vec<Value> = registry.crds().values().cloned().collect();
    for g in registry.groups() {
        for version in &g.versions {
            let defs = registry.resources_of(&g.group, version);
            let builtin = defs.iter().all(|d| d.add_schema.is_some());
            let doc = if builtin {
                let refs: Vec<&k3rs_api::ResourceDef> = defs.iter().map(|d| d.as_ref()).collect();
                v3::group_version_document(registry.catalog(), &g.group, version, &refs)
            } else {
                let group_crds: Vec<Value> = crds
                    .iter()
                    .filter(|c| c.pointer("/spec/group").and_then(Value::as_str) == Some(g.group.as_str()))
                    .cloned()
                    .collect();
                v3::crd_group_version_document(registry.catalog(), &group_crds, &g.group, version)
            };
            let bytes = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
            let hash = v3::document_hash(&bytes);
            docs.insert(path_of(&g.group, version), Document { bytes, hash });
        }
    }
    docs
}

pub fn root(cache: &DocumentCache, registry: &Registry) -> Response {
    let docs = cache.get_or_build(registry);
    let entries: Vec<(String, String)> = docs.iter().map(|(p, d)| (p.clone(), d.hash.clone())).collect();
    let body = serde_json::to_vec(&v3::root(&entries)).unwrap_or_default();
    let etag = format!("\"{}\"", v3::document_hash(&body));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .header(header::ETAG, etag)
        .body(Body::from(body))
        .unwrap_or_default()
}

pub fn document(
    cache: &DocumentCache,
    registry: &Registry,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let docs = cache.get_or_build(registry);
    let Some(doc) = docs.get(path) else {
        return response::error(&ApiError::new(
            k3rs_api::Reason::NotFound,
            format!("no OpenAPI document for {path:?}"),
        ));
    };
    let asked_hash = query
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "hash").map(|(_, v)| v.into_owned()));
    let etag = format!("\"{}\"", doc.hash);
    if let Some(h) = &asked_hash
        && h != &doc.hash
    {
        // A stale hash: send the client to the current one.
        return Response::builder()
            .status(StatusCode::MOVED_PERMANENTLY)
            .header(header::LOCATION, format!("/openapi/v3/{path}?hash={}", doc.hash))
            .body(Body::empty())
            .unwrap_or_default();
    }
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, etag)
            .body(Body::empty())
            .unwrap_or_default();
    }
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ETAG, etag)
        .header(header::VARY, "Accept");
    if asked_hash.is_some() {
        // Hashed URLs never change content: let clients cache them for a year.
        let expires = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 365);
        builder = builder
            .header(header::CACHE_CONTROL, "public, immutable")
            .header(header::EXPIRES, expires.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string());
    } else {
        builder = builder.header(header::CACHE_CONTROL, "no-cache, private");
    }
    builder.body(Body::from(doc.bytes.clone())).unwrap_or_default()
}
