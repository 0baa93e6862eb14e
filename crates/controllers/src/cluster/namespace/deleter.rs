//! One pass of deleting a terminating namespace's content: every namespaced
//! resource discovery reports (custom resources included) is deleted, pods
//! first, then counted again. What remains and why goes into the findings.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::{Client, ResourceExt};

use super::conditions::Findings;
use crate::cluster::is_not_found;
use crate::cluster::resources::{Catalog, ResourceInfo};

/// Objects with finalizers get this long (seconds) before a pass looks again.
const FINALIZER_ESTIMATE_SECONDS: u64 = 15;

/// The result of a pass: what was found, and how long (seconds) until what
/// remains is expected to be gone (0: nothing is expected to remain).
#[derive(Debug, Default)]
pub struct Pass {
    pub findings: Findings,
    pub estimate: u64,
}

impl Pass {
    pub fn content_remains(&self) -> bool {
        self.findings.remaining.values().any(|n| *n > 0)
    }
}

struct Remaining {
    count: usize,
    finalizers: BTreeMap<String, usize>,
    estimate: u64,
}

fn is_pods(info: &ResourceInfo) -> bool {
    info.resource.group.is_empty() && info.resource.plural == "pods"
}

/// Deletes the content of `namespace`, which started terminating `seconds_terminating` ago.
pub async fn delete_content(client: &Client, catalog: &Catalog, namespace: &str, seconds_terminating: u64) -> Pass {
    let mut pass = Pass::default();
    let deletable: Vec<&ResourceInfo> =
        catalog.preferred().iter().filter(|r| r.namespaced && r.supports("delete")).collect();
    // Pods go first and the rest waits for them, so that what they use (Services,
    // Secrets, NetworkPolicies...) outlives them, as upstream's ordered deletion does.
    let (pods, rest): (Vec<&ResourceInfo>, Vec<&ResourceInfo>) = deletable.into_iter().partition(|r| is_pods(r));
    for group in [pods, rest] {
        for info in group {
            match delete_resource(client, info, namespace, seconds_terminating).await {
                Ok(r) => {
                    if r.count > 0 {
                        pass.findings
                            .remaining
                            .insert(format!("{}.{}", info.resource.plural, info.resource.group), r.count);
                    }
                    for (f, n) in r.finalizers {
                        *pass.findings.finalizers.entry(f).or_default() += n;
                    }
                    pass.estimate = pass.estimate.max(r.estimate);
                }
                Err(e) => pass.findings.delete_errors.push(e),
            }
        }
        if pass.content_remains() || !pass.findings.delete_errors.is_empty() {
            break;
        }
    }
    pass
}

/// How long the namespace's pods may take to terminate: their longest grace
/// period, unless the namespace has been terminating for longer already.
async fn pods_estimate(client: &Client, namespace: &str, seconds_terminating: u64) -> Result<u64, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods.list(&ListParams::default()).await.map_err(|e| format!("listing pods: {e}"))?;
    let estimate = list
        .items
        .iter()
        .filter(|p| !crate::cluster::pods::is_terminal(p))
        .filter_map(|p| p.spec.as_ref()?.termination_grace_period_seconds)
        .max()
        .unwrap_or(0)
        .max(0) as u64;
    Ok(if seconds_terminating >= estimate { 0 } else { estimate })
}

fn unsupported(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 405) || is_not_found(e)
}

async fn delete_resource(
    client: &Client,
    info: &ResourceInfo,
    namespace: &str,
    seconds_terminating: u64,
) -> Result<Remaining, String> {
    let gr = info.group_resource();
    let estimate = if is_pods(info) { pods_estimate(client, namespace, seconds_terminating).await? } else { 0 };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &info.resource);
    // Background propagation: the garbage collector deals with dependents.
    let options = DeleteParams::background();
    let mut deleted = false;
    if info.supports("deletecollection") {
        match api.delete_collection(&options, &ListParams::default()).await {
            Ok(_) => deleted = true,
            Err(e) if unsupported(&e) => {}
            Err(e) => return Err(format!("failed to delete {gr}: {e}")),
        }
    }
    if !info.supports("list") {
        return Ok(Remaining { count: 0, finalizers: BTreeMap::new(), estimate });
    }
    let listed = match api.list_metadata(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) if unsupported(&e) => return Ok(Remaining { count: 0, finalizers: BTreeMap::new(), estimate }),
        Err(e) => return Err(format!("failed to list {gr}: {e}")),
    };
    let remaining = if deleted || listed.is_empty() {
        listed
    } else {
        for item in &listed {
            match api.delete(&item.name_any(), &options).await {
                Ok(_) => {}
                Err(e) if unsupported(&e) => {}
                Err(e) => return Err(format!("failed to delete {gr} {}: {e}", item.name_any())),
            }
        }
        api.list_metadata(&ListParams::default()).await.map_err(|e| format!("failed to list {gr}: {e}"))?.items
    };
    let mut finalizers = BTreeMap::new();
    for item in &remaining {
        for f in item.finalizers() {
            *finalizers.entry(f.clone()).or_insert(0) += 1;
        }
    }
    let mut estimate = estimate;
    if !remaining.is_empty() && estimate == 0 {
        if finalizers.is_empty() {
            return Err(format!("unexpected items still remain in namespace: {namespace} for gvr: {gr}"));
        }
        estimate = FINALIZER_ESTIMATE_SECONDS;
    }
    Ok(Remaining { count: remaining.len(), finalizers, estimate })
}
