//! Turns the desired endpoints of a Service and its existing slices into the
//! creates, updates and deletes that converge them, touching as few slices as
//! possible: endpoints stay in the slice that holds them, new ones go first into
//! slices that change anyway, and new slices are made only when those are full.
//! A Service without endpoints keeps one empty "placeholder" slice, as upstream.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::desired::{Desired, PortsKey, endpoint_key, ports_key};

pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// `--max-endpoints-per-slice`'s default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The labels every slice of `svc` carries: the Service's own (minus the
/// reserved ones), the headless marker, the Service name and the manager.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = svc
        .metadata
        .labels
        .iter()
        .flatten()
        .filter(|(k, _)| ![LABEL_SERVICE_NAME, LABEL_MANAGED_BY, HEADLESS_LABEL].contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None") {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels.insert(LABEL_SERVICE_NAME.into(), svc.metadata.name.clone().unwrap_or_default());
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    labels
}

fn owner(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.metadata.name.clone().unwrap_or_default(),
        uid: svc.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn new_slice(
    svc: &Service,
    address_type: &str,
    ports: Vec<k8s_openapi::api::discovery::v1::EndpointPort>,
) -> EndpointSlice {
    let name = svc.metadata.name.clone().unwrap_or_default();
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: svc.metadata.namespace.clone(),
            labels: Some(slice_labels(svc)),
            owner_references: Some(vec![owner(svc)]),
            ..Default::default()
        },
        address_type: address_type.to_string(),
        endpoints: Vec::new(),
        ports: Some(ports),
    }
}

/// One slice being planned: an existing one (with `changed` telling whether its
/// endpoints differ from what is stored) or a new one.
struct Slot {
    slice: EndpointSlice,
    key: PortsKey,
    existing: bool,
    changed: bool,
}

fn is_placeholder(slice: &EndpointSlice) -> bool {
    slice.endpoints.is_empty() && slice.ports.as_ref().is_none_or(Vec::is_empty)
}

fn metadata_current(slice: &EndpointSlice, svc: &Service) -> bool {
    slice.metadata.labels.as_ref() == Some(&slice_labels(svc))
        && slice.metadata.owner_references.as_ref().is_some_and(|o| o.contains(&owner(svc)))
}

fn with_current_metadata(mut slice: EndpointSlice, svc: &Service) -> EndpointSlice {
    slice.metadata.labels = Some(slice_labels(svc));
    let mut owners = slice.metadata.owner_references.take().unwrap_or_default();
    owners.retain(|o| o.uid != owner(svc).uid);
    owners.push(owner(svc));
    slice.metadata.owner_references = Some(owners);
    slice.metadata.managed_fields = None;
    slice
}

