//! CREATE, UPDATE (PUT) and PATCH, sharing one pipeline: decode, check the type,
//! validate fields, convert to the storage version, default, prepare, validate,
//! admit, and write with compare-and-swap.

use axum::response::Response;
use http::StatusCode;
use k3rs_api::validation::{FieldError, unknown_fields, validate_object_meta};
use k3rs_api::{ApiError, ResourceDef, meta};
use serde_json::{Map, Value, json};

use super::read::{include_object, load};
use super::{FieldValidation, ResourceRequest, table};
use crate::admission;
use crate::http::negotiate::{body_format, decode_body};
use crate::http::response;
use crate::objects;

/// A decoded, type-checked request object and the warnings it earned.
pub struct Incoming {
    pub obj: Value,
    pub warnings: Vec<String>,
}

const MAX_CONFLICT_RETRIES: usize = 8;

/// Decodes the request body as an object of the addressed resource.
pub fn decode_incoming(r: &ResourceRequest, expected: &ResourceDef) -> Result<Incoming, ApiError> {
    if r.body.len() > r.state.options.max_body_bytes {
        return Err(ApiError::too_large(r.state.options.max_body_bytes));
    }
    if r.body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty; it must be a Kubernetes object"));
    }
    let format = body_format(r.header("content-type"))?;
    let decoded = decode_body(&r.body, format)?;
    let mut obj = decoded.value;
    check_type(expected, &mut obj)?;
    let warnings = field_validation(r, expected, &obj, &decoded.duplicate_fields)?;
    Ok(Incoming { obj, warnings })
}

/// Checks (and fills in when absent) `apiVersion` and `kind`.
pub fn check_type(def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    let want_version = def.api_version();
    let map = obj.as_object_mut().ok_or_else(|| ApiError::bad_request("the request body must be an object"))?;
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(want_version.clone()));
        }
        Some(v) if v != want_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want_version})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::String(def.kind.clone()));
        }
        Some(k) if k != def.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({}) of {}",
                def.kind,
                def.qualified_plural()
            )));
        }
        _ => {}
    }
    if !map.get("metadata").is_none_or(Value::is_object) {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// Applies `fieldValidation` to unknown and duplicated fields: an error (Strict), warnings
/// (Warn) or nothing (Ignore).
pub fn field_validation(
    r: &ResourceRequest,
    def: &ResourceDef,
    obj: &Value,
    duplicates: &[String],
) -> Result<Vec<String>, ApiError> {
    let mode = r.query.field_validation()?;
    if mode == FieldValidation::Ignore {
        return Ok(Vec::new());
    }
    let mut problems: Vec<String> = duplicates.iter().map(|d| format!("duplicate field {d:?}")).collect();
    let registry = &r.registry;
    if let Some(node) = crate::crd::schema_node(registry, def) {
        problems.extend(unknown_fields(obj, node).into_iter().map(|f| format!("unknown field {f:?}")));
    }
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    match mode {
        FieldValidation::Strict => {
            Err(ApiError::bad_request(format!("strict decoding error: {}", problems.join(", "))))
        }
        _ => Ok(problems),
    }
}

/// Shape check (and pruning) in the request's version, then conversion to storage.
fn to_storage(r: &ResourceRequest, mut obj: Value) -> Result<Value, ApiError> {
    r.def.strategy.normalize(&mut obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            r.def.kind, r.def.version, r.def.kind
        ))
    })?;
    let mut obj = objects::to_storage_version(&r.def, obj)?;
    objects::set_type(&r.storage, &mut obj);
    Ok(obj)
}

fn invalid(def: &ResourceDef, name: &str, errors: &[FieldError]) -> ApiError {
    ApiError::invalid(&def.kind, &def.group, name, errors)
}

/// Upstream's name check plus the kind's own name rule.
fn validate_name(def: &ResourceDef, obj: &Value) -> Vec<FieldError> {
    let name = meta::name(obj);
    let mut errs = Vec::new();
    if name.is_empty() {
        if meta::generate_name(obj).is_empty() {
            errs.push(FieldError::required("metadata.name", "name or generateName is required"));
        }
    } else {
        for e in def.strategy.validate_name(name) {
            errs.push(FieldError::invalid("metadata.name", name, e));
        }
    }
    errs
}

const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn generated_name(base: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let suffix: String =
        (0..5).map(|_| GENERATE_ALPHABET[rng.random_range(0..GENERATE_ALPHABET.len())] as char).collect();
    let base: String = base.chars().take(63 - 5).collect();
    format!("{base}{suffix}")
}

/// Everything but metadata and status: what `generation` tracks.
fn spec_part(obj: &Value) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn now() -> String {
    meta::format_time(jiff::Timestamp::now())
}

