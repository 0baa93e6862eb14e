//! The disruption controller: keeps each PodDisruptionBudget's status
//! (currentHealthy, desiredHealthy, expectedPods, disruptionsAllowed,
//! disruptedPods, the DisruptionAllowed condition) in line with its pods. The
//! eviction API reads that status to refuse evictions the budget forbids.

pub mod budget;
pub mod scale;
pub mod stale;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, Resource};

use super::Error;
use crate::runtime::recorder::hostname;
use crate::runtime::{
    EventRecorder, EventSink, Informer, LabelMatcher, ObjectKey, Requeue, Shutdown, WorkQueue, run_workers,
};
use budget::Counts;
use scale::ScaleFinder;

const WORKERS: usize = 2;

struct Controller {
    client: Client,
    budgets: Informer<PodDisruptionBudget>,
    pods: Informer<Pod>,
    scales: ScaleFinder,
    events: EventRecorder,
}

fn selector(pdb: &PodDisruptionBudget) -> Result<LabelMatcher, String> {
    LabelMatcher::parse(pdb.spec.as_ref().and_then(|s| s.selector.as_ref())).map_err(|e| e.to_string())
}

/// The budgets of the pod's namespace that select it.
fn budgets_of(pod: &Pod, budgets: &Informer<PodDisruptionBudget>) -> Vec<ObjectKey> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    budgets
        .list_namespace(ns)
        .into_iter()
        .filter(|b| selector(b).is_ok_and(|s| s.matches(pod.metadata.labels.as_ref())))
        .map(|b| ObjectKey::of(b.as_ref()))
        .collect()
}

pub async fn run(client: Client) -> Result<(), Error> {
    // Dropping the trigger (this future ends or is dropped) stops the watches.
    let (_stop, shutdown) = Shutdown::new();
    let cfg = watcher::Config::default;
    let budgets = Informer::watch(Api::<PodDisruptionBudget>::all(client.clone()), cfg(), shutdown.clone());
    let pods = Informer::watch(Api::<Pod>::all(client.clone()), cfg(), shutdown.clone());
    budgets.wait_synced().await;
    pods.wait_synced().await;
    let queue = WorkQueue::default();
    // Pods with an eviction mark that may go stale.
    let stale_queue = WorkQueue::default();
    {
        let queue = queue.clone();
        budgets.add_handler(move |change| {
            for b in change.objects() {
                queue.add(ObjectKey::of(b.as_ref()));
            }
        });
    }
    {
        let (queue, stale_queue, budgets) = (queue.clone(), stale_queue.clone(), budgets.clone());
        pods.add_handler(move |change| {
            for pod in change.objects() {
                for key in budgets_of(pod, &budgets) {
                    queue.add(key);
                }
            }
            if let Some(pod) = change.applied()
                && stale::stale_after(pod, jiff::Timestamp::now()).is_some()
            {
                stale_queue.add(ObjectKey::of(pod.as_ref()));
            }
        });
    }
    let controller = Arc::new(Controller {
        events: EventSink::new(client.clone(), &hostname()).recorder("controllermanager"),
        scales: ScaleFinder::new(client.clone()),
        client,
        budgets,
        pods,
    });
    let budgets_synced = {
        let controller = controller.clone();
        run_workers("disruption", queue, WORKERS, shutdown.clone(), move |key| {
            let controller = controller.clone();
            async move { controller.sync(&key).await }
        })
    };
    let marks_reset = run_workers("disruption-stale-pods", stale_queue, 1, shutdown, move |key| {
        let controller = controller.clone();
        async move { controller.reset_stale_mark(&key).await }
    });
    tokio::join!(budgets_synced, marks_reset);
    Ok(())
}

impl Controller {
    async fn sync(&self, key: &ObjectKey) -> Result<Requeue, Error> {
        let Some(pdb) = self.budgets.get(key) else { return Ok(None) };
        match self.try_sync(&pdb).await {
            Ok(requeue) => Ok(requeue),
            Err(e) if e.is_conflict() => Err(e),
            Err(e) => {
                // Whatever went wrong, the budget must not allow disruptions it cannot vouch for.
                let status = budget::fail_safe_status(&pdb, &e.to_string(), &Time(jiff::Timestamp::now()));
                self.write_status(&pdb, status).await?;
                Err(e)
            }
        }
    }

