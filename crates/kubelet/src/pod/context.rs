//! What every pod worker shares: the API client, the container runtime, the
//! configuration, the event recorder, the host's resolver settings and the shared
//! ConfigMap/Secret watches.

use std::sync::Arc;

use k3rs_runtime::Runtime;
use kube::Client;

use super::PodManagerError;
use super::config::KubeletConfig;
use super::directory::PodDirectory;
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
    /// The pods as the workers last published them (for the streaming endpoint).
    pub directory: PodDirectory,
    /// The lowest OOM score containers can get (see [`oom_score_adj_floor`]).
    pub oom_score_adj_floor: Option<i32>,
}

/// Without CAP_SYS_RESOURCE no process can lower its OOM score below the one it
/// inherited, and the runtime would fail to start a Guaranteed pod's containers (-997);
/// then container scores are kept at or above the kubelet's own.
fn oom_score_adj_floor() -> Option<i32> {
    const CAP_SYS_RESOURCE: u32 = 24;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let effective = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
    let caps = u64::from_str_radix(effective, 16).ok()?;
    if caps & (1 << CAP_SYS_RESOURCE) != 0 {
        return None;
    }
    std::fs::read_to_string("/proc/self/oom_score_adj").ok()?.trim().parse().ok()
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
        let oom_score_adj_floor = oom_score_adj_floor();
        if let Some(floor) = oom_score_adj_floor {
            tracing::warn!(floor, "no CAP_SYS_RESOURCE: container OOM scores are kept at or above the kubelet's");
        }
        let directory = PodDirectory::default();
        Ok(Arc::new(Context {
            client,
            runtime,
            config,
            recorder,
            host_resolver,
            objects,
            directory,
            oom_score_adj_floor,
        }))
    }
}
