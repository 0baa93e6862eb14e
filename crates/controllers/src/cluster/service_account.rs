//! The ServiceAccount controller: every active namespace has a `default`
//! ServiceAccount; it is created with the namespace and again if deleted.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use tokio::task::JoinSet;

use super::informer::{self, Cache, Change};
use super::queue::WorkQueue;
use super::workers::{self, Requeue};
use super::{Error, Key};

pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
const WORKERS: usize = 1;

struct Controller {
    client: Client,
    namespaces: Arc<Cache<Namespace>>,
    accounts: Arc<Cache<ServiceAccount>>,
}

fn active(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()).is_none_or(|p| p == "Active")
}

pub async fn run(client: Client) -> Result<(), Error> {
    let mut tasks = JoinSet::new();
    let cfg = watcher::Config::default;
    let (namespaces, mut ns_changes) = informer::spawn(Api::<Namespace>::all(client.clone()), cfg(), &mut tasks);
    let only_default = cfg().fields(&format!("metadata.name={DEFAULT_SERVICE_ACCOUNT}"));
    let (accounts, mut sa_changes) =
        informer::spawn(Api::<ServiceAccount>::all(client.clone()), only_default, &mut tasks);
    namespaces.wait_synced().await;
    accounts.wait_synced().await;
    let queue = Arc::new(WorkQueue::new());
    for ns in namespaces.list() {
        queue.add(Key::new("", ns.name_any()));
    }
    {
        let queue = queue.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    Some(change) = ns_changes.recv() => {
                        if let Change::Applied { new, .. } = change {
                            queue.add(Key::new("", new.name_any()));
                        }
                    }
                    Some(change) = sa_changes.recv() => {
                        if let Change::Deleted(sa) = change {
                            queue.add(Key::new("", sa.namespace().unwrap_or_default()));
                        }
                    }
                    else => break,
                }
            }
        });
    }
    let controller = Arc::new(Controller { client, namespaces, accounts });
    workers::run("serviceaccount", queue, WORKERS, move |key| {
        let controller = controller.clone();
        async move { controller.sync(&key.name).await }
    })
    .await;
    Ok(())
}

impl Controller {
    async fn sync(&self, namespace: &str) -> Result<Requeue, Error> {
        let Some(ns) = self.namespaces.get("", namespace) else { return Ok(None) };
        if !active(&ns) || self.accounts.get(namespace, DEFAULT_SERVICE_ACCOUNT).is_some() {
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
