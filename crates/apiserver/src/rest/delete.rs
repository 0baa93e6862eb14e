//! DELETE and DELETECOLLECTION: preconditions, graceful deletion (pods),
//! finalizers, and the propagation policy recorded for the garbage collector.

use axum::response::Response;
use http::StatusCode;
use k3rs_api::{ApiError, meta};
use serde_json::{Value, json};

use super::filter::Filter;
use super::list::collect;
use super::read::load;
use super::{ResourceRequest, table};
use crate::admission;
use crate::http::negotiate::{body_format, decode_body};
use crate::http::response;
use crate::objects;

const ORPHAN_FINALIZER: &str = "orphan";

pub fn is_namespace(def: &k3rs_api::ResourceDef) -> bool {
    def.group.is_empty() && def.plural == "namespaces"
}

/// Whether a namespace still waits for its `spec.finalizers`.
pub fn has_spec_finalizers(obj: &Value) -> bool {
    obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}
const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

#[derive(Debug, Default)]
struct DeleteOptions {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    dry_run: bool,
}

fn delete_options(r: &ResourceRequest) -> Result<DeleteOptions, ApiError> {
    let mut opts = DeleteOptions {
        grace_period_seconds: r.query.int("gracePeriodSeconds")?,
        propagation_policy: r.query.get("propagationPolicy").map(String::from),
        dry_run: r.query.dry_run()?,
        ..Default::default()
    };
    if r.query.get("orphanDependents") == Some("true") {
        opts.propagation_policy.get_or_insert_with(|| "Orphan".into());
    }
    if !r.body.is_empty() {
        let format = body_format(r.header("content-type"))?;
        let body = decode_body(&r.body, format)?.value;
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            opts.grace_period_seconds = Some(g);
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation_policy = Some(p.to_string());
        }
        if body.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            opts.propagation_policy.get_or_insert_with(|| "Orphan".into());
        }
        if let Some(p) = body.get("preconditions") {
            opts.precondition_uid = p.get("uid").and_then(Value::as_str).map(String::from);
            opts.precondition_rv = p.get("resourceVersion").and_then(Value::as_str).map(String::from);
        }
        if body.get("dryRun").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            opts.dry_run = true;
        }
    }
    if let Some(p) = &opts.propagation_policy
        && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::invalid(
            "DeleteOptions",
            "meta.k8s.io",
            "",
            &[k3rs_api::validation::FieldError::not_supported(
                "propagationPolicy",
                p.as_str(),
                &["Foreground", "Background", "Orphan"],
            )],
        ));
    }
    if opts.grace_period_seconds.is_some_and(|g| g < 0) {
        opts.grace_period_seconds = Some(0);
    }
    Ok(opts)
}

fn respond(r: &ResourceRequest, obj: Value, status: StatusCode) -> Result<Response, ApiError> {
    let obj = objects::to_request_version(&r.def, obj)?;
    let body = table::single(&r.def, obj, r.output, super::read::include_object(r));
    Ok(response::encoded(status, &body, r.output.encoding))
}

enum Outcome {
    /// Gone from the store.
    Deleted(Value),
    /// Still present: graceful deletion or finalizers pending.
    Pending(Value),
}

/// Stores an object that stays while it is being deleted (when `write`), or answers
/// with it as it is; `None` when it changed meanwhile and the delete must start over.
async fn keep_pending(
    r: &ResourceRequest,
    key: &str,
    mut obj: Value,
    mod_revision: i64,
    write: bool,
) -> Result<Option<Outcome>, ApiError> {
    if !write {
        return Ok(Some(Outcome::Pending(obj)));
    }
    match r.state.store.update(key, r.state.codec.encode(key, &obj)?, mod_revision).await {
        Ok(rev) => {
            meta::set_meta(&mut obj, "resourceVersion", json!(rev.to_string()));
            Ok(Some(Outcome::Pending(obj)))
        }
        Err(k3rs_store::Error::Conflict { .. }) => Ok(None),
        Err(e) => Err(objects::store_error(&r.def, meta::name(&obj), e)),
    }
}