/// Server-side preparation of a new object (storage form); returns it ready to store.
async fn admit_create(r: &ResourceRequest, mut obj: Value, dry_run: bool) -> Result<Value, ApiError> {
    let def = &r.storage;
    if crate::managed_fields::carries_stored(r) {
        meta::remove_meta(&mut obj, "managedFields");
    }
    {
        let m = meta::metadata_mut(&mut obj);
        for k in ["resourceVersion", "uid", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            m.remove(k);
        }
        m.insert("uid".into(), Value::String(uuid::Uuid::new_v4().to_string()));
        m.insert("creationTimestamp".into(), Value::String(now()));
        if def.strategy.tracks_generation() {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    def.strategy.default(&mut obj);
    def.strategy.prepare_for_create(&mut obj);
    let mut errs = validate_name(def, &obj);
    errs.extend(validate_object_meta(&obj, def.namespaced));
    if errs.is_empty() {
        errs.extend(def.strategy.validate_create(&obj));
    }
    if !errs.is_empty() {
        return Err(invalid(&r.def, meta::name(&obj), &errs));
    }
    admission::admit_create(r, &mut obj, dry_run).await?;
    crate::managed_fields::on_create(r, &mut obj);
    Ok(obj)
}

/// Server-side preparation of a changed object (storage form) against the stored one.
fn admit_update(r: &ResourceRequest, mut new: Value, old: &Value) -> Result<Value, ApiError> {
    let def = &r.storage;
    match r.info.subresource.as_deref() {
        Some("status") => def.strategy.prepare_for_status_update(&mut new, old),
        Some("finalize") => {
            let finalizers = new.pointer("/spec/finalizers").cloned();
            new = old.clone();
            match finalizers {
                Some(f) => new["spec"]["finalizers"] = f,
                None => {
                    if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
                        spec.remove("finalizers");
                    }
                }
            }
        }
        // The binding was computed from the stored pod by the API server itself.
        Some("binding") => {}
        Some("ephemeralcontainers") => {
            let eph = new.pointer("/spec/ephemeralContainers").cloned();
            new = old.clone();
            if let Some(e) = eph {
                new["spec"]["ephemeralContainers"] = e;
            }
        }
        _ => {
            def.strategy.prepare_for_update(&mut new, old);
        }
    }
    // Server-owned metadata always comes from the stored object.
    for k in
        ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "managedFields"]
    {
        if k == "managedFields" && !crate::managed_fields::carries_stored(r) {
            continue;
        }
        match old.get("metadata").and_then(|m| m.get(k)) {
            Some(v) => {
                meta::set_meta(&mut new, k, v.clone());
            }
            None => {
                meta::remove_meta(&mut new, k);
            }
        }
    }
    meta::remove_meta(&mut new, "selfLink");
    meta::remove_meta(&mut new, "resourceVersion");
    def.strategy.default(&mut new);
    if def.strategy.tracks_generation() && spec_part(&new) != spec_part(old) {
        meta::set_meta(&mut new, "generation", json!(meta::generation(old) + 1));
    }
    if meta::deletion_timestamp(old).is_some() {
        let old_f = meta::finalizers(old);
        if meta::finalizers(&new).iter().any(|f| !old_f.contains(f)) {
            return Err(invalid(
                &r.def,
                meta::name(old),
                &[FieldError::forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted",
                )],
            ));
        }
    }
    let mut errs = validate_object_meta(&new, def.namespaced);
    if errs.is_empty() && r.info.subresource.as_deref() != Some("binding") {
        errs.extend(def.strategy.validate_update(&new, old));
    }
    if !errs.is_empty() {
        return Err(invalid(&r.def, meta::name(old), &errs));
    }
    Ok(new)
}

fn created(r: &ResourceRequest, obj: Value, status: StatusCode, warnings: &[String]) -> Result<Response, ApiError> {
    let obj = objects::to_request_version(&r.def, obj)?;
    let body = table::single(&r.def, obj, r.output, include_object(r));
    Ok(response::with_warnings(response::encoded(status, &body, r.output.encoding), warnings))
}

/// Sets the request's namespace on the object, refusing a different one.
fn bind_namespace(r: &ResourceRequest, obj: &mut Value) -> Result<(), ApiError> {
    if let Some(ns) = r.namespace() {
        let given = meta::namespace(obj);
        if !given.is_empty() && given != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::set_meta(obj, "namespace", Value::String(ns.to_string()));
    } else if !r.def.namespaced {
        meta::remove_meta(obj, "namespace");
    }
    Ok(())
}

pub async fn create(r: &ResourceRequest) -> Result<Response, ApiError> {
    let dry_run = r.query.dry_run()?;
    let Incoming { mut obj, warnings } = decode_incoming(r, &r.def)?;
    bind_namespace(r, &mut obj)?;
    let obj = to_storage(r, obj)?;
    create_object(r, obj, dry_run, &warnings).await
}

