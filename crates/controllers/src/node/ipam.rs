//! Node IPAM: every node gets a pod CIDR (`spec.podCIDR`, `spec.podCIDRs`) carved from
//! `--cluster-cidr` in blocks of `--node-cidr-mask-size` (/24 by default: 10.42.0.0/24,
//! 10.42.1.0/24, ...), the lowest free block first. A deleted node's block is free again.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::pin::pin;

use futures::StreamExt;
use k3rs_control_runtime::events::{EventRecorder, NewEvent};
use k3rs_control_runtime::watch::{Change, changes};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::writes::{is_not_found, node_ref};

/// Hands out fixed-size blocks of an IPv4 range.
#[derive(Debug, Clone)]
pub struct CidrAllocator {
    network: u32,
    prefix: u8,
    block_prefix: u8,
    used: BTreeSet<u32>,
}

impl CidrAllocator {
    pub fn new(network: Ipv4Addr, prefix: u8, block_prefix: u8) -> Result<Self, String> {
        if prefix > 32 {
            return Err(format!("cluster CIDR prefix /{prefix} is not an IPv4 prefix"));
        }
        if block_prefix < prefix || block_prefix > 30 {
            return Err(format!(
                "node CIDR mask size /{block_prefix} must be between the cluster CIDR's /{prefix} and /30"
            ));
        }
        if block_prefix - prefix > 16 {
            return Err(format!("/{block_prefix} blocks of a /{prefix} are too many (at most 65536)"));
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        Ok(CidrAllocator { network: u32::from(network) & mask, prefix, block_prefix, used: BTreeSet::new() })
    }

    /// How many blocks there are.
    pub fn capacity(&self) -> u32 {
        1 << (self.block_prefix - self.prefix)
    }

    fn block(&self, index: u32) -> String {
        let addr = self.network + (index << (32 - u32::from(self.block_prefix)));
        format!("{}/{}", Ipv4Addr::from(addr), self.block_prefix)
    }

    /// The block index of `cidr`, when it is one of ours.
    fn index_of(&self, cidr: &str) -> Option<u32> {
        let (addr, prefix) = cidr.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        if prefix.parse::<u8>().ok()? != self.block_prefix {
            return None;
        }
        let offset = u32::from(addr).checked_sub(self.network)?;
        let index = offset >> (32 - u32::from(self.block_prefix));
        (index < self.capacity() && offset & ((1 << (32 - u32::from(self.block_prefix))) - 1) == 0).then_some(index)
    }

    /// Marks a block as taken (a node that already has it); false when it is not ours.
    pub fn occupy(&mut self, cidr: &str) -> bool {
        match self.index_of(cidr) {
            Some(i) => {
                self.used.insert(i);
                true
            }
            None => false,
        }
    }

    pub fn allocate(&mut self) -> Option<String> {
        let index = (0..self.capacity()).find(|i| !self.used.contains(i))?;
        self.used.insert(index);
        Some(self.block(index))
    }

    pub fn release(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used.remove(&i);
        }
    }
}

fn pod_cidr(node: &Node) -> Option<String> {
    node.spec.as_ref().and_then(|s| s.pod_cidr.clone()).filter(|c| !c.is_empty())
}

struct Controller {
    nodes: Api<Node>,
    recorder: EventRecorder,
    alloc: CidrAllocator,
    /// Which block each node holds.
    held: HashMap<String, String>,
}

impl Controller {
    fn note(&mut self, node: &Node) -> bool {
        let name = node.name_any();
        match pod_cidr(node) {
            Some(cidr) => {
                if self.held.get(&name) != Some(&cidr) {
                    if let Some(old) = self.held.remove(&name) {
                        self.alloc.release(&old);
                    }
                    if self.alloc.occupy(&cidr) {
                        self.held.insert(name, cidr);
                    }
                }
                false
            }
            None => node.metadata.deletion_timestamp.is_none(),
        }
    }

    async fn assign(&mut self, node: &Node) {
        let name = node.name_any();
        if self.held.contains_key(&name) {
            return;
        }
        let Some(cidr) = self.alloc.allocate() else {
            warn!(node = %name, "no pod CIDR left in the cluster CIDR");
            self.recorder.record(NewEvent::normal(
                "CIDRNotAvailable",
                "CIDRAssignmentFailed",
                format!("Node {name} status is now: CIDRNotAvailable"),
                node_ref(&name),
            ));
            return;
        };
        let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
        match self.nodes.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => {
                info!(node = %name, %cidr, "assigned the pod CIDR");
                self.held.insert(name, cidr);
            }
            Err(e) => {
                self.alloc.release(&cidr);
                if !is_not_found(&e) {
                    warn!(node = %name, error = %e, "assigning the pod CIDR failed");
                }
            }
        }
    }

    async fn on_change(&mut self, change: Change<Node>) {
        match change {
            Change::Apply(node) => {
                if self.note(&node) {
                    self.assign(&node).await;
                }
            }
            Change::Delete(node) => {
                if let Some(cidr) = self.held.remove(&node.name_any()) {
                    self.alloc.release(&cidr);
                }
            }
            Change::Resync(list) => {
                let names: BTreeSet<String> = list.iter().map(|n| n.name_any()).collect();
                let gone: Vec<String> = self.held.keys().filter(|k| !names.contains(*k)).cloned().collect();
                for name in gone {
                    if let Some(cidr) = self.held.remove(&name) {
                        self.alloc.release(&cidr);
                    }
                }
                // Take in every existing assignment before handing out new blocks.
                let waiting: Vec<Node> = list.into_iter().filter(|n| self.note(n)).collect();
                for node in waiting {
                    self.assign(&node).await;
                }
            }
        }
    }
}

/// Runs node IPAM until the future is dropped.
pub async fn run(client: Client, alloc: CidrAllocator, recorder: EventRecorder) {
    let nodes: Api<Node> = Api::all(client);
    let mut node_changes = pin!(changes(nodes.clone(), watcher::Config::default(), "nodes"));
    let mut c = Controller { nodes, recorder, alloc, held: HashMap::new() };
    while let Some(change) = node_changes.next().await {
        c.on_change(change).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_in_order_and_reuse() {
        let mut a = CidrAllocator::new("10.42.0.0".parse().unwrap(), 16, 24).unwrap();
        assert_eq!(a.capacity(), 256);
        assert_eq!(a.allocate().as_deref(), Some("10.42.0.0/24"));
        assert!(a.occupy("10.42.1.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("10.42.2.0/24"));
        a.release("10.42.0.0/24");
        assert_eq!(a.allocate().as_deref(), Some("10.42.0.0/24"));
        assert!(!a.occupy("10.43.0.0/24"));
        assert!(!a.occupy("10.42.0.128/24"));
        assert!(!a.occupy("10.42.3.0/25"));
    }

    #[test]
    fn exhaustion_and_bad_sizes() {
        let mut a = CidrAllocator::new("192.168.0.0".parse().unwrap(), 23, 24).unwrap();
        assert_eq!(a.allocate().as_deref(), Some("192.168.0.0/24"));
        assert_eq!(a.allocate().as_deref(), Some("192.168.1.0/24"));
        assert_eq!(a.allocate(), None);
        assert!(CidrAllocator::new("10.42.0.0".parse().unwrap(), 16, 8).is_err());
        assert!(CidrAllocator::new("10.42.0.0".parse().unwrap(), 16, 31).is_err());
        assert!(CidrAllocator::new("10.0.0.0".parse().unwrap(), 8, 30).is_err());
    }
}
