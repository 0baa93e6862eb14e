//! The namespace controller: a namespace with a deletionTimestamp is
//! Terminating; its content is deleted, the controller waits for it to go,
//! then removes the `kubernetes` finalizer through `namespaces/<name>/finalize`
//! (the API server deletes the namespace once its finalizers are gone). Status
//! conditions tell users what still holds the namespace.

pub mod conditions;
pub mod deleter;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use super::resources::Catalog;
use super::{Error, is_not_found};
use crate::runtime::workqueue::Backoff;
use crate::runtime::{Informer, ObjectKey, Requeue, Shutdown, WorkQueue, run_workers};
use conditions::Findings;

/// The finalizer this controller is responsible for.
pub const FINALIZER: &str = "kubernetes";
const WORKERS: usize = 2;
/// Longest wait before a namespace with remaining content is looked at again.
const MAX_RECHECK_SECONDS: u64 = 5;
/// Failing namespaces are retried at least every minute, as upstream.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

struct Controller {
    client: Client,
}

pub async fn run(client: Client) -> Result<(), Error> {
    // Dropping the trigger (this future ends or is dropped) stops the watch.
    let (_stop, shutdown) = Shutdown::new();
    let namespaces =
        Informer::watch(Api::<Namespace>::all(client.clone()), watcher::Config::default(), shutdown.clone());
    namespaces.wait_synced().await;
    let queue = WorkQueue::new(Backoff { max: MAX_BACKOFF, ..Backoff::default() });
    {
        let queue = queue.clone();
        namespaces.add_handler(move |change| {
            if let Some(ns) = change.applied()
                && ns.metadata.deletion_timestamp.is_some()
            {
                queue.add(ObjectKey::cluster(ns.name_any()));
            }
        });
    }
    let controller = Arc::new(Controller { client });
    run_workers("namespace", queue, WORKERS, shutdown, move |key: ObjectKey| {
        let controller = controller.clone();
        async move { controller.sync(&key.name).await }
    })
    .await;
    Ok(())
}

fn has_finalizer(ns: &Namespace) -> bool {
    ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

impl Controller {
    async fn sync(&self, name: &str) -> Result<Requeue, Error> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        // Several controllers edit a terminating namespace: always work on the latest.
        let Some(mut ns) = api.get_opt(name).await? else { return Ok(None) };
        let Some(deleted_at) = ns.metadata.deletion_timestamp.clone() else { return Ok(None) };
        if ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating") {
            ns.status.get_or_insert_with(Default::default).phase = Some("Terminating".into());
            ns = api.replace_status(name, &PostParams::default(), &ns).await?;
        }
        if !has_finalizer(&ns) {
            return Ok(None);
        }
        let catalog = match Catalog::discover(&self.client).await {
            Ok(c) => c,
            Err(e) => {
                let findings = Findings { discovery_error: Some(e.to_string()), ..Default::default() };
                self.update_conditions(&api, ns, &findings).await?;
                return Err(e);
            }
        };
        let terminating_for = jiff::Timestamp::now().duration_since(deleted_at.0).as_secs().max(0) as u64;
        let pass = deleter::delete_content(&self.client, &catalog, name, terminating_for).await;
        let ns = self.update_conditions(&api, ns, &pass.findings).await?;
        if !pass.findings.delete_errors.is_empty() {
            return Err(Error::Retry(pass.findings.delete_errors.join("; ")));
        }
        if pass.content_remains() {
            if pass.estimate > 0 {
                // Upstream looks again after half the estimate; pods usually end well
                // before their grace period does, so look at least every few seconds.
                return Ok(Some(Duration::from_secs((pass.estimate / 2).clamp(1, MAX_RECHECK_SECONDS))));
            }
            return Err(Error::Retry(format!("content remains in namespace {name}")));
        }
        self.finalize(&api, ns).await?;
        Ok(None)
    }

    /// Writes the findings into the namespace's conditions, when they change them.
    async fn update_conditions(
        &self,
        api: &Api<Namespace>,
        mut ns: Namespace,
        f: &Findings,
    ) -> Result<Namespace, Error> {
        let status = ns.status.get_or_insert_with(Default::default);
        let mut conds = status.conditions.take().unwrap_or_default();
        let changed = conditions::update(&mut conds, f, &Time(jiff::Timestamp::now()));
        status.conditions = Some(conds);
        if !changed {
            return Ok(ns);
        }
        Ok(api.replace_status(&ns.name_any(), &PostParams::default(), &ns).await?)
    }

    /// Removes this controller's finalizer; the API server deletes the namespace
    /// when no finalizer is left.
    async fn finalize(&self, api: &Api<Namespace>, mut ns: Namespace) -> Result<(), Error> {
        let name = ns.name_any();
        if let Some(f) = ns.spec.as_mut().and_then(|s| s.finalizers.as_mut()) {
            f.retain(|f| f != FINALIZER);
        }
        match api.replace_subresource("finalize", &name, &PostParams::default(), &ns).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
