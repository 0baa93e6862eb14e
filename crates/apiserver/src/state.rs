//! Everything a request handler can reach: the store and how objects are encoded in it, the
//! resource registry, the server's options, the allocators, and the identity machinery
//! (service-account token issuer, RBAC cache).

use std::sync::{Arc, RwLock};

use k3rs_api::ApiError;
use k3rs_store::Store;
use serde_json::Value;

use crate::admission::allocator::Allocators;
use crate::authn::service_account::TokenIssuer;
use crate::authz::rbac::RbacCache;
use crate::objects::{self, Codec};
use crate::options::ServerOptions;
use crate::registry::Registry;

pub struct AppState {
    pub store: Store,
    registry: RwLock<Arc<Registry>>,
    pub options: ServerOptions,
    pub allocators: Allocators,
    pub openapi: crate::openapi::DocumentCache,
    /// Stored bytes <-> objects, with encryption at rest.
    pub codec: Codec,
    /// Signs and verifies service-account tokens.
    pub tokens: TokenIssuer,
    /// Roles and bindings in memory.
    pub rbac: RbacCache,
}

impl AppState {
    pub fn new(store: Store, registry: Registry, options: ServerOptions) -> Result<Self, String> {
        let allocators = Allocators::new(options.service_cidr, options.node_port_range.clone());
        let tokens = TokenIssuer::new(
            options.pki.service_account_key(),
            options.service_account_issuer.clone(),
            options.api_audiences.clone(),
        )
        .map_err(|e| format!("loading the service-account signing key: {e}"))?;
        Ok(AppState {
            store,
            registry: RwLock::new(Arc::new(registry)),
            codec: Codec::new(options.secrets_encryption.clone()),
            options,
            allocators,
            openapi: crate::openapi::DocumentCache::default(),
            tokens,
            rbac: RbacCache::default(),
        })
    }

    /// The current registry (cheap: an `Arc` clone).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace_registry(&self, registry: Registry) {
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
        self.openapi.clear();
    }

    /// The stored object at `key`, decoded.
    pub async fn get_object(&self, key: &str) -> Result<Option<Value>, ApiError> {
        match self.store.get(key).await.map_err(objects::generic_store_error)? {
            Some(kv) => self.codec.decode(&kv).map(Some),
            None => Ok(None),
        }
    }

    /// Every stored object under `prefix`, decoded (unreadable ones are skipped).
    pub async fn list_objects(&self, prefix: &str) -> Result<Vec<Value>, ApiError> {
        let list = self.store.list(prefix, Default::default()).await.map_err(objects::generic_store_error)?;
        Ok(list.items.iter().filter_map(|kv| self.codec.decode(kv).ok()).collect())
    }
}