/// Deletes one object (storage form) at `key`, honouring options. Retries on races.
async fn delete_one(r: &ResourceRequest, key: &str, opts: &DeleteOptions) -> Result<Outcome, ApiError> {
    for _ in 0..8 {
        let kv = r.state.store.get(key).await.map_err(objects::generic_store_error)?;
        let Some(kv) = kv else {
            let name = key.rsplit('/').next().unwrap_or_default();
            return Err(ApiError::not_found(&r.def.plural, &r.def.group, name));
        };
        let mut obj = r.state.codec.decode(&kv)?;
        let name = meta::name(&obj).to_string();
        if let Some(uid) = &opts.precondition_uid
            && uid != meta::uid(&obj)
        {
            return Err(ApiError::conflict(
                &r.def.plural,
                &r.def.group,
                &name,
                &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", meta::uid(&obj)),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && rv != meta::resource_version(&obj)
        {
            return Err(ApiError::conflict(
                &r.def.plural,
                &r.def.group,
                &name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    meta::resource_version(&obj)
                ),
            ));
        }
        let mut changed = false;
        let mut finalizers = meta::finalizers(&obj);
        // A namespace is finalized by its `spec.finalizers` (the namespace controller
        // empties them once the namespace's content is gone): until then it is Terminating.
        let is_namespace = is_namespace(&r.storage);
        if is_namespace && has_spec_finalizers(&obj) {
            if obj.pointer("/status/phase").and_then(Value::as_str) != Some("Terminating") {
                obj["status"]["phase"] = json!("Terminating");
                changed = true;
            }
            if meta::deletion_timestamp(&obj).is_none() {
                meta::set_meta(&mut obj, "deletionTimestamp", json!(meta::format_time(jiff::Timestamp::now())));
                meta::set_meta(&mut obj, "deletionGracePeriodSeconds", json!(0));
            }
            match keep_pending(r, key, obj, kv.mod_revision, changed && !opts.dry_run).await? {
                Some(outcome) => return Ok(outcome),
                None => continue,
            }
        }
        match opts.propagation_policy.as_deref() {
            Some("Orphan") if !finalizers.iter().any(|f| f == ORPHAN_FINALIZER) => {
                finalizers.push(ORPHAN_FINALIZER.into());
                changed = true;
            }
            Some("Foreground") if !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) => {
                finalizers.push(FOREGROUND_FINALIZER.into());
                changed = true;
            }
            _ => {}
        }
        let grace = r.storage.strategy.graceful_delete_seconds(&obj, opts.grace_period_seconds);
        let already_deleting = meta::deletion_timestamp(&obj).is_some();
        let graceful = grace.is_some_and(|g| g > 0);
        if changed || graceful || (!finalizers.is_empty() && !already_deleting) {
            // The object stays: mark it as being deleted.
            if changed {
                meta::set_meta(&mut obj, "finalizers", json!(finalizers));
            }
            if !already_deleting || graceful {
                let secs = grace.unwrap_or(0);
                let current_grace = obj.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64);
                // A later delete may only shorten the grace period.
                if !already_deleting || current_grace.is_none_or(|c| secs < c) {
                    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(secs);
                    meta::set_meta(&mut obj, "deletionTimestamp", json!(meta::format_time(at)));
                    meta::set_meta(&mut obj, "deletionGracePeriodSeconds", json!(secs));
                    if !already_deleting {
                        let generation = meta::generation(&obj) + 1;
                        meta::set_meta(&mut obj, "generation", json!(generation));
                    }
                    changed = true;
                }
            }
            match keep_pending(r, key, obj, kv.mod_revision, changed && !opts.dry_run).await? {
                Some(outcome) => return Ok(outcome),
                None => continue,
            }
        }
        if !finalizers.is_empty() {
            // Being deleted already, finalizers still pending.
            return Ok(Outcome::Pending(obj));
        }
        if opts.dry_run {
            return Ok(Outcome::Deleted(obj));
        }
        match r.state.store.delete(key, Some(kv.mod_revision)).await {
            Ok((rev, _)) => {
                meta::set_meta(&mut obj, "resourceVersion", json!(rev.to_string()));
                admission::after_delete(r, &obj).await;
                return Ok(Outcome::Deleted(obj));
            }
            Err(k3rs_store::Error::Conflict { .. }) => continue,
            Err(k3rs_store::Error::NotFound { .. }) => {
                return Err(ApiError::not_found(&r.def.plural, &r.def.group, &name));
            }
            Err(e) => return Err(objects::store_error(&r.def, &name, e)),
        }
    }
    Err(ApiError::conflict(&r.def.plural, &r.def.group, r.name(), "the object kept changing; try again"))
}

pub async fn delete(r: &ResourceRequest) -> Result<Response, ApiError> {
    let opts = delete_options(r)?;
    load(r).await?;
    match delete_one(r, &r.key(), &opts).await? {
        Outcome::Deleted(obj) => respond(r, obj, StatusCode::OK),
        Outcome::Pending(obj) => respond(r, obj, StatusCode::ACCEPTED),
    }
}

pub async fn delete_collection(r: &ResourceRequest) -> Result<Response, ApiError> {
    let opts = delete_options(r)?;
    let filter = Filter::from_request(r)?;
    let listed = collect(r, &filter).await?;
    let mut deleted = Vec::new();
    for obj in listed.items {
        let key = r.storage.key(Some(meta::namespace(&obj)).filter(|n| !n.is_empty()), meta::name(&obj));
        match delete_one(r, &key, &opts).await {
            Ok(Outcome::Deleted(o)) | Ok(Outcome::Pending(o)) => deleted.push(objects::to_request_version(&r.def, o)?),
            Err(e) if e.reason == k3rs_api::Reason::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({
        "kind": r.def.list_kind,
        "apiVersion": r.def.api_version(),
        "metadata": {"resourceVersion": r.state.store.current_revision().to_string()},
        "items": deleted,
    });
    Ok(response::encoded(StatusCode::OK, &body, r.output.encoding))
}

/// Deletes the pod of an eviction with its own grace period.
pub async fn delete_pod_for_eviction(r: &ResourceRequest, grace: Option<i64>) -> Result<(), ApiError> {
    let opts = DeleteOptions { grace_period_seconds: grace, ..Default::default() };
    delete_one(r, &r.key(), &opts).await.map(|_| ())
}
