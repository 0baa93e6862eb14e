//! One informer per kind, shared by every controller of the manager: the first
//! controller that asks for a kind starts its watch, later ones reuse the cache.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::Client;

use super::informer::{Informer, Watchable};
use super::shutdown::Shutdown;

#[derive(Clone)]
pub struct SharedInformers {
    client: Client,
    shutdown: Shutdown,
    started: Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>,
}

impl SharedInformers {
    pub fn new(client: Client, shutdown: Shutdown) -> Self {
        SharedInformers { client, shutdown, started: Arc::default() }
    }

    /// The informer of kind `K`, started on first use.
    pub fn get<K: Watchable>(&self) -> Informer<K> {
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = started.get(&TypeId::of::<K>()).and_then(|a| a.downcast_ref::<Informer<K>>()) {
            return existing.clone();
        }
        let informer = Informer::<K>::new();
        informer.start(self.client.clone(), self.shutdown.clone());
        started.insert(TypeId::of::<K>(), Box::new(informer.clone()));
        informer
    }
}
