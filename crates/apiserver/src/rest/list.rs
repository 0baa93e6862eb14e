//! LIST with selectors, resourceVersion semantics and `limit`/`continue` paging.

use axum::response::Response;
use base64::Engine;
use http::StatusCode;
use k3rs_api::ApiError;
use k3rs_store::ListOptions;
use serde_json::{Value, json};

use super::filter::Filter;
use super::read::include_object;
use super::{ResourceRequest, table};
use crate::http::negotiate::Representation;
use crate::http::response;
use crate::objects;

/// The position a `continue` token resumes at.
#[derive(Debug, PartialEq, Eq)]
pub struct ContinueToken {
    pub revision: i64,
    pub after_key: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        let raw = json!({"v": "meta.k8s.io/v1", "rv": self.revision, "start": self.after_key});
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
    }

    pub fn decode(token: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
        let bytes =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).map_err(|_| bad())?;
        let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        Ok(ContinueToken {
            revision: v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?,
            after_key: v.get("start").and_then(Value::as_str).ok_or_else(bad)?.to_string(),
        })
    }
}

/// The objects of one list request, in the request's version, and the list metadata.
pub struct Listed {
    pub items: Vec<Value>,
    pub revision: i64,
    pub continue_token: Option<String>,
}

pub async fn collect(r: &ResourceRequest, filter: &Filter) -> Result<Listed, ApiError> {
    let limit = match r.query.int("limit")? {
        Some(n) if n > 0 => Some(n as usize),
        _ => None,
    };
    let cont = r.query.get("continue").filter(|c| !c.is_empty()).map(ContinueToken::decode).transpose()?;
    let rv = r.query.get("resourceVersion").filter(|v| !v.is_empty());
    if cont.is_some() && rv.is_some_and(|v| v != "0") {
        return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
    }
    let exact = r.query.get("resourceVersionMatch") == Some("Exact");
    let mut revision = match (&cont, rv) {
        (Some(c), _) => Some(c.revision),
        (None, Some(v)) if exact => Some(v.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion: Invalid value: {v:?}: must be an integer"))
        })?),
        (None, Some(v)) if v != "0" => {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("resourceVersion: Invalid value: {v:?}: must be an integer"))
            })?;
            None
        }
        _ => None,
    };
    let prefix = r.storage.prefix(r.namespace());
    let mut start_after = cont.map(|c| c.after_key);
    let mut items = Vec::new();
    let mut last_key: Option<String> = None;
    let mut more;
    loop {
        let page_size = limit.map(|l| (l - items.len()).max(1));
        let page = r
            .state
            .store
            .list(&prefix, ListOptions { revision, limit: page_size, start_after: start_after.clone() })
            .await
            .map_err(|e| match e {
                k3rs_store::Error::Compacted { .. } if start_after.is_some() => ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                other => objects::generic_store_error(other),
            })?;
        revision = Some(page.revision);
        more = page.more;
        for kv in &page.items {
            last_key = Some(kv.key.clone());
            let obj = objects::to_request_version(&r.def, r.state.codec.decode(kv)?)?;
            if filter.matches(&r.def, &obj)? {
                items.push(obj);
            }
            if limit.is_some_and(|l| items.len() >= l) {
                break;
            }
        }
        let filled = limit.is_some_and(|l| items.len() >= l);
        let consumed_page = last_key.as_deref() == page.items.last().map(|kv| kv.key.as_str());
        if filled {
            more = more || !consumed_page;
            break;
        }
        if !more || page.items.is_empty() {
            break;
        }
        start_after = last_key.clone();
    }
    let revision = revision.unwrap_or_else(|| r.state.store.current_revision());
    let continue_token = match (more, last_key) {
        (true, Some(k)) if limit.is_some() => Some(ContinueToken { revision, after_key: k }.encode()),
        _ => None,
    };
    Ok(Listed { items, revision, continue_token })
}

pub async fn list(r: &ResourceRequest) -> Result<Response, ApiError> {
    let filter = Filter::from_request(r)?;
    let listed = collect(r, &filter).await?;
    let mut list_meta = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(c) = &listed.continue_token {
        list_meta["continue"] = json!(c);
    }
    let body = match r.output.representation {
        Representation::Table => table::table(&r.def, &listed.items, list_meta, r.output, include_object(r)),
        Representation::PartialObjectMetadata => table::partial_list(&listed.items, list_meta, r.output),
        Representation::Object => json!({
            "kind": r.def.list_kind,
            "apiVersion": r.def.api_version(),
            "metadata": list_meta,
            "items": listed.items,
        }),
    };
    Ok(response::encoded(StatusCode::OK, &body, r.output.encoding))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let t = ContinueToken { revision: 42, after_key: "/registry/pods/default/a".into() };
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
        assert!(ContinueToken::decode("!!!").is_err());
    }
}
