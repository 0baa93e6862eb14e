//! PATCH in its four forms: JSON patch, JSON merge patch, strategic merge patch
//! (built-in kinds only, as upstream) and server-side apply.

use std::sync::Mutex;

use axum::response::Response;
use k3rs_api::patch::{PatchType, server_side_apply};
use k3rs_api::validation::unknown_fields;
use k3rs_api::{ApiError, Reason, meta};
use serde_json::Value;

use crate::http::response;
use crate::objects;
use crate::rest::ResourceRequest;
use crate::rest::write::{check_type, create_object, request_to_storage, write_with_retries};
use crate::rest::{FieldValidation, read::load};

const ACCEPTED: &str = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

pub fn patch_type(r: &ResourceRequest) -> Result<PatchType, ApiError> {
    let ct = r.header("content-type").unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    let builtin = r.def.add_schema.is_some();
    match essence {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" if builtin => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        _ => {
            let accepted = if builtin {
                format!("{ACCEPTED}, application/strategic-merge-patch+json")
            } else {
                ACCEPTED.to_string()
            };
            Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!("the body of the request was in an unknown format - accepted media types include: {accepted}"),
            ))
        }
    }
}

pub fn is_apply(r: &ResourceRequest) -> bool {
    r.info.verb == crate::route::Verb::Patch && matches!(patch_type(r), Ok(PatchType::Apply))
}

fn parse_patch_body(r: &ResourceRequest, ty: PatchType) -> Result<Value, ApiError> {
    if r.body.len() > r.state.options.max_body_bytes {
        return Err(ApiError::too_large(r.state.options.max_body_bytes));
    }
    let value: Value = match ty {
        PatchType::Apply => {
            let text = std::str::from_utf8(&r.body).map_err(|_| ApiError::bad_request("apply patch is not UTF-8"))?;
            serde_saphyr::from_str(text).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?
        }
        _ => serde_json::from_slice(&r.body).map_err(|e| ApiError::bad_request(format!("json parse error: {e}")))?,
    };
    match (ty, &value) {
        (PatchType::Json, Value::Array(_)) => Ok(value),
        (PatchType::Json, _) => Err(ApiError::bad_request("a JSON patch must be an array of operations")),
        (_, Value::Object(_)) => Ok(value),
        _ => Err(ApiError::bad_request("the patch must be a JSON object")),
    }
}

/// Applies the patch to the object as the client sees it (request version).
fn apply_patch(
    r: &ResourceRequest,
    ty: PatchType,
    current: &Value,
    patch: &Value,
    force: bool,
) -> Result<Value, ApiError> {
    let schema = crate::crd::schema_node(&r.registry, &r.def)
        .ok_or_else(|| ApiError::internal(format!("no schema for {}", r.def.qualified_plural())))?;
    match ty {
        PatchType::Apply => {
            let writer = r.field_writer();
            server_side_apply(Some(current), patch, &writer.as_manager(), force, schema).map_err(ApiError::from)
        }
        other => k3rs_api::patch::apply_patch(other, current, patch, schema).map_err(ApiError::from),
    }
}

/// Strict/Warn handling of fields the patched object has but its schema lacks.
fn check_fields(r: &ResourceRequest, obj: &Value) -> Result<Vec<String>, ApiError> {
    let mode = r.query.field_validation()?;
    if mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let Some(node) = crate::crd::schema_node(&r.registry, &r.def) else { return Ok(Vec::new()) };
    let problems: Vec<String> = unknown_fields(obj, node).into_iter().map(|f| format!("unknown field {f:?}")).collect();
    if problems.is_empty() {
        Ok(problems)
    } else if mode == FieldValidation::Strict {
        Err(ApiError::bad_request(format!("strict decoding error: {}", problems.join(", "))))
    } else {
        Ok(problems)
    }
}

pub async fn patch(r: &ResourceRequest) -> Result<Response, ApiError> {
    let dry_run = r.query.dry_run()?;
    let ty = patch_type(r)?;
    let force = r.query.flag("force");
    if force && ty != PatchType::Apply {
        return Err(ApiError::bad_request("force: Forbidden: may not be specified for non-apply patch"));
    }
    if ty == PatchType::Apply && r.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            &[k3rs_api::validation::FieldError::required("fieldManager", "is required for apply patch")],
        ));
    }
    let patch_body = parse_patch_body(r, ty)?;
    if ty == PatchType::Apply {
        match load(r).await {
            Err(e) if e.reason == Reason::NotFound && r.info.subresource.is_none() => {
                return apply_creates(r, patch_body, force, dry_run).await;
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    let warnings = Mutex::new(Vec::new());
    let resp = write_with_retries(r, dry_run, &[], None, |old| {
        let current = objects::to_request_version(&r.def, old.clone())?;
        let mut patched = apply_patch(r, ty, &current, &patch_body, force)?;
        check_type(&r.def, &mut patched)?;
        if meta::name(&patched) != r.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({})",
                meta::name(&patched),
                r.name()
            )));
        }
        if let Some(ns) = r.namespace()
            && meta::namespace(&patched) != ns
        {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        *warnings.lock().unwrap_or_else(|e| e.into_inner()) = check_fields(r, &patched)?;
        // The patch's own resourceVersion (if any) is a precondition, as upstream.
        let rv = meta::resource_version(&patched);
        if !rv.is_empty() && rv != meta::resource_version(&current) {
            return Err(ApiError::stale(&r.def.plural, &r.def.group, r.name()));
        }
        request_to_storage(r, patched)
    })
    .await?;
    Ok(response::with_warnings(resp, &warnings.into_inner().unwrap_or_else(|e| e.into_inner())))
}

/// Server-side apply of an object that does not exist yet: it is created.
async fn apply_creates(r: &ResourceRequest, applied: Value, force: bool, dry_run: bool) -> Result<Response, ApiError> {
    let mut applied = applied;
    check_type(&r.def, &mut applied)?;
    if meta::name(&applied) != r.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({})",
            meta::name(&applied),
            r.name()
        )));
    }
    if let Some(ns) = r.namespace() {
        meta::set_meta(&mut applied, "namespace", Value::String(ns.to_string()));
    }
    let warnings = check_fields(r, &applied)?;
    let schema = crate::crd::schema_node(&r.registry, &r.def)
        .ok_or_else(|| ApiError::internal("no schema for server-side apply"))?;
    let writer = r.field_writer();
    let merged = server_side_apply(None, &applied, &writer.as_manager(), force, schema).map_err(ApiError::from)?;
    let obj = request_to_storage(r, merged)?;
    create_object(r, obj, dry_run, &warnings).await
}
