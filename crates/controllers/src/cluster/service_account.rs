//! The ServiceAccount controller: every active namespace has a `default`
//! ServiceAccount; it is created with the namespace and again if deleted.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::watcher::Config;
use kube::{Client, ResourceExt};

use super::Error;
use crate::runtime::{Change, Informer, ObjectKey, Requeue, Shutdown, WorkQueue, run_workers};

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
const WORKERS: usize = 1;

struct Controller {
    client: Client,
    namespaces: Informer<Namespace>,
    accounts: Informer<ServiceAccount>,
}

fn active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()).is_none_or(|p| p == "Active")
}

pub async fn run(client: Client) -> Result<(), Error> {
    // Dropping the trigger (this future ends or is dropped) stops the watches.
    let (_stop, shutdown) = Shutdown::new();
    let namespaces = Informer::watch(Api::<Namespace>::all(client.clone()), Config::default(), shutdown.clone());
    let only_default = Config::default().fields(&format!("metadata.name={DEFAULT_SERVICE_ACCOUNT}"));
    let accounts = Informer::watch(Api::<ServiceAccount>::all(client.clone()), only_default, shutdown.clone());
    namespaces.wait_synced().await;
    accounts.wait_synced().await;
    let queue = WorkQueue::default();
    {
        let queue = queue.clone();
        namespaces.add_handler(move |change| {
            if let Some(ns) = change.applied() {
                queue.add(ObjectKey::cluster(ns.name_any()));
            }
        });
    }
    {
        let queue = queue.clone();
        accounts.add_handler(move |change| {
            if let Change::Deleted(sa) = change {
                queue.add(ObjectKey::cluster(sa.namespace().unwrap_or_default()));
            }
        });
    }
    let controller = Arc::new(Controller { client, namespaces, accounts });
    run_workers("serviceaccount", queue, WORKERS, shutdown, move |key: ObjectKey| {
        let controller = controller.clone();
        async move { controller.sync(&key.name).await }
    })
    .await;
    Ok(())
}

impl Controller {
    async fn sync(&self, namespace: &str) -> Result<Requeue, Error> {
        let Some(ns) = self.namespaces.get_named("", namespace) else { return Ok(None) };
        if !active(&ns) || self.accounts.get_named(namespace, DEFAULT_SERVICE_ACCOUNT).is_some() {
            return Ok(None);
        }
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        let sa = ServiceAccount {
            metadata: ObjectMeta { name: Some(DEFAULT_SERVICE_ACCOUNT.into()), ..Default::default() },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => Ok(None),
            // Created meanwhile, or the namespace started terminating: nothing to do.
            Err(kube::Error::Api(s)) if s.code == 409 || (s.code == 403 && s.message.contains("being terminated")) => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}
