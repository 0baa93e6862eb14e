//! The node's heartbeat: a Lease named after the node in `kube-node-lease`, renewed
//! every period. The node lifecycle controller reads `renewTime` to tell a live node
//! from a dead one, which is far cheaper than rewriting the whole Node status.
//!
//! As upstream's lease controller: the last written Lease is kept and updated in place;
//! only when that fails (conflict, or the Lease was deleted) is it read again or
//! re-created. The Lease is owned by the Node, so deleting the Node deletes it.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::Api;
use kube::api::PostParams;

/// The namespace of node heartbeats.
pub const NAMESPACE: &str = "kube-node-lease";
/// How long a Lease stays valid without renewal (upstream's default: 40s).
pub const DURATION_SECONDS: i32 = 40;

pub struct NodeLease {
    api: Api<Lease>,
    name: String,
    owner: Option<OwnerReference>,
    last: Option<Lease>,
}

/// The owner reference that ties the Lease to its Node.
pub fn node_owner(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: name.to_string(),
        uid: uid.to_string(),
        ..OwnerReference::default()
    }
}

fn with_renewal(mut lease: Lease, holder: &str, owner: Option<&OwnerReference>, now: jiff::Timestamp) -> Lease {
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(holder.to_string());
    spec.lease_duration_seconds = Some(DURATION_SECONDS);
    spec.renew_time = Some(MicroTime(now));
    if let Some(owner) = owner {
        let owners = lease.metadata.owner_references.get_or_insert_with(Vec::new);
        if !owners.iter().any(|o| o.uid == owner.uid) {
            owners.retain(|o| o.kind != "Node");
            owners.push(owner.clone());
        }
    }
    lease
}

fn new_lease(name: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NAMESPACE.into()),
            ..ObjectMeta::default()
        },
        spec: None,
    }
}

impl NodeLease {
    /// The heartbeat of node `name`; `owner` is the Node's reference once it is known.
    pub fn new(client: kube::Client, name: &str, owner: Option<OwnerReference>) -> NodeLease {
        NodeLease { api: Api::namespaced(client, NAMESPACE), name: name.to_string(), owner, last: None }
    }

    /// Renews the Lease (creating it if it does not exist) and returns it as stored.
    pub async fn renew(&mut self) -> Result<Lease, kube::Error> {
        let now = jiff::Timestamp::now();
        if let Some(last) = self.last.take() {
            let renewed = with_renewal(last, &self.name, self.owner.as_ref(), now);
            match self.api.replace(&self.name, &PostParams::default(), &renewed).await {
                Ok(lease) => return Ok(self.keep(lease)),
                Err(e) => {
                    tracing::debug!(node = %self.name, error = %e, "renewing the cached lease failed; reading it again")
                }
            }
        }
        match self.api.get_opt(&self.name).await? {
            Some(stored) => {
                let renewed = with_renewal(stored, &self.name, self.owner.as_ref(), now);
                let lease = self.api.replace(&self.name, &PostParams::default(), &renewed).await?;
                Ok(self.keep(lease))
            }
            None => {
                let fresh = with_renewal(new_lease(&self.name), &self.name, self.owner.as_ref(), now);
                let lease = self.api.create(&PostParams::default(), &fresh).await?;
                Ok(self.keep(lease))
            }
        }
    }

    fn keep(&mut self, lease: Lease) -> Lease {
        self.last = Some(lease.clone());
        lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_sets_holder_duration_time_and_one_node_owner() {
        let at = jiff::Timestamp::from_second(1_000).unwrap();
        let owner = node_owner("n1", "uid-1");
        let lease = with_renewal(new_lease("n1"), "n1", Some(&owner), at);
        let spec = lease.spec.as_ref().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("n1"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.renew_time.as_ref().unwrap().0, at);
        assert_eq!(lease.metadata.namespace.as_deref(), Some(NAMESPACE));
        // A re-registered Node (new uid) replaces the old owner instead of adding one.
        let later = jiff::Timestamp::from_second(1_010).unwrap();
        let lease = with_renewal(lease, "n1", Some(&node_owner("n1", "uid-2")), later);
        let owners = lease.metadata.owner_references.unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, "uid-2");
        assert_eq!(lease.spec.unwrap().renew_time.unwrap().0, later);
    }
}
