//! Creating and deleting pods for a controller, with the events upstream's `PodControl`
//! records on the owner (`SuccessfulCreate` "Created pod: web-x2k4p", `FailedCreate`,
//! `SuccessfulDelete`, `FailedDelete`), and slow-start batches: 1 pod, then 2, 4, ...,
//! stopping at the first failure so a quota or admission error does not produce a flood
//! of failing requests.

use std::future::Future;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, Resource};

use crate::runtime::error::{is_not_found, message};
use crate::runtime::{Error, EventRecorder};

/// Upstream's `SlowStartInitialBatchSize`.
pub const SLOW_START_INITIAL_BATCH: usize = 1;

/// How a new pod is named.
#[derive(Debug, Clone)]
pub enum PodName {
    /// `generateName`: the API server appends a random suffix.
    Generate(String),
    /// A fixed name (StatefulSet ordinals).
    Fixed(String),
}

/// The pod a controller creates from its template (upstream's `GetPodFromTemplate`).
pub fn pod_from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    name: PodName,
    owner: Option<OwnerReference>,
) -> Pod {
    let tmeta = template.metadata.clone().unwrap_or_default();
    let (name, generate_name) = match name {
        PodName::Generate(prefix) => (None, Some(prefix)),
        PodName::Fixed(n) => (Some(n), None),
    };
    Pod {
        metadata: ObjectMeta {
            name,
            generate_name,
            namespace: Some(namespace.to_string()),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// The `generateName` prefix of a controller's pods: its name and a dash.
pub fn pods_prefix(owner_name: &str) -> String {
    format!("{owner_name}-")
}

/// Creates and deletes pods on behalf of one controller kind.
#[derive(Clone)]
pub struct PodControl {
    pub client: Client,
    pub recorder: EventRecorder,
}

impl PodControl {
    pub fn new(client: Client, recorder: EventRecorder) -> Self {
        PodControl { client, recorder }
    }

    /// Creates `pod`, recording the outcome on `owner`.
    pub async fn create<O: Resource<DynamicType = ()>>(&self, owner: &O, pod: &Pod) -> Result<Pod, kube::Error> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        if pod.metadata.labels.as_ref().is_none_or(|l| l.is_empty()) {
            let e = kube::Error::Service("unable to create pods, no labels".into());
            self.recorder.warning(owner, "FailedCreate", format!("Error creating: {e}"));
            return Err(e);
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match api.create(&PostParams::default(), pod).await {
            Ok(created) => {
                let name = created.metadata.name.clone().unwrap_or_default();
                self.recorder.normal(owner, "SuccessfulCreate", format!("Created pod: {name}"));
                Ok(created)
            }
            Err(e) => {
                self.recorder.warning(owner, "FailedCreate", format!("Error creating: {}", message(&e)));
                Err(e)
            }
        }
    }

    /// Deletes pod `name`; a pod that is already gone counts as deleted.
    pub async fn delete<O: Resource<DynamicType = ()>>(
        &self,
        owner: &O,
        namespace: &str,
        name: &str,
    ) -> Result<(), kube::Error> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                self.recorder.normal(owner, "SuccessfulDelete", format!("Deleted pod: {name}"));
                Ok(())
            }
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => {
                self.recorder.warning(owner, "FailedDelete", format!("Error deleting: {}", message(&e)));
                Err(e)
            }
        }
    }
}

/// Runs `count` calls of `create` in batches of 1, 2, 4, ... (each batch concurrently),
/// stopping after the first batch with a failure. Returns how many succeeded and the
/// first error; calls never started are `count - succeeded - failed`.
pub async fn slow_start_batch<F, Fut>(count: usize, initial_batch: usize, create: F) -> (usize, usize, Option<Error>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    let mut remaining = count;
    let mut succeeded = 0;
    let mut failed = 0;
    let mut batch = remaining.min(initial_batch.max(1));
    let mut started = 0;
    while batch > 0 {
        let results = join_all((0..batch).map(|i| create(started + i))).await;
        started += batch;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(()) => succeeded += 1,
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_some() {
            return (succeeded, failed, first_error);
        }
        remaining -= batch;
        batch = remaining.min(batch * 2);
    }
    (succeeded, failed, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn slow_start_doubles_batches_and_stops_on_failure() {
        let calls = Mutex::new(Vec::new());
        let (ok, failed, err) = slow_start_batch(10, 1, |i| {
            calls.lock().unwrap().push(i);
            async move { if i == 4 { Err(Error::Failed("quota".into())) } else { Ok(()) } }
        })
        .await;
        // Batches: [0], [1,2], [3,4,5,6] (index 4 fails) -> stop.
        assert_eq!(calls.lock().unwrap().len(), 7);
        assert_eq!((ok, failed), (6, 1));
        assert!(err.is_some());

        let (ok, failed, err) = slow_start_batch(5, 1, |_| async { Ok(()) }).await;
        assert_eq!((ok, failed), (5, 0));
        assert!(err.is_none());
    }

    #[test]
    fn pods_from_templates_copy_metadata_and_own_refs() {
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                annotations: Some([("a".to_string(), "b".to_string())].into()),
                ..Default::default()
            }),
            spec: Some(Default::default()),
        };
        let owner =
            OwnerReference { name: "web-1".into(), uid: "u".into(), controller: Some(true), ..Default::default() };
        let pod = pod_from_template(&template, "ns", PodName::Generate(pods_prefix("web-1")), Some(owner));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-1-"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(pod.metadata.labels.unwrap()["app"], "web");
        assert_eq!(pod.metadata.owner_references.unwrap()[0].uid, "u");
    }
}
