//! The garbage collector's dependency graph: every watched object by uid, with
//! its owner references and the reverse edges (dependents). Owners referenced
//! but not (yet) observed are "virtual" nodes until a lookup settles whether
//! they exist. Applying an observed change returns the work it calls for.

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use crate::cluster::resources::split_api_version;

pub const ORPHAN_FINALIZER: &str = "orphan";
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// Where an object is: its coordinates and uid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Identity {
    pub fn group(&self) -> &str {
        split_api_version(&self.api_version).0
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {} ({})", self.kind, self.name, self.uid)
        } else {
            write!(f, "{} {}/{} ({})", self.kind, self.namespace, self.name, self.uid)
        }
    }
}

/// What a watch reported about an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    pub being_deleted: bool,
    pub finalizers: Vec<String>,
}

impl Observed {
    fn has(&self, finalizer: &str) -> bool {
        self.finalizers.iter().any(|f| f == finalizer)
    }
}

/// A change to apply to the graph.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphEvent {
    Upsert(Observed),
    Delete(Observed),
    /// A lookup showed that nothing exists at these coordinates.
    VirtualDelete(Identity),
}

/// Work the graph asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Check whether the object (by uid) should be deleted or has dangling owners.
    AttemptToDelete(String),
    /// Orphan the object's dependents, then drop its `orphan` finalizer.
    AttemptToOrphan(String),
    /// Remember that nothing exists at these coordinates.
    MarkAbsent(Identity),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub identity: Identity,
    pub owners: Vec<OwnerReference>,
    pub dependents: BTreeSet<String>,
    pub being_deleted: bool,
    /// Being deleted in the foreground: waits for its blocking dependents.
    pub deleting_dependents: bool,
    /// Being deleted with the `orphan` finalizer.
    pub orphaning: bool,
    /// Seen through a watch; `false` for owners known only from references.
    pub observed: bool,
}

/// What a worker needs to know about a node, copied out of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub identity: Identity,
    pub observed: bool,
    pub being_deleted: bool,
    pub deleting_dependents: bool,
    pub dependents: Vec<Identity>,
    /// Dependents whose reference to this node has `blockOwnerDeletion`, with
    /// whether each is itself deleting its dependents.
    pub blocking_dependents: Vec<(Identity, bool)>,
    /// Whether some dependent is deleting its own dependents (cycle guard).
    pub dependent_deleting_dependents: bool,
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// (group, kind) -> namespaced, from discovery.
    scopes: HashMap<(String, String), bool>,
}

fn same_coordinates(r: &OwnerReference, id: &Identity) -> bool {
    r.uid == id.uid && r.name == id.name && r.kind == id.kind && r.api_version == id.api_version
}

