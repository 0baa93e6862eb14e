//! Leader election on a coordination.k8s.io Lease, as upstream's client-go does it:
//! a candidate acquires the Lease when it is free or expired, renews it while it
//! leads, and stops leading when a renewal fails for longer than the lease duration.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use kube::{Client, Error};
use tokio::sync::watch;
use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Lease name, e.g. `kube-controller-manager`.
    pub name: String,
    pub namespace: String,
    /// This candidate's identity (host name plus a random suffix).
    pub identity: String,
    /// How long a Lease is valid without renewal (upstream: 15s).
    pub lease_duration: Duration,
    /// How often the leader renews (upstream: every 2s, giving up after 10s).
    pub retry_period: Duration,
}

impl LeaseConfig {
    pub fn new(name: &str, identity: &str) -> Self {
        LeaseConfig {
            name: name.to_string(),
            namespace: "kube-system".to_string(),
            identity: identity.to_string(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(2),
        }
    }
}

pub struct LeaderElection {
    api: Api<Lease>,
    config: LeaseConfig,
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn expired(spec: &LeaseSpec, at: jiff::Timestamp) -> bool {
    let Some(renew) = spec.renew_time.as_ref() else { return true };
    let duration = spec.lease_duration_seconds.unwrap_or(15);
    renew.0 + jiff::SignedDuration::from_secs(i64::from(duration)) < at
}

impl LeaderElection {
    pub fn new(client: Client, config: LeaseConfig) -> Self {
        LeaderElection { api: Api::namespaced(client, &config.namespace), config }
    }

    fn spec(&self, previous: Option<&LeaseSpec>, at: jiff::Timestamp) -> LeaseSpec {
        let ours = previous.and_then(|p| p.holder_identity.as_deref()) == Some(self.config.identity.as_str());
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.lease_duration.as_secs() as i32),
            acquire_time: if ours { previous.and_then(|p| p.acquire_time.clone()) } else { Some(MicroTime(at)) },
            renew_time: Some(MicroTime(at)),
            lease_transitions: Some(if ours || previous.is_none() { transitions } else { transitions + 1 }),
            ..Default::default()
        }
    }

    /// One attempt to acquire or renew. `Ok(true)` when this candidate holds the Lease.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, Error> {
        let at = now();
        match self.api.get_opt(&self.config.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta { name: Some(self.config.name.clone()), ..Default::default() },
                    spec: Some(self.spec(None, at)),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Some(mut lease) => {
                let current = lease.spec.clone().unwrap_or_default();
                let held_by_us = current.holder_identity.as_deref() == Some(self.config.identity.as_str());
                if !held_by_us && !expired(&current, at) && current.holder_identity.is_some() {
                    return Ok(false);
                }
                lease.spec = Some(self.spec(Some(&current), at));
                // The resourceVersion in `lease` makes this a compare-and-swap.
                match self.api.replace(&self.config.name, &PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(Error::Api(s)) if s.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Gives the Lease up (on shutdown) so a standby takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await
            && lease.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(self.config.identity.as_str())
        {
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
                spec.renew_time = None;
            }
            let _ = self.api.replace(&self.config.name, &PostParams::default(), &lease).await;
        }
    }

    /// Runs `lead` whenever this candidate holds the Lease; `lead` gets a receiver that
    /// turns `false` when leadership is lost and must return promptly then. Runs forever;
    /// dropping the future stops a running `lead` task too.
    pub async fn run<F, Fut>(self, lead: F)
    where
        F: FnMut(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.campaign(lead).await
    }

    /// [`Self::run`] until `shutdown` completes; then the running `lead` task is stopped and
    /// the Lease released, so that a standby takes over at once instead of after the
    /// lease duration.
    pub async fn run_until<F, Fut, S>(self, lead: F, shutdown: S)
    where
        F: FnMut(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
        S: Future<Output = ()>,
    {
        tokio::select! {
            _ = self.campaign(lead) => {}
            _ = shutdown => {}
        }
        self.release().await;
        info!(lease = %self.config.name, identity = %self.config.identity, "stopped and released the lease");
    }

    async fn campaign<F, Fut>(&self, mut lead: F)
    where
        F: FnMut(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = self.config.name.clone();
        loop {
            // Wait until acquired.
            loop {
                match self.try_acquire_or_renew().await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => warn!(lease = %name, error = %e, "leader election attempt failed"),
                }
                tokio::time::sleep(self.config.retry_period).await;
            }
            info!(lease = %name, identity = %self.config.identity, "acquired leadership");
            let (tx, rx) = watch::channel(true);
            let mut task = AbortOnDrop(tokio::spawn(lead(rx)));
            let mut last_renewed = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(self.config.retry_period).await;
                match self.try_acquire_or_renew().await {
                    Ok(true) => last_renewed = tokio::time::Instant::now(),
                    Ok(false) => break,
                    Err(e) => {
                        warn!(lease = %name, error = %e, "renewing the lease failed");
                        // Give up before the Lease can expire for others.
                        if last_renewed.elapsed() + self.config.retry_period >= self.config.lease_duration * 2 / 3 {
                            break;
                        }
                    }
                }
            }
            warn!(lease = %name, "lost leadership");
            let _ = tx.send(false);
            if tokio::time::timeout(Duration::from_secs(5), &mut task.0).await.is_err() {
                warn!(lease = %name, "controller did not stop within 5s after losing leadership");
            }
        }
    }
}

/// A spawned task that is aborted when its handle goes away, so that cancelling the
/// election also stops the controller it started.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry() {
        let at = now();
        let spec = LeaseSpec {
            renew_time: Some(MicroTime(at - jiff::SignedDuration::from_secs(20))),
            lease_duration_seconds: Some(15),
            ..Default::default()
        };
        assert!(expired(&spec, at));
        let fresh =
            LeaseSpec { renew_time: Some(MicroTime(at)), lease_duration_seconds: Some(15), ..Default::default() };
        assert!(!expired(&fresh, at));
        assert!(expired(&LeaseSpec::default(), at));
    }
}
