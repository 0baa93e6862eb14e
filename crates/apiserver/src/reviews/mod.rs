//! The create-only kinds that are answered, never stored: TokenReview and SelfSubjectReview
//! (who is this?), SubjectAccessReview, SelfSubjectAccessReview and LocalSubjectAccessReview
//! (may they?), and SelfSubjectRulesReview (what may I?). `kubectl auth whoami` and
//! `kubectl auth can-i [--list]` use them.

mod access;

use axum::response::Response;
use http::StatusCode;
use k3rs_api::ApiError;
use serde_json::{Value, json};

use crate::http::response;
use crate::rest::ResourceRequest;
use crate::rest::write::decode_incoming;

/// Answers a create of a review kind.
pub async fn create(r: &ResourceRequest) -> Result<Response, ApiError> {
    let mut obj = decode_incoming(r, &r.def)?.obj;
    r.def.strategy.normalize(&mut obj).map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {e}",
            r.def.kind, r.def.version, r.def.kind
        ))
    })?;
    let errors = r.def.strategy.validate_create(&obj);
    if !errors.is_empty() {
        return Err(ApiError::invalid(&r.def.kind, &r.def.group, "", &errors));
    }
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match r.def.kind.as_str() {
        "TokenReview" => token_review(r, &spec).await,
        "SelfSubjectReview" => json!({"userInfo": r.user.to_json()}),
        "SubjectAccessReview" => access::subject_access_review(r, &spec, None).await?,
        "LocalSubjectAccessReview" => {
            let ns = r.namespace().unwrap_or("");
            let attr_ns = spec.pointer("/resourceAttributes/namespace").and_then(Value::as_str).unwrap_or("");
            if attr_ns != ns {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {ns}"
                )));
            }
            access::subject_access_review(r, &spec, None).await?
        }
        "SelfSubjectAccessReview" => access::subject_access_review(r, &spec, Some(&r.user)).await?,
        "SelfSubjectRulesReview" => access::rules_review(r, &spec)?,
        other => return Err(ApiError::not_implemented(format!("{other} is not served"))),
    };
    let mut metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.insert("creationTimestamp".into(), Value::Null);
    }
    let answer = json!({
        "apiVersion": r.def.api_version(),
        "kind": r.def.kind,
        "metadata": metadata,
        "spec": spec,
        "status": status,
    });
    Ok(response::encoded(StatusCode::CREATED, &answer, r.output.encoding))
}

/// Who a bearer token belongs to, for the audiences asked about (the server's by default).
async fn token_review(r: &ResourceRequest, spec: &Value) -> Value {
    let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
    let requested: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    let ours = &r.state.tokens.audiences;
    let audiences: Vec<String> = if requested.is_empty() {
        ours.clone()
    } else {
        requested.iter().filter(|a| ours.contains(a)).cloned().collect()
    };
    if audiences.is_empty() {
        return json!({"authenticated": false, "error": "token audiences are not accepted by this server", "user": {}});
    }
    match crate::authn::authenticate_token(&r.state, token).await {
        Some(user) => json!({"authenticated": true, "user": user.to_json(), "audiences": audiences}),
        None => json!({"authenticated": false, "error": "invalid bearer token", "user": {}}),
    }
}
