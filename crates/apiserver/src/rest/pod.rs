//! Pod-only subresources: `binding` (the scheduler's decision) and `eviction`; the
//! streaming ones (`log`, `exec`, `attach`, `portforward`) are proxied to the kubelet by
//! `crate::kubelet`.

use axum::response::Response;
use http::StatusCode;
use k3rs_api::{ApiError, Reason, meta};
use serde_json::{Value, json};

use super::ResourceRequest;
use super::read::load;
use super::write::write_with_retries;
use crate::http::negotiate::{body_format, decode_body};
use crate::http::response;

fn success(code: StatusCode) -> Response {
    response::json(code, &k3rs_api::error::success_status(None))
}

pub async fn bind(r: &ResourceRequest) -> Result<Response, ApiError> {
    let format = body_format(r.header("content-type"))?;
    let binding = decode_body(&r.body, format)?.value;
    let target = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("binding target.name is required"))?
        .to_string();
    if let Some(kind) = binding.pointer("/target/kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != "Node"
    {
        return Err(ApiError::bad_request(format!("binding target kind must be Node, not {kind:?}")));
    }
    let name = r.name().to_string();
    write_with_retries(r, false, &[], None, |old| {
        if meta::deletion_timestamp(old).is_some() {
            return Err(ApiError::conflict("pods", "", &name, "pod is being deleted, cannot be assigned to a host"));
        }
        match old.pointer("/spec/nodeName").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => {
                Err(ApiError::conflict("pods", "", &name, &format!("pod {name} is already assigned to node {n:?}")))
            }
            _ => {
                let mut new = old.clone();
                new["spec"]["nodeName"] = json!(target);
                set_pod_condition(&mut new, "PodScheduled", "True");
                Ok(new)
            }
        }
    })
    .await?;
    Ok(success(StatusCode::CREATED))
}

/// Sets a pod condition's status, adding the condition when missing.
pub fn set_pod_condition(pod: &mut Value, ty: &str, status: &str) {
    let now = meta::format_time(jiff::Timestamp::now());
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let conditions =
        pod["status"].as_object_mut().expect("status is an object").entry("conditions").or_insert(json!([]));
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let list = conditions.as_array_mut().expect("an array");
    match list.iter_mut().find(|c| c["type"] == ty) {
        Some(c) => {
            if c["status"] != status {
                c["lastTransitionTime"] = json!(now);
            }
            c["status"] = json!(status);
        }
        None => list.push(json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": now})),
    }
}

pub async fn evict(r: &ResourceRequest) -> Result<Response, ApiError> {
    let format = body_format(r.header("content-type"))?;
    let eviction = decode_body(&r.body, format)?.value;
    let (pod, _) = load(r).await?;
    if let Some(blocking) = crate::admission::disruption::blocking_budget(r, &pod).await? {
        let mut err = ApiError::new(
            Reason::TooManyRequests,
            format!(
                "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget {blocking} needs more healthy pods."
            ),
        );
        err.retry_after_seconds = Some(10);
        return Err(err);
    }
    let grace = eviction.pointer("/deleteOptions/gracePeriodSeconds").and_then(Value::as_i64);
    crate::rest::delete::delete_pod_for_eviction(r, grace).await?;
    Ok(success(StatusCode::CREATED))
}

/// `pods/proxy` (HTTP to a pod's port through the API server) is not served yet.
pub async fn proxy_unsupported(r: &ResourceRequest) -> Result<Response, ApiError> {
    let (pod, _) = load(r).await?;
    Err(ApiError::new(
        Reason::NotImplemented,
        format!("pods/proxy is not supported by k3rs yet (pod {}); use kubectl port-forward", meta::name(&pod)),
    ))
}
