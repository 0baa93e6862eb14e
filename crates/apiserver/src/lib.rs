//! The Kubernetes API server of k3rs: TLS, authentication, authorization, admission,
//! discovery, OpenAPI, one generic REST path for every kind over the revisioned store, and
//! the join endpoints nodes use to enter the cluster.

mod admission;
pub mod authn;
pub mod authz;
mod bootstrap;
mod crd;
mod discovery;
pub mod encryption;
mod http;
mod join;
mod kubelet;
mod managed_fields;
mod objects;
mod openapi;
pub mod options;
mod patching;
pub mod policy;
mod registry;
mod rest;
mod reviews;
pub mod route;
mod serviceaccounts;
mod state;
mod version;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use k3rs_api::ApiError;
use k3rs_store::Store;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{debug, info};

pub use encryption::{EncryptionStatus, SecretsEncryption};
pub use options::{Ipv4Cidr, JoinTokens, ServerOptions};
use route::Route;
use state::AppState;

/// A running API server.
pub struct ApiServer {
    pub local_addr: SocketAddr,
    state: Arc<AppState>,
    tasks: Vec<JoinHandle<()>>,
}

impl ApiServer {
    /// Prepares the store (system namespaces, the `kubernetes` Service), then serves.
    pub async fn start(store: Store, options: ServerOptions) -> anyhow::Result<ApiServer> {
        let listener = TcpListener::bind(options.listen).await?;
        let local_addr = listener.local_addr()?;
        let tls = options.tls.clone();
        let state = Arc::new(
            AppState::new(store, crd::build_registry(Default::default()), options).map_err(|e| anyhow::anyhow!(e))?,
        );
        bootstrap::run(&state).await.map_err(|e| anyhow::anyhow!("bootstrapping the cluster: {e}"))?;
        policy::ensure(&state).await.map_err(|e| anyhow::anyhow!("creating the default RBAC policy: {e}"))?;
        serviceaccounts::ensure_all(&state).await.map_err(|e| anyhow::anyhow!("service accounts: {e}"))?;
        let repaired = state.allocators.repair(&state.store).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        if repaired > 0 {
            info!(records = repaired, "released leaked service IP / node port allocations");
        }
        // Authorization needs the RBAC objects before the first request is served.
        let revisions = authz::rbac::cache::load(&state).await.map_err(|e| anyhow::anyhow!("loading RBAC: {e}"))?;
        authz::rbac::aggregation::reconcile(&state).await;
        let mut tasks = Vec::new();
        for (prefix, revision) in authz::rbac::cache::PREFIXES.into_iter().zip(revisions) {
            tasks.push(tokio::spawn(authz::rbac::cache::follow(state.clone(), prefix, revision)));
        }
        tasks.push(tokio::spawn(crd::run_controller(state.clone())));
        let router = Router::new().fallback(handle).with_state(state.clone());
        tasks.push(tokio::spawn(http::server::serve(listener, tls, router)));
        info!(%local_addr, "API server listening");
        Ok(ApiServer { local_addr, state, tasks })
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The cluster's certificates and keys the server runs with.
    pub fn pki(&self) -> Arc<k3rs_pki::ClusterPki> {
        self.state.options.pki.clone()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = serve(state, req).await;
    debug!(%method, %path, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
    resp
}

async fn serve(state: Arc<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    // The join flow authenticates with join tokens, not Kubernetes credentials.
    if join::is_join_path(&path) {
        return join::serve(state, req).await;
    }
    let user = match authn::authenticate(&state, authn::peer_certificate(&req), req.headers()).await {
        Ok(user) => user,
        Err(e) => return http::response::error(&e),
    };
    if user.is_anonymous() && !authn::is_open_path(&path) {
        return http::response::error(&ApiError::unauthorized());
    }
    let user = match authn::impersonation::apply(&state, req.headers(), user).await {
        Ok(user) => user,
        Err(e) => return http::response::error(&e),
    };
    let query = req.uri().query().map(String::from);
    let route = route::resolve(req.method(), &path, query.as_deref());
    // Anonymous requests only reach the open paths, which need no further permission.
    if !user.is_anonymous() {
        let attrs = authz::Attributes::for_request(user.clone(), req.method(), &route, &path, query.as_deref());
        if let Err(reason) = authz::authorize(&state, &attrs).await {
            return http::response::error(&authz::forbidden(&attrs, &reason));
        }
    }
    if let Some(resp) = encryption::endpoints::serve(&state, &path, req.method()).await {
        return resp;
    }
    let accept = req.headers().get(::http::header::ACCEPT).and_then(|v| v.to_str().ok()).map(String::from);
    let registry = state.registry();
    match route {
        Route::Version => http::response::json(::http::StatusCode::OK, &version::info()),
        Route::Health(_) => http::response::text(::http::StatusCode::OK, "ok"),
        Route::CoreGroup => {
            let addr = format!("{}:{}", state.options.advertise_address, state.options.listen.port());
            discovery::respond_root(&registry, true, accept.as_deref(), &addr)
        }
        Route::Groups => discovery::respond_root(&registry, false, accept.as_deref(), ""),
        Route::Group(g) => match discovery::group(&registry, &g) {
            Some(doc) => http::response::json(::http::StatusCode::OK, &doc),
            None => not_found(),
        },
        Route::GroupVersion(g, v) => match discovery::resource_list(&registry, &g, &v) {
            Some(doc) => http::response::json(::http::StatusCode::OK, &doc),
            None => not_found(),
        },
        Route::OpenApiV3Root => openapi::root(&state.openapi, &registry),
        Route::OpenApiV3(p) => openapi::document(&state.openapi, &registry, &p, query.as_deref(), req.headers()),
        Route::OpenApiV2 => http::response::error(&ApiError::new(
            k3rs_api::Reason::NotFound,
            "k3rs serves OpenAPI v3 only (/openapi/v3); kubectl uses it for validation and explain",
        )),
        Route::Resource(info) => {
            let mut req = req;
            // Streaming subresources (exec, attach, port-forward) switch protocols; the
            // pending upgrade travels with the request to the kubelet proxy.
            let upgrade = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
            let (parts, body) = req.into_parts();
            let limit = state.options.max_body_bytes;
            let body = match axum::body::to_bytes(body, limit + 1).await {
                Ok(b) if b.len() <= limit => b,
                Ok(_) => return http::response::error(&ApiError::too_large(limit)),
                Err(e) => {
                    // to_bytes fails with a length-limit error once the limit is passed.
                    let msg = e.to_string();
                    if msg.contains("length limit") {
                        return http::response::error(&ApiError::too_large(limit));
                    }
                    return http::response::error(&ApiError::bad_request(format!("reading the request body: {msg}")));
                }
            };
            rest::handle(state, info, query.as_deref(), parts.headers, user, body, upgrade).await
        }
        Route::NotFound => not_found(),
    }
}

fn not_found() -> Response {
    http::response::error(&ApiError::new(
        k3rs_api::Reason::NotFound,
        "the server could not find the requested resource",
    ))
}