/// Stores a new object given in storage form (also the apply-creates path).
pub async fn create_object(
    r: &ResourceRequest,
    obj: Value,
    dry_run: bool,
    warnings: &[String],
) -> Result<Response, ApiError> {
    let generate = meta::name(&obj).is_empty() && !meta::generate_name(&obj).is_empty();
    for attempt in 0.. {
        let mut candidate = obj.clone();
        if generate {
            let name = generated_name(meta::generate_name(&obj));
            meta::set_meta(&mut candidate, "name", Value::String(name));
        }
        let mut admitted = admit_create(r, candidate, dry_run).await?;
        let name = meta::name(&admitted).to_string();
        if dry_run {
            return created(r, admitted, StatusCode::CREATED, warnings);
        }
        let key = r.storage.key(r.namespace(), &name);
        match r.state.store.create(&key, r.state.codec.encode(&key, &admitted)?).await {
            Ok(rev) => {
                meta::set_meta(&mut admitted, "resourceVersion", Value::String(rev.to_string()));
                admission::after_create(r, &admitted).await;
                return created(r, admitted, StatusCode::CREATED, warnings);
            }
            Err(e) => {
                admission::abort_create(r, &admitted).await;
                match e {
                    k3rs_store::Error::AlreadyExists { .. } if generate && attempt < 4 => continue,
                    e => return Err(objects::store_error(&r.def, &name, e)),
                }
            }
        }
    }
    unreachable!("the loop returns")
}

pub async fn update(r: &ResourceRequest) -> Result<Response, ApiError> {
    let dry_run = r.query.dry_run()?;
    let Incoming { mut obj, warnings } = decode_incoming(r, &r.def)?;
    let body_name = meta::name(&obj);
    if body_name.is_empty() {
        meta::set_meta(&mut obj, "name", Value::String(r.name().to_string()));
    } else if body_name != r.name() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            r.name()
        )));
    }
    bind_namespace(r, &mut obj)?;
    let precondition = match meta::resource_version(&obj) {
        "" => None,
        rv => Some(rv.parse::<i64>().map_err(|_| {
            invalid(&r.def, r.name(), &[FieldError::invalid("metadata.resourceVersion", rv, "must be an integer")])
        })?),
    };
    let obj = to_storage(r, obj)?;
    write_with_retries(r, dry_run, &warnings, precondition, |_old| Ok(obj.clone())).await
}

/// Reads the stored object, computes the new one, and writes it with compare-and-swap,
/// retrying on conflicts when the client gave no resourceVersion precondition.
pub async fn write_with_retries(
    r: &ResourceRequest,
    dry_run: bool,
    warnings: &[String],
    precondition: Option<i64>,
    mut compute: impl FnMut(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    for _ in 0..MAX_CONFLICT_RETRIES {
        let (old, old_rev) = load(r).await?;
        if precondition.is_some_and(|p| p != old_rev) {
            return Err(ApiError::stale(&r.def.plural, &r.def.group, r.name()));
        }
        let proposed = compute(&old)?;
        let mut new = admit_update(r, proposed, &old)?;
        crate::managed_fields::on_update(r, &old, &mut new);
        let mut old_cmp = old.clone();
        meta::remove_meta(&mut old_cmp, "resourceVersion");
        if new == old_cmp {
            return created(r, old, StatusCode::OK, warnings);
        }
        admission::admit_update(r, &mut new, &old, dry_run).await?;
        if dry_run {
            meta::set_meta(&mut new, "resourceVersion", Value::String(old_rev.to_string()));
            return created(r, new, StatusCode::OK, warnings);
        }
        let key = r.key();
        // An object being deleted whose last finalizer went away is deleted now.
        let namespace_waits = super::delete::is_namespace(&r.storage) && super::delete::has_spec_finalizers(&new);
        if meta::deletion_timestamp(&new).is_some() && meta::finalizers(&new).is_empty() && !namespace_waits {
            return match r.state.store.delete(&key, Some(old_rev)).await {
                Ok((rev, _)) => {
                    meta::set_meta(&mut new, "resourceVersion", Value::String(rev.to_string()));
                    admission::after_delete(r, &new).await;
                    created(r, new, StatusCode::OK, warnings)
                }
                Err(k3rs_store::Error::Conflict { .. }) if precondition.is_none() => continue,
                Err(e) => Err(objects::store_error(&r.def, r.name(), e)),
            };
        }
        match r.state.store.update(&key, r.state.codec.encode(&key, &new)?, old_rev).await {
            Ok(rev) => {
                meta::set_meta(&mut new, "resourceVersion", Value::String(rev.to_string()));
                admission::after_update(r, &new, &old).await;
                return created(r, new, StatusCode::OK, warnings);
            }
            Err(k3rs_store::Error::Conflict { .. }) if precondition.is_none() => {
                admission::abort_update(r, &new, &old).await;
                continue;
            }
            Err(e) => {
                admission::abort_update(r, &new, &old).await;
                return Err(objects::store_error(&r.def, r.name(), e));
            }
        }
    }
    Err(ApiError::conflict(
        &r.def.plural,
        &r.def.group,
        r.name(),
        "the object kept changing while the request was retried; try again",
    ))
}

pub async fn patch(r: &ResourceRequest) -> Result<Response, ApiError> {
    crate::patching::patch(r).await
}

/// Exposed for the patch path: request-version object -> storage form.
pub fn request_to_storage(r: &ResourceRequest, obj: Value) -> Result<Value, ApiError> {
    to_storage(r, obj)
}
