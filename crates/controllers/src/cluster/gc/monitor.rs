//! Resource monitors: a metadata-only watch per resource, feeding what matters
//! to the garbage collector (identity, owner references, deletion state,
//! finalizers) into the graph builder's channel.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::warn;

use super::graph::{GraphEvent, Identity, Observed};

fn observed(resource: &ApiResource, obj: &PartialObjectMeta<DynamicObject>) -> Option<Observed> {
    let uid = obj.metadata.uid.clone()?;
    Some(Observed {
        identity: Identity {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
            namespace: obj.namespace().unwrap_or_default(),
            name: obj.name_any(),
            uid,
        },
        owners: obj.owner_references().to_vec(),
        being_deleted: obj.metadata.deletion_timestamp.is_some(),
        finalizers: obj.finalizers().to_vec(),
    })
}

/// Watches `resource` until dropped; `synced` turns true after the first list.
pub async fn run(
    client: Client,
    resource: ApiResource,
    events: mpsc::UnboundedSender<GraphEvent>,
    synced: watch::Sender<bool>,
) {
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &resource);
    let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
    // What was last reported per uid: unchanged updates (status, spec) are not passed on.
    let mut known: HashMap<String, Observed> = HashMap::new();
    let mut relisted: Option<HashSet<String>> = None;
    let report = |obs: Observed, known: &mut HashMap<String, Observed>| {
        if known.get(&obs.identity.uid) != Some(&obs) {
            known.insert(obs.identity.uid.clone(), obs.clone());
            let _ = events.send(GraphEvent::Upsert(obs));
        }
    };
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                warn!(resource = %resource.plural, group = %resource.group, error = %e, "garbage collector watch failed; retrying");
                continue;
            }
        };
        match event {
            Event::Apply(obj) => {
                if let Some(obs) = observed(&resource, &obj) {
                    report(obs, &mut known);
                }
            }
            Event::Delete(obj) => {
                if let Some(obs) = observed(&resource, &obj) {
                    known.remove(&obs.identity.uid);
                    let _ = events.send(GraphEvent::Delete(obs));
                }
            }
            Event::Init => relisted = Some(HashSet::new()),
            Event::InitApply(obj) => {
                if let Some(obs) = observed(&resource, &obj) {
                    if let Some(seen) = relisted.as_mut() {
                        seen.insert(obs.identity.uid.clone());
                    }
                    report(obs, &mut known);
                }
            }
            Event::InitDone => {
                // Whatever the new list lacks was deleted while the watch was down.
                let seen = relisted.take().unwrap_or_default();
                let gone: Vec<String> = known.keys().filter(|uid| !seen.contains(*uid)).cloned().collect();
                for uid in gone {
                    if let Some(obs) = known.remove(&uid) {
                        let _ = events.send(GraphEvent::Delete(obs));
                    }
                }
                synced.send_replace(true);
            }
        }
    }
}
