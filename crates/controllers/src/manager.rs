//! The controller manager: every registered controller, run while this server holds
//! the `kube-controller-manager` Lease in kube-system, stopped when it loses it.
//!
//! A controller is an async function taking a [`ControllerContext`] and running until
//! [`ControllerContext::shutdown`] fires; registering it is one line in
//! [`crate::registry::controllers`]:
//!
//! ```ignore
//! Registration::new("deployment", workloads::deployment::run),
//! ```

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::node::NodeControllerConfig;
use crate::runtime::leader::{LeaderElection, LeaseConfig};
use crate::runtime::{Error, EventRecorder, EventSink, SharedInformers, Shutdown};

/// The Lease the controllers run under (upstream's name).
pub const LEASE_NAME: &str = "kube-controller-manager";

/// How the manager runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// This candidate's identity (host name plus a random suffix); events name it as
    /// their reporting instance.
    pub identity: String,
    /// Workers per controller (upstream's `--concurrent-*-syncs` default to 5).
    pub workers: usize,
    /// Names of controllers not to start (`--controllers=-name` upstream).
    pub disabled: BTreeSet<String>,
    /// The node controllers' timings and ranges.
    pub nodes: NodeControllerConfig,
}

impl ControllerConfig {
    /// Upstream's defaults for a candidate named `identity`.
    pub fn new(identity: &str) -> Self {
        ControllerConfig {
            identity: identity.to_string(),
            workers: 5,
            disabled: BTreeSet::new(),
            nodes: NodeControllerConfig::default(),
        }
    }
}

/// What a controller gets: a client, the shared informers, an event recorder factory,
/// the configuration, and the signal to stop.
#[derive(Clone)]
pub struct ControllerContext {
    pub client: Client,
    pub informers: SharedInformers,
    pub config: Arc<ControllerConfig>,
    events: EventSink,
    shutdown: Shutdown,
}

impl ControllerContext {
    pub fn new(client: Client, config: Arc<ControllerConfig>, shutdown: Shutdown) -> Self {
        ControllerContext {
            informers: SharedInformers::new(client.clone(), shutdown.clone()),
            events: EventSink::new(client.clone(), &config.identity),
            client,
            config,
            shutdown,
        }
    }

    /// An event recorder whose events carry `component` (`deployment-controller`) as source.
    pub fn recorder(&self, component: &'static str) -> EventRecorder {
        self.events.recorder(component)
    }

    /// The stop signal (leadership lost, or the server stopping).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    pub fn workers(&self) -> usize {
        self.config.workers
    }
}

type StartFn = dyn Fn(ControllerContext) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> + Send + Sync;

/// A named controller the manager starts.
#[derive(Clone)]
pub struct Registration {
    pub name: &'static str,
    start: Arc<StartFn>,
}

impl Registration {
    pub fn new<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: Fn(ControllerContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        Registration { name, start: Arc::new(move |ctx| Box::pin(run(ctx))) }
    }
}

/// Runs every registered controller until `leading` turns false (the `lead` side of a
/// leader election on [`LEASE_NAME`]).
pub async fn run_leading(client: Client, config: Arc<ControllerConfig>, leading: watch::Receiver<bool>) {
    let ctx = ControllerContext::new(client, config, Shutdown::from_leadership(leading));
    lead(ctx, crate::registry::controllers()).await
}

/// Runs every registered controller under its own leader election on [`LEASE_NAME`]
/// until `stop` completes, then releases the Lease.
pub async fn run(client: Client, config: ControllerConfig, lease: LeaseConfig, stop: impl Future<Output = ()>) {
    let config = Arc::new(config);
    let election = LeaderElection::new(client.clone(), lease);
    let lead = move |leading: watch::Receiver<bool>| run_leading(client.clone(), config.clone(), leading);
    election.run_until(lead, stop).await
}

/// Starts every enabled controller and supervises it until the shutdown signal.
async fn lead(ctx: ControllerContext, controllers: Vec<Registration>) {
    let mut tasks = Vec::new();
    for registration in controllers {
        if ctx.config.disabled.contains(registration.name) {
            info!(controller = registration.name, "controller disabled");
            continue;
        }
        tasks.push(tokio::spawn(supervise(ctx.clone(), registration)));
    }
    let mut shutdown = ctx.shutdown();
    shutdown.wait().await;
    for t in tasks {
        let _ = t.await;
    }
}

/// Runs one controller, restarting it with back-off if it fails before the shutdown.
async fn supervise(ctx: ControllerContext, registration: Registration) {
    let mut delay = Duration::from_secs(1);
    info!(controller = registration.name, "starting controller");
    loop {
        let mut shutdown = ctx.shutdown();
        let result = tokio::select! {
            r = (registration.start)(ctx.clone()) => r,
            _ = shutdown.wait() => return,
        };
        if ctx.shutdown().is_fired() {
            return;
        }
        match result {
            Ok(()) => warn!(controller = registration.name, "controller returned before shutdown; restarting"),
            Err(e) => error!(controller = registration.name, error = %e, "controller failed; restarting"),
        }
        let mut shutdown = ctx.shutdown();
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}
