//! `serviceaccounts/<name>/token` (TokenRequest): a bound service-account token for the named
//! account, for the requested audiences and lifetime, optionally bound to a Pod, Secret or
//! Node so that it dies with that object (`kubectl create token`).

use axum::response::Response;
use http::StatusCode;
use k3rs_api::validation::FieldError;
use k3rs_api::{ApiError, meta};
use serde_json::{Value, json};

use super::ResourceRequest;
use super::read::load;
use crate::authn::service_account::{BoundObject, TokenSpec};
use crate::http::negotiate::{body_format, decode_body};
use crate::http::response;

const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

fn invalid(name: &str, errors: &[FieldError]) -> ApiError {
    ApiError::invalid("TokenRequest", "authentication.k8s.io", name, errors)
}

pub async fn create(r: &ResourceRequest) -> Result<Response, ApiError> {
    let format = body_format(r.header("content-type"))?;
    let request = decode_body(&r.body, format)?.value;
    if let Some(kind) = request.get("kind").and_then(Value::as_str).filter(|k| !k.is_empty() && *k != "TokenRequest") {
        return Err(ApiError::bad_request(format!("expected a TokenRequest, got {kind}")));
    }
    let (sa, _) = load(r).await?;
    let ns = r.namespace().unwrap_or("").to_string();
    let name = r.name().to_string();
    let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));

    let expiration = spec.get("expirationSeconds").and_then(Value::as_i64).unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    if expiration < MIN_EXPIRATION_SECONDS {
        return Err(invalid(
            &name,
            &[FieldError::invalid(
                "spec.expirationSeconds",
                expiration,
                "may not specify a duration less than 10 minutes",
            )],
        ));
    }
    if expiration > MAX_EXPIRATION_SECONDS {
        return Err(invalid(
            &name,
            &[FieldError::invalid(
                "spec.expirationSeconds",
                expiration,
                "may not specify a duration larger than 2^32 seconds",
            )],
        ));
    }
    let mut audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    if audiences.is_empty() {
        audiences = r.state.tokens.audiences.clone();
    }

    let (bound, node, bound_pod) = bound_object(r, &ns, spec.get("boundObjectRef")).await?;
    crate::admission::node_restriction::check_token_request(
        r,
        bound.as_ref().map(|b| b.kind.as_str()),
        bound_pod.as_ref(),
    )?;

    let token_spec = TokenSpec {
        namespace: &ns,
        service_account: &name,
        service_account_uid: meta::uid(&sa),
        audiences: audiences.clone(),
        expiration_seconds: expiration,
        bound: bound.clone(),
        node,
    };
    let now = jiff::Timestamp::now();
    let (token, exp) = r.state.tokens.issue(&token_spec, now.as_second()).map_err(ApiError::internal)?;
    let expires = jiff::Timestamp::from_second(exp).map(meta::format_time).unwrap_or_default();
    let mut answer_spec = json!({"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null});
    if let Some(b) = &bound {
        answer_spec["boundObjectRef"] = spec["boundObjectRef"].clone();
        answer_spec["boundObjectRef"]["uid"] = json!(b.uid);
    }
    let answer = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": meta::format_time(now)},
        "spec": answer_spec,
        "status": {"token": token, "expirationTimestamp": expires},
    });
    Ok(response::encoded(StatusCode::CREATED, &answer, r.output.encoding))
}

type Bound = (Option<BoundObject>, Option<(String, String)>, Option<Value>);

/// The object a token is bound to (checked to exist, with the given uid), the node of a bound
/// pod, and the pod itself.
async fn bound_object(r: &ResourceRequest, ns: &str, reference: Option<&Value>) -> Result<Bound, ApiError> {
    let Some(reference) = reference.filter(|v| !v.is_null()) else { return Ok((None, None, None)) };
    let kind = reference.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
    let uid = reference.get("uid").and_then(Value::as_str).unwrap_or("");
    let key = match kind {
        "Pod" => format!("/registry/pods/{ns}/{name}"),
        "Secret" => format!("/registry/secrets/{ns}/{name}"),
        "Node" => format!("/registry/nodes/{name}"),
        other => {
            return Err(invalid(
                r.name(),
                &[FieldError::not_supported("spec.boundObjectRef.kind", other, &["Pod", "Secret", "Node"])],
            ));
        }
    };
    let resource = format!("{}s", kind.to_ascii_lowercase());
    let obj = r.state.get_object(&key).await?.ok_or_else(|| ApiError::not_found(&resource, "", name))?;
    if !uid.is_empty() && uid != meta::uid(&obj) {
        return Err(ApiError::conflict(
            &resource,
            "",
            name,
            &format!("the UID in the bound object reference ({uid}) does not match the UID in record"),
        ));
    }
    let bound = BoundObject { kind: kind.to_string(), name: name.to_string(), uid: meta::uid(&obj).to_string() };
    let node_of =
        |node_name: &str, node: Option<Value>| node.map(|n| (node_name.to_string(), meta::uid(&n).to_string()));
    match kind {
        "Pod" => {
            let node_name = obj.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").to_string();
            let node = if node_name.is_empty() {
                None
            } else {
                node_of(&node_name, r.state.get_object(&format!("/registry/nodes/{node_name}")).await?)
            };
            Ok((Some(bound), node, Some(obj)))
        }
        "Node" => Ok((Some(bound.clone()), Some((bound.name.clone(), bound.uid.clone())), None)),
        _ => Ok((Some(bound), None, None)),
    }
}
