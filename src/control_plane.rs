//! The control loops `k3rs server` runs beside its API server: the scheduler and the
//! controller manager's controllers. Each is leader-elected through its Lease in
//! kube-system (`kube-scheduler`, `kube-controller-manager`), so that of several servers
//! exactly one runs it, and each talks to this server over HTTPS as an ordinary client
//! with its own client certificate (`system:kube-scheduler`,
//! `system:kube-controller-manager`). Their credentials come from `k3rs_cluster::Component`.

use std::time::Duration;

use k3rs_cluster::Component;
use k3rs_control_runtime::leader::{LeaderElection, LeaseConfig};
use k3rs_controllers::node::{self, NodeControllerConfig, PodGcConfig};
use k3rs_pki::ClusterPki;
use k3rs_scheduler::{LEASE_NAME as SCHEDULER_LEASE, SchedulerConfig, run_leader_elected};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::cli::ServerArgs;

pub const CONTROLLER_MANAGER_LEASE: &str = "kube-controller-manager";

/// What to run, from the server's flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// The API server as this process reaches it.
    pub url: String,
    pub scheduler: bool,
    pub controller_manager: bool,
    pub nodes: NodeControllerConfig,
    pub lease_duration: Duration,
    pub retry_period: Duration,
}

impl Options {
    pub fn from_args(args: &ServerArgs, url: &str, cluster_cidr: (std::net::Ipv4Addr, u8)) -> Options {
        let grace = args.node_monitor_grace_period;
        Options {
            url: url.to_string(),
            scheduler: !args.disable_scheduler,
            controller_manager: !args.disable_controller_manager,
            nodes: NodeControllerConfig {
                monitor_period: args.node_monitor_period,
                grace_period: grace,
                eviction_rate: args.node_eviction_rate,
                cluster_cidr: Some(cluster_cidr),
                node_cidr_mask_size: args.node_cidr_mask_size,
                // Upstream's pod GC runs every 20s and waits 40s for a missing node: half the
                // default grace period and the grace period; they scale with it here.
                pod_gc: PodGcConfig {
                    period: (grace / 2).clamp(Duration::from_millis(500), Duration::from_secs(20)),
                    quarantine: grace,
                    terminated_threshold: args.terminated_pod_gc_threshold,
                },
                ..NodeControllerConfig::default()
            },
            lease_duration: args.leader_elect_lease_duration,
            retry_period: args.leader_elect_retry_period,
        }
    }
}

/// The running control loops.
pub struct ControlPlane {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// This server's candidate identity in leader elections: host name plus a random suffix,
/// so that a restarted server is a new candidate.
fn identity() -> String {
    format!("{}_{:08x}", k3rs_pki::options::local_hostname(), rand::random::<u32>())
}

async fn until_stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn until_lost(mut leading: watch::Receiver<bool>) {
    while *leading.borrow() {
        if leading.changed().await.is_err() {
            return;
        }
    }
}

impl ControlPlane {
    pub async fn start(pki: &ClusterPki, opts: Options) -> anyhow::Result<ControlPlane> {
        let (stop, stopped) = watch::channel(false);
        let identity = identity();
        let lease = |name: &str| LeaseConfig {
            lease_duration: opts.lease_duration,
            retry_period: opts.retry_period,
            ..LeaseConfig::new(name, &identity)
        };
        let mut tasks = Vec::new();
        if opts.scheduler {
            let client = Component::scheduler().client(pki, &opts.url).await?;
            let config = SchedulerConfig::new(&identity);
            let lease = lease(SCHEDULER_LEASE);
            tasks.push(tokio::spawn(run_leader_elected(client, config, Some(lease), until_stopped(stopped.clone()))));
            info!(%identity, "scheduler started (leader-elected)");
        }
        if opts.controller_manager {
            let client = Component::controller_manager().client(pki, &opts.url).await?;
            let election = LeaderElection::new(client.clone(), lease(CONTROLLER_MANAGER_LEASE));
            let (nodes, instance) = (opts.nodes.clone(), identity.clone());
            // Every controller of the controller manager runs inside this one election.
            let lead = move |leading: watch::Receiver<bool>| {
                let (client, nodes, instance) = (client.clone(), nodes.clone(), instance.clone());
                async move {
                    tokio::select! {
                        _ = node::run(client, nodes, &instance) => {}
                        _ = until_lost(leading) => {}
                    }
                }
            };
            tasks.push(tokio::spawn(async move { election.run_until(lead, until_stopped(stopped)).await }));
            info!(%identity, "controller manager started (leader-elected)");
        }
        Ok(ControlPlane { stop, tasks })
    }

    /// Stops the loops and releases their Leases, so another server takes over at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                warn!("a control loop did not stop within 5s");
            }
        }
    }
}