impl Graph {
    pub fn set_scopes(&mut self, scopes: HashMap<(String, String), bool>) {
        self.scopes = scopes;
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// The identity a dependent's reference gives its owner.
    fn owner_identity(&self, r: &OwnerReference, dependent_namespace: &str) -> Identity {
        let group = split_api_version(&r.api_version).0.to_string();
        let namespaced = self.scopes.get(&(group, r.kind.clone())).copied().unwrap_or(true);
        Identity {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: if namespaced { dependent_namespace.to_string() } else { String::new() },
            name: r.name.clone(),
            uid: r.uid.clone(),
        }
    }

    pub fn view(&self, uid: &str) -> Option<NodeView> {
        let n = self.nodes.get(uid)?;
        let mut view = NodeView {
            identity: n.identity.clone(),
            observed: n.observed,
            being_deleted: n.being_deleted,
            deleting_dependents: n.deleting_dependents,
            dependents: Vec::new(),
            blocking_dependents: Vec::new(),
            dependent_deleting_dependents: false,
        };
        for dep in n.dependents.iter().filter_map(|d| self.nodes.get(d)) {
            view.dependents.push(dep.identity.clone());
            view.dependent_deleting_dependents |= dep.deleting_dependents;
            let blocks = dep.owners.iter().any(|r| r.uid == n.identity.uid && r.block_owner_deletion == Some(true));
            if blocks {
                view.blocking_dependents.push((dep.identity.clone(), dep.deleting_dependents));
            }
        }
        Some(view)
    }

    pub fn apply(&mut self, event: GraphEvent) -> Vec<Action> {
        let mut actions = Vec::new();
        match event {
            GraphEvent::Upsert(obj) => self.upsert(obj, &mut actions),
            GraphEvent::Delete(obj) => self.remove(&obj.identity.uid, &mut actions),
            GraphEvent::VirtualDelete(id) => self.virtual_delete(id, &mut actions),
        }
        actions
    }

    fn add_dependent_to_owners(&mut self, dependent: &Identity, owners: &[OwnerReference], actions: &mut Vec<Action>) {
        for r in owners {
            let owner_id = self.owner_identity(r, &dependent.namespace);
            let owner = self.nodes.entry(r.uid.clone()).or_insert_with(|| {
                // Unknown owner: a virtual node, verified by a lookup.
                actions.push(Action::AttemptToDelete(r.uid.clone()));
                Node {
                    identity: owner_id,
                    owners: Vec::new(),
                    dependents: BTreeSet::new(),
                    being_deleted: false,
                    deleting_dependents: false,
                    orphaning: false,
                    observed: false,
                }
            });
            owner.dependents.insert(dependent.uid.clone());
        }
    }

    fn remove_dependent_from_owners(
        &mut self,
        dependent_uid: &str,
        owners: &[OwnerReference],
        actions: &mut Vec<Action>,
    ) {
        for r in owners {
            if let Some(owner) = self.nodes.get_mut(&r.uid) {
                owner.dependents.remove(dependent_uid);
                // A foreground deletion may have been waiting for this one.
                if owner.deleting_dependents {
                    actions.push(Action::AttemptToDelete(r.uid.clone()));
                }
            }
        }
    }

    fn upsert(&mut self, obj: Observed, actions: &mut Vec<Action>) {
        let uid = obj.identity.uid.clone();
        let orphaning = obj.being_deleted && obj.has(ORPHAN_FINALIZER);
        let foreground = obj.being_deleted && obj.has(FOREGROUND_FINALIZER);
        let Some(existing) = self.nodes.get(&uid) else {
            self.nodes.insert(
                uid.clone(),
                Node {
                    identity: obj.identity.clone(),
                    owners: obj.owners.clone(),
                    dependents: BTreeSet::new(),
                    being_deleted: obj.being_deleted,
                    deleting_dependents: foreground,
                    orphaning,
                    observed: true,
                },
            );
            self.add_dependent_to_owners(&obj.identity, &obj.owners, actions);
            if orphaning {
                actions.push(Action::AttemptToOrphan(uid.clone()));
            }
            if foreground {
                actions.push(Action::AttemptToDelete(uid.clone()));
            }
            // Created while an owner deletes its dependents in the foreground.
            if obj.owners.iter().any(|r| self.nodes.get(&r.uid).is_some_and(|o| o.deleting_dependents)) {
                actions.push(Action::AttemptToDelete(uid));
            }
            return;
        };
        if !existing.observed && existing.identity != obj.identity {
            // Dependents referenced it by other coordinates: let them check theirs.
            actions.extend(existing.dependents.iter().map(|d| Action::AttemptToDelete(d.clone())));
        }
        let (old_owners, was_orphaning, was_deleting_dependents) =
            (existing.owners.clone(), existing.orphaning, existing.deleting_dependents);
        let removed: Vec<OwnerReference> =
            old_owners.iter().filter(|o| !obj.owners.iter().any(|n| n.uid == o.uid)).cloned().collect();
        let added: Vec<OwnerReference> =
            obj.owners.iter().filter(|n| !old_owners.iter().any(|o| o.uid == n.uid)).cloned().collect();
        let changed: Vec<String> = obj
            .owners
            .iter()
            .filter(|n| old_owners.iter().any(|o| o.uid == n.uid && o != *n))
            .map(|n| n.uid.clone())
            .collect();
        self.remove_dependent_from_owners(&uid, &removed, actions);
        self.add_dependent_to_owners(&obj.identity, &added, actions);
        for owner_uid in changed {
            if self.nodes.get(&owner_uid).is_some_and(|o| o.deleting_dependents) {
                actions.push(Action::AttemptToDelete(owner_uid));
            }
        }
        let starts_orphaning = orphaning && !was_orphaning;
        let starts_foreground = foreground && !was_deleting_dependents;
        let node = self.nodes.get_mut(&uid).expect("present");
        node.identity = obj.identity;
        node.owners = obj.owners;
        node.observed = true;
        node.being_deleted = obj.being_deleted;
        node.orphaning = orphaning;
        node.deleting_dependents = foreground;
        if starts_orphaning {
            actions.push(Action::AttemptToOrphan(uid.clone()));
        }
        if starts_foreground {
            actions.extend(node.dependents.iter().map(|d| Action::AttemptToDelete(d.clone())));
            actions.push(Action::AttemptToDelete(uid));
        }
    }

    fn remove(&mut self, uid: &str, actions: &mut Vec<Action>) {
        let Some(node) = self.nodes.remove(uid) else { return };
        self.remove_dependent_from_owners(uid, &node.owners, actions);
        if !node.dependents.is_empty() {
            actions.push(Action::MarkAbsent(node.identity.clone()));
        }
        // Its dependents may have lost their last owner.
        actions.extend(node.dependents.iter().map(|d| Action::AttemptToDelete(d.clone())));
    }

    /// Dependents of `node` whose reference to it matches `id`'s coordinates, and the others.
    fn partition_dependents(&self, node: &Node, id: &Identity) -> (Vec<String>, Vec<String>) {
        node.dependents.iter().cloned().partition(|d| {
            self.nodes.get(d).is_some_and(|dep| {
                dep.owners.iter().any(|r| r.uid == id.uid && self.owner_identity(r, &dep.identity.namespace) == *id)
            })
        })
    }

    fn virtual_delete(&mut self, id: Identity, actions: &mut Vec<Action>) {
        let Some(node) = self.nodes.get(&id.uid).cloned() else { return };
        let (matching, other) = self.partition_dependents(&node, &id);
        if node.observed {
            if node.identity == id {
                self.remove(&id.uid, actions);
            } else if !matching.is_empty() {
                // The real object lives elsewhere: only the references to `id` dangle.
                actions.push(Action::MarkAbsent(id));
                actions.extend(matching.into_iter().map(Action::AttemptToDelete));
            }
            return;
        }
        if other.is_empty() {
            self.remove(&id.uid, actions);
            return;
        }
        if !matching.is_empty() {
            actions.push(Action::MarkAbsent(id.clone()));
            actions.extend(matching.into_iter().map(Action::AttemptToDelete));
        }
        if node.identity == id {
            // Look the owner up again by the coordinates another dependent gives it.
            let replacement = other.iter().find_map(|d| {
                let dep = self.nodes.get(d)?;
                let r = dep.owners.iter().find(|r| r.uid == id.uid && !same_coordinates(r, &id))?;
                Some(self.owner_identity(r, &dep.identity.namespace))
            });
            if let Some(replacement) = replacement
                && let Some(n) = self.nodes.get_mut(&id.uid)
            {
                n.identity = replacement;
                actions.push(Action::AttemptToDelete(id.uid.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, name: &str, uid: &str) -> Identity {
        let api_version = if kind == "Pod" { "v1" } else { "apps/v1" };
        Identity {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: "default".into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    fn owner_ref(owner: &Identity, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: owner.api_version.clone(),
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            uid: owner.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn obs(identity: &Identity, owners: Vec<OwnerReference>) -> Observed {
        Observed { identity: identity.clone(), owners, being_deleted: false, finalizers: vec![] }
    }

    fn deleting(identity: &Identity, owners: Vec<OwnerReference>, finalizer: &str) -> Observed {
        Observed { identity: identity.clone(), owners, being_deleted: true, finalizers: vec![finalizer.to_string()] }
    }

    fn attempt(uid: &str) -> Action {
        Action::AttemptToDelete(uid.into())
    }

    #[test]
    fn dependents_link_to_owners_and_unknown_owners_are_verified() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "web", "rs1");
        let pod = id("Pod", "web-1", "p1");
        // The pod is seen before its owner: a virtual owner is created and checked.
        assert_eq!(g.apply(GraphEvent::Upsert(obs(&pod, vec![owner_ref(&rs, true)]))), vec![attempt("rs1")]);
        assert!(!g.node("rs1").unwrap().observed);
        assert_eq!(g.node("rs1").unwrap().identity, rs);
        assert!(g.apply(GraphEvent::Upsert(obs(&rs, vec![]))).is_empty());
        let view = g.view("rs1").unwrap();
        assert!(view.observed);
        assert_eq!(view.dependents, vec![pod.clone()]);
        assert_eq!(view.blocking_dependents, vec![(pod, false)]);
    }

    #[test]
    fn deleting_an_owner_checks_its_dependents() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "web", "rs1");
        let p1 = id("Pod", "web-1", "p1");
        let p2 = id("Pod", "web-2", "p2");
        g.apply(GraphEvent::Upsert(obs(&rs, vec![])));
        g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&rs, true)])));
        g.apply(GraphEvent::Upsert(obs(&p2, vec![owner_ref(&rs, true)])));
        let actions = g.apply(GraphEvent::Delete(obs(&rs, vec![])));
        assert_eq!(actions, vec![Action::MarkAbsent(rs.clone()), attempt("p1"), attempt("p2")]);
        assert!(g.node("rs1").is_none());
    }

    #[test]
    fn foreground_deletion_attempts_every_dependent_and_the_owner() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "web", "rs1");
        let p1 = id("Pod", "web-1", "p1");
        g.apply(GraphEvent::Upsert(obs(&rs, vec![])));
        g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&rs, true)])));
        let actions = g.apply(GraphEvent::Upsert(deleting(&rs, vec![], FOREGROUND_FINALIZER)));
        assert_eq!(actions, vec![attempt("p1"), attempt("rs1")]);
        assert!(g.view("rs1").unwrap().deleting_dependents);
        // The same state again is no transition.
        assert!(g.apply(GraphEvent::Upsert(deleting(&rs, vec![], FOREGROUND_FINALIZER))).is_empty());
        // The dependent going away lets the owner be checked again.
        let actions = g.apply(GraphEvent::Delete(obs(&p1, vec![owner_ref(&rs, true)])));
        assert_eq!(actions, vec![attempt("rs1")]);
        assert!(g.view("rs1").unwrap().blocking_dependents.is_empty());
    }

    #[test]
    fn orphan_finalizer_starts_orphaning_once() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "web", "rs1");
        g.apply(GraphEvent::Upsert(obs(&rs, vec![])));
        let actions = g.apply(GraphEvent::Upsert(deleting(&rs, vec![], ORPHAN_FINALIZER)));
        assert_eq!(actions, vec![Action::AttemptToOrphan("rs1".into())]);
        assert!(g.apply(GraphEvent::Upsert(deleting(&rs, vec![], ORPHAN_FINALIZER))).is_empty());
    }

    #[test]
    fn dropping_an_owner_reference_unlinks_and_rechecks_a_waiting_owner() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "web", "rs1");
        let p1 = id("Pod", "web-1", "p1");
        g.apply(GraphEvent::Upsert(obs(&rs, vec![])));
        g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&rs, true)])));
        g.apply(GraphEvent::Upsert(deleting(&rs, vec![], FOREGROUND_FINALIZER)));
        let actions = g.apply(GraphEvent::Upsert(obs(&p1, vec![])));
        assert_eq!(actions, vec![attempt("rs1")]);
        assert!(g.view("rs1").unwrap().dependents.is_empty());
    }

    #[test]
    fn blocking_flag_changes_recheck_a_waiting_owner() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "web", "rs1");
        let p1 = id("Pod", "web-1", "p1");
        g.apply(GraphEvent::Upsert(obs(&rs, vec![])));
        g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&rs, true)])));
        g.apply(GraphEvent::Upsert(deleting(&rs, vec![], FOREGROUND_FINALIZER)));
        assert_eq!(g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&rs, false)]))), vec![attempt("rs1")]);
        assert!(g.view("rs1").unwrap().blocking_dependents.is_empty());
    }

    #[test]
    fn a_virtual_owner_found_absent_is_removed_and_its_dependents_checked() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "gone", "rs1");
        let p1 = id("Pod", "web-1", "p1");
        g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&rs, false)])));
        let actions = g.apply(GraphEvent::VirtualDelete(rs.clone()));
        assert_eq!(actions, vec![Action::MarkAbsent(rs), attempt("p1")]);
        assert!(g.node("rs1").is_none());
    }

    #[test]
    fn dependents_disagreeing_on_a_virtual_owner_keep_it_with_other_coordinates() {
        let mut g = Graph::default();
        let wrong = id("ReplicaSet", "wrong-name", "rs1");
        let right = id("ReplicaSet", "web", "rs1");
        let p1 = id("Pod", "web-1", "p1");
        let p2 = id("Pod", "web-2", "p2");
        g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&wrong, false)])));
        g.apply(GraphEvent::Upsert(obs(&p2, vec![owner_ref(&right, false)])));
        let actions = g.apply(GraphEvent::VirtualDelete(wrong.clone()));
        assert_eq!(actions, vec![Action::MarkAbsent(wrong), attempt("p1"), attempt("rs1")]);
        assert_eq!(g.node("rs1").unwrap().identity, right);
    }

    #[test]
    fn cluster_scoped_owners_have_no_namespace() {
        let mut g = Graph::default();
        g.set_scopes([(("".to_string(), "Node".to_string()), false)].into());
        let node = Identity {
            api_version: "v1".into(),
            kind: "Node".into(),
            namespace: String::new(),
            name: "n1".into(),
            uid: "n1".into(),
        };
        let p1 = id("Pod", "web-1", "p1");
        g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&node, false)])));
        assert_eq!(g.node("n1").unwrap().identity, node);
    }

    #[test]
    fn an_object_created_under_a_foreground_deleting_owner_is_checked() {
        let mut g = Graph::default();
        let rs = id("ReplicaSet", "web", "rs1");
        g.apply(GraphEvent::Upsert(deleting(&rs, vec![], FOREGROUND_FINALIZER)));
        let p1 = id("Pod", "web-1", "p1");
        assert_eq!(g.apply(GraphEvent::Upsert(obs(&p1, vec![owner_ref(&rs, true)]))), vec![attempt("p1")]);
    }
}