    async fn try_sync(&self, pdb: &PodDisruptionBudget) -> Result<Requeue, Error> {
        let regarding = pdb.object_ref(&());
        let selector = selector(pdb).map_err(Error::Retry)?;
        let ns = pdb.metadata.namespace.as_deref().unwrap_or_default();
        let mut pods: Vec<Arc<Pod>> =
            self.pods.list_namespace(ns).into_iter().filter(|p| selector.matches(p.metadata.labels.as_ref())).collect();
        pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        if pods.is_empty() {
            self.events.normal_ref(&regarding, "NoPods", "No matching pods found");
        }
        let spec = pdb.spec.clone().unwrap_or_default();
        let scale = if budget::needs_controller_scale(&spec) {
            match self.scales.expected(&pods).await {
                Ok(expected) => {
                    if !expected.unmanaged.is_empty() {
                        let note = format!(
                            "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                            selector_text(pdb)
                        );
                        self.events.warning_ref(&regarding, "UnmanagedPods", note);
                    }
                    Some(expected.replicas)
                }
                Err(e) => return Err(self.count_failed(&regarding, e).await),
            }
        } else {
            None
        };
        let (expected, desired) = match budget::expected_and_desired(&spec, pods.len() as i32, scale) {
            Ok(v) => v,
            Err(e) => return Err(self.count_failed(&regarding, e).await),
        };
        let now = jiff::Timestamp::now();
        let disrupted = pdb.status.as_ref().and_then(|s| s.disrupted_pods.clone()).unwrap_or_default();
        let (disrupted, overstayed, recheck) = budget::prune_disrupted(&pods, &disrupted, now);
        for name in overstayed {
            if let Some(pod) = pods.iter().find(|p| p.metadata.name.as_deref() == Some(name.as_str())) {
                let note = format!("Pod was expected by PDB {ns}/{} to be deleted but it wasn't", key_name(pdb));
                self.events.warning_ref(&pod.object_ref(&()), "NotDeleted", note);
            }
        }
        let current = budget::count_healthy(&pods, &disrupted, now);
        let counts = Counts {
            current_healthy: current,
            desired_healthy: desired,
            expected_pods: expected,
            disrupted_pods: disrupted,
        };
        if let Some(status) = budget::new_status(pdb, counts, &Time(now)) {
            self.write_status(pdb, status).await?;
        }
        Ok(recheck.map(|at| now.duration_until(at).try_into().unwrap_or(Duration::ZERO) + Duration::from_millis(100)))
    }

    /// Resets a pod's DisruptionTarget mark once it is stale.
    async fn reset_stale_mark(&self, key: &ObjectKey) -> Result<Requeue, Error> {
        let Some(pod) = self.pods.get(key) else { return Ok(None) };
        let now = jiff::Timestamp::now();
        match stale::stale_after(&pod, now) {
            None => Ok(None),
            Some(wait) if !wait.is_zero() => Ok(Some(wait)),
            Some(_) => {
                let Some(mut updated) = stale::reset(&pod, now) else { return Ok(None) };
                updated.metadata.managed_fields = None;
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &key.namespace);
                // The cached resourceVersion makes this a compare-and-swap.
                match api.replace_status(&key.name, &PostParams::default(), &updated).await {
                    Ok(_) => Ok(None),
                    Err(e) if super::is_not_found(&e) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    async fn count_failed(&self, regarding: &k8s_openapi::api::core::v1::ObjectReference, e: String) -> Error {
        let note = format!("Failed to calculate the number of expected pods: {e}");
        self.events.warning_ref(regarding, "CalculateExpectedPodCountFailed", note);
        Error::Retry(e)
    }

    async fn write_status(
        &self,
        pdb: &PodDisruptionBudget,
        status: k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus,
    ) -> Result<(), Error> {
        let api: Api<PodDisruptionBudget> =
            Api::namespaced(self.client.clone(), pdb.metadata.namespace.as_deref().unwrap_or_default());
        let mut updated = pdb.clone();
        updated.status = Some(status);
        updated.metadata.managed_fields = None;
        // The cached resourceVersion makes this a compare-and-swap with evictions.
        api.replace_status(&key_name(pdb), &PostParams::default(), &updated).await?;
        Ok(())
    }
}

fn key_name(pdb: &PodDisruptionBudget) -> String {
    pdb.metadata.name.clone().unwrap_or_default()
}

/// The selector as upstream prints a `*metav1.LabelSelector` in its event.
fn selector_text(pdb: &PodDisruptionBudget) -> String {
    let Some(sel) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else { return "nil".into() };
    let mut parts: Vec<String> = sel.match_labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    for e in sel.match_expressions.iter().flatten() {
        parts.push(format!("{} {} ({})", e.key, e.operator, e.values.clone().unwrap_or_default().join(",")));
    }
    parts.join(",")
}
