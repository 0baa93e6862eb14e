//! The controllers `k3rs server` runs. Adding one is one line: a name (what logs and
//! the `disabled` set call it) and its `run` function,
//! `async fn run(ctx: ControllerContext) -> Result<(), Error>`, which runs until
//! `ctx.shutdown()` fires.

use crate::manager::{ControllerContext, Registration};
use crate::runtime::Error;
use crate::{cluster, node, workloads};

/// The node controllers (lifecycle, taint eviction, pod GC, IPAM) as one registration.
async fn node_controllers(ctx: ControllerContext) -> Result<(), Error> {
    let mut shutdown = ctx.shutdown();
    tokio::select! {
        _ = node::run(ctx.client.clone(), ctx.config.nodes.clone(), &ctx.config.identity) => {}
        _ = shutdown.wait() => {}
    }
    Ok(())
}

/// Runs one of the cluster controllers (which take a client and run until dropped)
/// until shutdown.
async fn until_shutdown<Fut>(ctx: ControllerContext, run: impl FnOnce(kube::Client) -> Fut) -> Result<(), Error>
where
    Fut: std::future::Future<Output = Result<(), cluster::Error>>,
{
    let mut shutdown = ctx.shutdown();
    tokio::select! {
        result = run(ctx.client.clone()) => result.map_err(|e| Error::Failed(e.to_string())),
        _ = shutdown.wait() => Ok(()),
    }
}

/// Every controller, in start order.
pub fn controllers() -> Vec<Registration> {
    vec![
        // Workload controllers (src/workloads/).
        Registration::new("replicaset", workloads::replica_set::run),
        Registration::new("replicationcontroller", workloads::replica_set::run_replication_controllers),
        Registration::new("deployment", workloads::deployment::run),
        Registration::new("daemonset", workloads::daemon_set::run),
        Registration::new("statefulset", workloads::stateful_set::run),
        Registration::new("job", workloads::job::run),
        Registration::new("cronjob", workloads::cron_job::run),
        // Node controllers (src/node/).
        Registration::new("node", node_controllers),
        // Cluster controllers (src/cluster/).
        Registration::new("endpoint", |ctx| until_shutdown(ctx, cluster::endpoints::run)),
        Registration::new("endpointslice", |ctx| until_shutdown(ctx, cluster::endpointslice::run)),
        Registration::new("namespace", |ctx| until_shutdown(ctx, cluster::namespace::run)),
        Registration::new("garbagecollector", |ctx| until_shutdown(ctx, cluster::gc::run)),
        Registration::new("serviceaccount", |ctx| until_shutdown(ctx, cluster::service_account::run)),
        Registration::new("ttl-after-finished", |ctx| until_shutdown(ctx, cluster::ttl_after_finished::run)),
        Registration::new("disruption", |ctx| until_shutdown(ctx, cluster::disruption::run)),
    ]
}
