//! What every pod worker shares: the API client, the container runtime, the
//! configuration, the event recorder, the host's resolver settings and the shared
//! ConfigMap/Secret watches.

use std::sync::Arc;

use k3rs_runtime::Runtime;
use kube::Client;

use super::PodManagerError;
use super::config::KubeletConfig;
use super::object_watch::ObjectWatches;
use crate::events::EventRecorder;
use crate::volumes::dns::Resolver;

pub(crate) struct Context {
    pub client: Client,
    pub runtime: Runtime,
    pub config: KubeletConfig,
    pub recorder: EventRecorder,
    /// The host's resolvers (for `dnsPolicy: Default` and when there is no cluster DNS).
    pub host_resolver: Resolver,
    /// Watches of the ConfigMaps and Secrets pods use.
    pub objects: Arc<ObjectWatches>,
}

impl Context {
    pub async fn new(client: Client, runtime: Runtime, config: KubeletConfig) -> Result<Arc<Context>, PodManagerError> {
        if config.node_name.is_empty() {
            return Err(PodManagerError::Config("the node name is empty".into()));
        }
        for dir in [config.root_dir.join("pods"), config.pod_log_dir.clone()] {
            tokio::fs::create_dir_all(&dir).await.map_err(|source| PodManagerError::Io {
                op: "create directory",
                path: dir.clone(),
                source,
            })?;
        }
        let host_resolver = Resolver::parse(&tokio::fs::read_to_string(&config.resolv_conf).await.unwrap_or_default());
        let recorder = EventRecorder::new(client.clone(), &config.event_component, &config.node_name);
        let objects = ObjectWatches::new(client.clone());
        Ok(Arc::new(Context { client, runtime, config, recorder, host_resolver, objects }))
    }
}
