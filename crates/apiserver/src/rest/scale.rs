//! The `scale` subresource: an `autoscaling/v1` Scale view of a scalable object.

use axum::response::Response;
use http::StatusCode;
use k3rs_api::selector::LabelSelector;
use k3rs_api::validation::FieldError;
use k3rs_api::{ApiError, Reason, meta};
use serde_json::{Value, json};

use super::ResourceRequest;
use super::read::load;
use super::write::write_with_retries;
use crate::http::negotiate::{body_format, decode_body};
use crate::http::response;
use crate::objects;

fn paths(r: &ResourceRequest) -> Result<k3rs_api::strategy::ScalePaths, ApiError> {
    r.storage
        .strategy
        .scale_paths()
        .ok_or_else(|| ApiError::not_found(&format!("{}/scale", r.def.plural), &r.def.group, r.name()))
}

/// The Scale view of a stored object.
fn scale_of(r: &ResourceRequest, obj: &Value) -> Result<Value, ApiError> {
    let p = paths(r)?;
    let spec_replicas = obj.pointer(&p.spec_replicas).and_then(Value::as_i64).unwrap_or(0);
    let status_replicas = obj.pointer(&p.status_replicas).and_then(Value::as_i64).unwrap_or(0);
    let selector = match p.selector.as_deref().and_then(|s| obj.pointer(s)) {
        Some(Value::String(s)) => s.clone(),
        Some(sel @ Value::Object(_)) => LabelSelector::from_object(Some(sel)).map(|s| s.to_query()).unwrap_or_default(),
        _ => String::new(),
    };
    let mut metadata = json!({
        "name": meta::name(obj),
        "uid": meta::uid(obj),
        "resourceVersion": meta::resource_version(obj),
    });
    if let Some(ns) = obj.pointer("/metadata/namespace") {
        metadata["namespace"] = ns.clone();
    }
    if let Some(ts) = obj.pointer("/metadata/creationTimestamp") {
        metadata["creationTimestamp"] = ts.clone();
    }
    let mut status = json!({"replicas": status_replicas});
    if !selector.is_empty() {
        status["selector"] = json!(selector);
    }
    Ok(json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": spec_replicas},
        "status": status,
    }))
}

pub async fn get(r: &ResourceRequest) -> Result<Response, ApiError> {
    let (obj, _) = load(r).await?;
    Ok(response::encoded(StatusCode::OK, &scale_of(r, &obj)?, r.output.encoding))
}

fn replicas_of(r: &ResourceRequest, scale: &Value) -> Result<i64, ApiError> {
    let replicas = match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or_else(|| ApiError::bad_request("spec.replicas must be an integer"))?,
    };
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            r.name(),
            &[FieldError::invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
        ));
    }
    Ok(replicas)
}

async fn write_replicas(r: &ResourceRequest, replicas: i64, precondition: Option<i64>) -> Result<Response, ApiError> {
    let p = paths(r)?;
    let dry_run = r.query.dry_run()?;
    let resp = write_with_retries(r, dry_run, &[], precondition, |old| {
        let mut new = old.clone();
        set_pointer(&mut new, &p.spec_replicas, json!(replicas));
        Ok(new)
    })
    .await?;
    // Answer with the Scale of the written object.
    let (status, body) = into_json(resp).await?;
    if !status.is_success() {
        return Ok(response::json(status, &body));
    }
    let mut obj = body;
    let gv = r.def.api_version();
    if obj.get("apiVersion").and_then(Value::as_str) == Some(gv.as_str()) {
        obj = objects::to_storage_version(&r.def, obj)?;
    }
    Ok(response::encoded(StatusCode::OK, &scale_of(r, &obj)?, r.output.encoding))
}

async fn into_json(resp: Response) -> Result<(StatusCode, Value), ApiError> {
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map_err(|e| ApiError::internal(format!("reading response: {e}")))?;
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, v))
}

/// Sets the value at a JSON pointer, creating objects on the way.
pub fn set_pointer(obj: &mut Value, pointer: &str, value: Value) {
    let mut cur = obj;
    let parts: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = json!({});
        }
        let map = cur.as_object_mut().expect("made an object");
        if i == parts.len() - 1 {
            map.insert(part.to_string(), value);
            return;
        }
        cur = map.entry(part.to_string()).or_insert_with(|| json!({}));
    }
}

pub async fn update(r: &ResourceRequest) -> Result<Response, ApiError> {
    let format = body_format(r.header("content-type"))?;
    let scale = decode_body(&r.body, format)?.value;
    let replicas = replicas_of(r, &scale)?;
    let precondition = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<i64>().ok());
    write_replicas(r, replicas, precondition).await
}

pub async fn patch(r: &ResourceRequest) -> Result<Response, ApiError> {
    let (obj, _) = load(r).await?;
    let current = scale_of(r, &obj)?;
    let ct = r.header("content-type").unwrap_or("");
    let patch: Value =
        serde_json::from_slice(&r.body).map_err(|e| ApiError::bad_request(format!("json parse error: {e}")))?;
    let patched = match ct.split(';').next().unwrap_or("").trim() {
        "application/json-patch+json" => k3rs_api::patch::json_patch::apply(&current, &patch),
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            k3rs_api::patch::merge_patch::apply(&current, &patch)
        }
        other => {
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"),
            ));
        }
    }
    .map_err(ApiError::from)?;
    let replicas = replicas_of(r, &patched)?;
    write_replicas(r, replicas, None).await
}
