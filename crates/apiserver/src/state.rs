//! Everything a request handler can reach: the store, the resource registry,
//! the server's options and the allocators.

use std::sync::{Arc, RwLock};

use k3rs_store::Store;

use crate::admission::allocator::Allocators;
use crate::options::ServerOptions;
use crate::registry::Registry;

pub struct AppState {
    pub store: Store,
    registry: RwLock<Arc<Registry>>,
    pub options: ServerOptions,
    pub allocators: Allocators,
    pub openapi: crate::openapi::DocumentCache,
}

impl AppState {
    pub fn new(store: Store, registry: Registry, options: ServerOptions) -> Self {
        let allocators = Allocators::new(options.service_cidr, options.node_port_range.clone());
        AppState {
            store,
            registry: RwLock::new(Arc::new(registry)),
            options,
            allocators,
            openapi: crate::openapi::DocumentCache::default(),
        }
    }

    /// The current registry (cheap: an `Arc` clone).
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace_registry(&self, registry: Registry) {
        *self.registry.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(registry);
        self.openapi.clear();
    }
}
