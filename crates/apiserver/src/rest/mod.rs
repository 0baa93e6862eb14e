//! The one generic REST path every kind goes through (get, list, watch, create,
//! update, patch, delete, deletecollection and the subresources), driven by
//! the kind's `ResourceDef` and strategy.

pub mod delete;
mod filter;
mod list;
mod pod;
pub mod query;
pub mod read;
mod scale;
pub mod table;
mod token;
mod watch;
pub mod write;

use std::sync::Arc;

use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use k3rs_api::{ApiError, ResourceDef};

use crate::authn::UserInfo;
use crate::http::negotiate::{Output, choose_output};
use crate::http::response;
use crate::registry::Registry;
use crate::route::{RequestInfo, Verb};
use crate::state::AppState;
pub use query::{FieldValidation, Query};

/// Owned parts of a [`k3rs_api::patch::FieldManager`] for one request.
pub struct FieldWriter {
    manager: String,
    api_version: String,
    subresource: Option<String>,
    time: String,
}

impl FieldWriter {
    pub fn as_manager(&self) -> k3rs_api::patch::FieldManager<'_> {
        k3rs_api::patch::FieldManager {
            name: &self.manager,
            api_version: &self.api_version,
            subresource: self.subresource.as_deref(),
            time: &self.time,
        }
    }
}

/// Everything one resource request carries.
pub struct ResourceRequest {
    pub state: Arc<AppState>,
    pub registry: Arc<Registry>,
    pub info: RequestInfo,
    /// The resource as addressed (its version is the request's version).
    pub def: Arc<ResourceDef>,
    /// The resource objects are stored as.
    pub storage: Arc<ResourceDef>,
    pub query: Query,
    pub headers: HeaderMap,
    pub user: UserInfo,
    pub body: Bytes,
    pub output: Output,
}

impl ResourceRequest {
    pub fn namespace(&self) -> Option<&str> {
        self.info.namespace.as_deref()
    }

    pub fn name(&self) -> &str {
        self.info.name.as_deref().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The field manager of a write: `fieldManager`, else derived from the user agent
    /// like upstream (`kubectl/v1.33 (linux/amd64)` -> `kubectl`).
    pub fn field_manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager").filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        let ua = self.header("user-agent").unwrap_or("unknown");
        ua.split('/').next().unwrap_or(ua).chars().take(128).collect()
    }

    /// The identity a write records in `managedFields`.
    pub fn field_writer(&self) -> FieldWriter {
        FieldWriter {
            manager: self.field_manager(),
            api_version: self.def.api_version(),
            subresource: self.info.subresource.clone(),
            time: k3rs_api::meta::format_time(jiff::Timestamp::now()),
        }
    }

    /// The key of the addressed object.
    pub fn key(&self) -> String {
        self.storage.key(self.namespace(), self.name())
    }
}

fn not_found_resource() -> ApiError {
    ApiError::new(k3rs_api::Reason::NotFound, "the server could not find the requested resource")
}

/// Resolves the resource and runs the verb.
pub async fn handle(
    state: Arc<AppState>,
    info: RequestInfo,
    raw_query: Option<&str>,
    headers: HeaderMap,
    user: UserInfo,
    body: Bytes,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Response {
    match dispatch(state, info, raw_query, headers, user, body, upgrade).await {
        Ok(resp) => resp,
        Err(err) => response::error(&err),
    }
}

async fn dispatch(
    state: Arc<AppState>,
    info: RequestInfo,
    raw_query: Option<&str>,
    headers: HeaderMap,
    user: UserInfo,
    body: Bytes,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response, ApiError> {
    let registry = state.registry();
    let def = registry.lookup(&info.group, &info.version, &info.resource).ok_or_else(not_found_resource)?;
    if def.namespaced != info.namespace.is_some() {
        let all_namespaces = def.namespaced && matches!(info.verb, Verb::List | Verb::Watch | Verb::DeleteCollection);
        let cluster_scoped_name = !def.namespaced && info.namespace.is_some();
        if !all_namespaces || cluster_scoped_name {
            return Err(not_found_resource());
        }
    }
    if let Some(sub) = &info.subresource
        && !def.has_subresource(sub)
        && !(def.plural == "namespaces" && sub == "finalize")
    {
        return Err(not_found_resource());
    }
    let output = choose_output(headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()))?;
    let storage = registry.storage_def(&def);
    let r = ResourceRequest {
        state,
        registry,
        info,
        def,
        storage,
        query: Query::parse(raw_query),
        headers,
        user,
        body,
        output,
    };
    let verb = r.info.verb;
    tracing::trace!(user = %r.user.name, verb = verb.as_str(), resource = %r.def.plural, "resource request");
    // Reviews are computed per request and never stored.
    if !r.def.stored {
        return match (r.info.subresource.as_deref(), verb) {
            (None, Verb::Create) => crate::reviews::create(&r).await,
            _ => Err(ApiError::method_not_allowed(format!(
                "{} is not supported on {}: it can only be created",
                verb.as_str(),
                r.def.qualified_plural()
            ))),
        };
    }
    if r.info.subresource.is_none() && !r.def.has_verb(verb.as_str()) {
        return Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}",
            verb.as_str(),
            r.def.qualified_plural()
        )));
    }
    match (r.info.subresource.clone().as_deref(), verb) {
        (None, Verb::Get) => read::get(&r).await,
        (None, Verb::List) => list::list(&r).await,
        (None, Verb::Watch) => watch::watch(r).await,
        (None, Verb::Create) => write::create(&r).await,
        (None, Verb::Update) => write::update(&r).await,
        (None, Verb::Patch) => write::patch(&r).await,
        (None, Verb::Delete) => delete::delete(&r).await,
        (None, Verb::DeleteCollection) => delete::delete_collection(&r).await,
        (Some("status"), Verb::Get) => read::get(&r).await,
        (Some("status"), Verb::Update) => write::update(&r).await,
        (Some("status"), Verb::Patch) => write::patch(&r).await,
        (Some("finalize"), Verb::Update) => write::update(&r).await,
        (Some("scale"), Verb::Get) => scale::get(&r).await,
        (Some("scale"), Verb::Update) => scale::update(&r).await,
        (Some("scale"), Verb::Patch) => scale::patch(&r).await,
        (Some("binding"), Verb::Create) => pod::bind(&r).await,
        (Some("token"), Verb::Create) => token::create(&r).await,
        (Some("eviction"), Verb::Create) => pod::evict(&r).await,
        (Some("ephemeralcontainers"), Verb::Get) => read::get(&r).await,
        (Some("ephemeralcontainers"), Verb::Update) => write::update(&r).await,
        (Some("ephemeralcontainers"), Verb::Patch) => write::patch(&r).await,
        (Some("proxy"), _) => pod::proxy_unsupported(&r).await,
        (Some(sub), _) if let Some(kind) = crate::kubelet::StreamKind::from_subresource(sub) => {
            crate::kubelet::proxy(&r, kind, upgrade).await
        }
        (Some(sub), verb) => Err(ApiError::method_not_allowed(format!(
            "{} is not supported on {}/{sub}",
            verb.as_str(),
            r.def.qualified_plural()
        ))),
    }
}