/// Plans the slices of `svc`; `existing` are the slices this controller manages for it.
pub fn plan(svc: &Service, existing: &[Arc<EndpointSlice>], desired: &Desired, max: usize) -> Plan {
    let max = max.max(1);
    let mut plan = Plan::default();
    for slice in existing {
        if !desired.contains_key(&slice.address_type) {
            plan.delete.push(slice.as_ref().clone());
        }
    }
    for (address_type, groups) in desired {
        let mut slots: Vec<Slot> = existing
            .iter()
            .filter(|s| &s.address_type == address_type)
            .map(|s| Slot {
                key: ports_key(s.ports.as_deref().unwrap_or_default()),
                slice: s.as_ref().clone(),
                existing: true,
                changed: false,
            })
            .collect();
        let mut keys: Vec<PortsKey> = groups.keys().cloned().collect();
        for s in &slots {
            if !keys.contains(&s.key) {
                keys.push(s.key.clone());
            }
        }
        for key in keys {
            let group = groups.get(&key);
            let order: Vec<String> = group.iter().flat_map(|g| g.endpoints.iter().map(endpoint_key)).collect();
            let mut wanted: HashMap<String, Endpoint> =
                group.iter().flat_map(|g| g.endpoints.iter().map(|e| (endpoint_key(e), e.clone()))).collect();
            // Keep endpoints where they are, updated or dropped.
            for slot in slots.iter_mut().filter(|s| s.key == key) {
                let mut kept = Vec::with_capacity(slot.slice.endpoints.len());
                for ep in std::mem::take(&mut slot.slice.endpoints) {
                    match wanted.remove(&endpoint_key(&ep)) {
                        Some(d) => {
                            slot.changed |= d != ep;
                            kept.push(d);
                        }
                        None => slot.changed = true,
                    }
                }
                slot.slice.endpoints = kept;
            }
            let mut remaining: Vec<Endpoint> = order.iter().filter_map(|k| wanted.remove(k)).collect();
            if remaining.is_empty() {
                continue;
            }
            // First into slices that change anyway, fullest first.
            let mut changing: Vec<usize> =
                (0..slots.len()).filter(|&i| slots[i].key == key && slots[i].changed).collect();
            changing.sort_by_key(|&i| std::cmp::Reverse(slots[i].slice.endpoints.len()));
            for i in changing {
                let room = max.saturating_sub(slots[i].slice.endpoints.len());
                let n = room.min(remaining.len());
                slots[i].slice.endpoints.extend(remaining.drain(..n));
            }
            // A remainder smaller than a slice goes into an unchanged slice with room
            // rather than into a new, small slice.
            let tail = remaining.len() % max;
            if tail > 0
                && let Some(i) = (0..slots.len()).find(|&i| {
                    slots[i].key == key && !slots[i].changed && max - slots[i].slice.endpoints.len().min(max) >= tail
                })
            {
                let start = remaining.len() - tail;
                slots[i].slice.endpoints.extend(remaining.drain(start..));
                slots[i].changed = true;
            }
            let ports = group.map(|g| g.ports.clone()).unwrap_or_default();
            while !remaining.is_empty() {
                let n = max.min(remaining.len());
                let mut slice = new_slice(svc, address_type, ports.clone());
                slice.endpoints = remaining.drain(..n).collect();
                slots.push(Slot { slice, key: key.clone(), existing: false, changed: true });
            }
        }
        let mut kept_any = false;
        let mut emptied = Vec::new();
        for slot in slots {
            match (slot.existing, slot.slice.endpoints.is_empty()) {
                (true, true) => emptied.push(slot.slice),
                (true, false) => {
                    kept_any = true;
                    if slot.changed || !metadata_current(&slot.slice, svc) {
                        plan.update.push(with_current_metadata(slot.slice, svc));
                    }
                }
                (false, _) => {
                    kept_any = true;
                    plan.create.push(slot.slice);
                }
            }
        }
        if !kept_any {
            // Nothing left: keep (or make) one placeholder slice.
            match emptied.iter().position(is_placeholder) {
                Some(i) => {
                    let keep = emptied.remove(i);
                    if !metadata_current(&keep, svc) {
                        plan.update.push(with_current_metadata(keep, svc));
                    }
                }
                None => plan.create.push(new_slice(svc, address_type, Vec::new())),
            }
        }
        plan.delete.extend(emptied);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::endpointslice::desired::desired;
    use crate::cluster::pods::tests::pod;
    use k8s_openapi::api::core::v1::{Pod, ServicePort, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn service() -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("svc-uid".into()),
                labels: Some([("team".to_string(), "a".to_string())].into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some([("app".to_string(), "web".to_string())].into()),
                cluster_ip: Some("10.43.0.10".into()),
                ip_families: Some(vec!["IPv4".into()]),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    target_port: Some(IntOrString::Int(8080)),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pods(n: usize, ready: bool) -> Vec<Arc<Pod>> {
        (0..n).map(|i| Arc::new(pod(&format!("p{i}"), &format!("10.42.{}.{}", i / 250, i % 250), ready, &[]))).collect()
    }

    /// Applies a plan to a set of slices the way the API would.
    fn apply(existing: &mut Vec<Arc<EndpointSlice>>, plan: Plan, next_name: &mut usize) {
        for d in plan.delete {
            existing.retain(|s| s.metadata.name != d.metadata.name);
        }
        for u in plan.update {
            let i = existing.iter().position(|s| s.metadata.name == u.metadata.name).unwrap();
            existing[i] = Arc::new(u);
        }
        for mut c in plan.create {
            *next_name += 1;
            c.metadata.name = Some(format!("web-{next_name}"));
            existing.push(Arc::new(c));
        }
    }

    fn total_endpoints(slices: &[Arc<EndpointSlice>]) -> usize {
        slices.iter().map(|s| s.endpoints.len()).sum()
    }

    #[test]
    fn new_service_gets_slices_of_at_most_max_endpoints() {
        let svc = service();
        let d = desired(&svc, &pods(250, true), |_| None);
        let p = plan(&svc, &[], &d, 100);
        assert_eq!(p.create.len(), 3);
        assert_eq!(p.create.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(), [100, 100, 50]);
        let s = &p.create[0];
        let labels = s.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_SERVICE_NAME], "web");
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
        assert_eq!(labels["team"], "a");
        assert_eq!(s.metadata.generate_name.as_deref(), Some("web-"));
        let o = &s.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (o.kind.as_str(), o.uid.as_str(), o.controller, o.block_owner_deletion),
            ("Service", "svc-uid", Some(true), Some(true))
        );
        assert_eq!(s.ports.as_ref().unwrap()[0].port, Some(8080));
    }

    #[test]
    fn converged_slices_need_nothing() {
        let svc = service();
        let d = desired(&svc, &pods(120, true), |_| None);
        let mut slices = Vec::new();
        let mut n = 0;
        apply(&mut slices, plan(&svc, &[], &d, 100), &mut n);
        assert!(plan(&svc, &slices, &d, 100).is_empty());
    }

    #[test]
    fn readiness_change_updates_only_the_slice_holding_the_pod() {
        let svc = service();
        let mut ps = pods(150, true);
        let mut slices = Vec::new();
        let mut n = 0;
        apply(&mut slices, plan(&svc, &[], &desired(&svc, &ps, |_| None), 100), &mut n);
        ps[3] = Arc::new(pod("p3", "10.42.0.3", false, &[]));
        let p = plan(&svc, &slices, &desired(&svc, &ps, |_| None), 100);
        assert!(p.create.is_empty() && p.delete.is_empty());
        assert_eq!(p.update.len(), 1);
        let ep = p.update[0].endpoints.iter().find(|e| e.addresses == ["10.42.0.3"]).unwrap();
        assert_eq!(ep.conditions.as_ref().unwrap().ready, Some(false));
    }

    #[test]
    fn new_endpoints_fill_changing_slices_before_new_ones() {
        let svc = service();
        let mut ps = pods(100, true);
        let mut slices = Vec::new();
        let mut n = 0;
        apply(&mut slices, plan(&svc, &[], &desired(&svc, &ps, |_| None), 100), &mut n);
        // One pod goes, one comes: the new one takes the freed place.
        ps.remove(0);
        ps.push(Arc::new(pod("new", "10.42.9.9", true, &[])));
        let p = plan(&svc, &slices, &desired(&svc, &ps, |_| None), 100);
        assert!(p.create.is_empty(), "{:?}", p.create.len());
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].endpoints.len(), 100);
    }

    #[test]
    fn small_remainder_goes_into_an_unchanged_slice_with_room() {
        let svc = service();
        let mut ps = pods(50, true);
        let mut slices = Vec::new();
        let mut n = 0;
        apply(&mut slices, plan(&svc, &[], &desired(&svc, &ps, |_| None), 100), &mut n);
        ps.push(Arc::new(pod("new", "10.42.9.9", true, &[])));
        let p = plan(&svc, &slices, &desired(&svc, &ps, |_| None), 100);
        assert!(p.create.is_empty());
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].endpoints.len(), 51);
    }

    #[test]
    fn no_endpoints_leaves_one_placeholder() {
        let svc = service();
        let p = plan(&svc, &[], &desired(&svc, &[], |_| None), 100);
        assert_eq!(p.create.len(), 1);
        assert!(p.create[0].endpoints.is_empty());
        assert_eq!(p.create[0].ports.as_deref(), Some(&[][..]));
        let mut slices = Vec::new();
        let mut n = 0;
        apply(&mut slices, p, &mut n);
        assert!(plan(&svc, &slices, &desired(&svc, &[], |_| None), 100).is_empty(), "placeholder is kept");
        // Pods appear: a real slice is made and the placeholder goes.
        let p = plan(&svc, &slices, &desired(&svc, &pods(2, true), |_| None), 100);
        assert_eq!((p.create.len(), p.delete.len()), (1, 1));
        apply(&mut slices, p, &mut n);
        // Pods go: the emptied slice has ports, so a fresh placeholder replaces it.
        let p = plan(&svc, &slices, &desired(&svc, &[], |_| None), 100);
        assert_eq!((p.create.len(), p.delete.len()), (1, 1));
        assert!(is_placeholder(&p.create[0]));
    }

    #[test]
    fn label_changes_on_the_service_reach_its_slices() {
        let mut svc = service();
        let d = desired(&svc, &pods(3, true), |_| None);
        let mut slices = Vec::new();
        let mut n = 0;
        apply(&mut slices, plan(&svc, &[], &d, 100), &mut n);
        svc.metadata.labels = Some([("team".to_string(), "b".to_string())].into());
        let p = plan(&svc, &slices, &d, 100);
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].metadata.labels.as_ref().unwrap()["team"], "b");
    }

    #[test]
    fn slices_of_a_dropped_address_type_are_deleted() {
        let svc = service();
        let mut v6 = new_slice(&svc, "IPv6", Vec::new());
        v6.metadata.name = Some("web-v6".into());
        let d = desired(&svc, &pods(1, true), |_| None);
        let p = plan(&svc, &[Arc::new(v6)], &d, 100);
        assert_eq!(p.delete.len(), 1);
        assert_eq!(p.create.len(), 1);
    }

    #[test]
    fn ports_change_moves_endpoints_to_a_new_slice() {
        let mut svc = service();
        let ps = pods(3, true);
        let mut slices = Vec::new();
        let mut n = 0;
        apply(&mut slices, plan(&svc, &[], &desired(&svc, &ps, |_| None), 100), &mut n);
        svc.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].target_port = Some(IntOrString::Int(9090));
        let p = plan(&svc, &slices, &desired(&svc, &ps, |_| None), 100);
        assert_eq!((p.create.len(), p.delete.len(), p.update.len()), (1, 1, 0));
        assert_eq!(p.create[0].ports.as_ref().unwrap()[0].port, Some(9090));
        apply(&mut slices, p, &mut n);
        assert_eq!(total_endpoints(&slices), 3);
    }
}
