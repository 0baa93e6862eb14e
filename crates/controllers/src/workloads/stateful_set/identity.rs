//! The stable identity of StatefulSet pods: names `<set>-<ordinal>`, the pod-name and
//! pod-index labels, hostname and subdomain, and one PersistentVolumeClaim per
//! volumeClaimTemplate named `<template>-<set>-<ordinal>`, mounted as the template's
//! volume.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::runtime::owner::controller_ref;
use crate::workloads::history::CONTROLLER_REVISION_HASH_LABEL;
use crate::workloads::pod_control::{PodName, pod_from_template};

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

pub fn set_name(set: &StatefulSet) -> &str {
    set.metadata.name.as_deref().unwrap_or_default()
}

pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.ordinals.start` (0 by default).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0)
}

pub fn pod_name(set: &StatefulSet, ordinal: i32) -> String {
    format!("{}-{ordinal}", set_name(set))
}

/// The parent name and ordinal of a pod named `<parent>-<ordinal>`.
pub fn parent_and_ordinal(pod: &Pod) -> Option<(&str, i32)> {
    let name = pod.metadata.name.as_deref()?;
    let (parent, ordinal) = name.rsplit_once('-')?;
    let ordinal: i32 = ordinal.parse().ok().filter(|o: &i32| *o >= 0)?;
    // Leading zeros or signs would not round-trip to the same name.
    (ordinal.to_string() == name[parent.len() + 1..]).then_some((parent, ordinal))
}

/// Whether the pod is one of this set's (by name).
pub fn is_member(set: &StatefulSet, pod: &Pod) -> bool {
    parent_and_ordinal(pod).is_some_and(|(parent, _)| parent == set_name(set))
}

pub fn ordinal(pod: &Pod) -> Option<i32> {
    parent_and_ordinal(pod).map(|(_, o)| o)
}

pub fn in_ordinal_range(set: &StatefulSet, pod: &Pod) -> bool {
    ordinal(pod).is_some_and(|o| o >= start_ordinal(set) && o < start_ordinal(set) + replicas(set))
}

/// The claims a pod of `set` with `ordinal` uses, keyed by volume (template) name.
pub fn claims(set: &StatefulSet, ordinal: i32) -> BTreeMap<String, PersistentVolumeClaim> {
    let selector_labels = set.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
    let mut out = BTreeMap::new();
    for template in set.spec.as_ref().and_then(|s| s.volume_claim_templates.clone()).unwrap_or_default() {
        let volume = template.metadata.name.clone().unwrap_or_default();
        let mut claim = template.clone();
        claim.metadata.name = Some(format!("{volume}-{}", pod_name(set, ordinal)));
        claim.metadata.namespace = set.metadata.namespace.clone();
        let labels = claim.metadata.labels.get_or_insert_with(BTreeMap::new);
        labels.extend(selector_labels.clone());
        claim.status = None;
        out.insert(volume, claim);
    }
    out
}

/// Points the pod's claim volumes at its claims, keeping its other volumes.
pub fn update_storage(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let claims = claims(set, ordinal);
    let Some(spec) = pod.spec.as_mut() else { return };
    let mut volumes: Vec<Volume> = claims
        .iter()
        .map(|(volume, claim)| Volume {
            name: volume.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone().unwrap_or_default(),
                read_only: Some(false),
            }),
            ..Default::default()
        })
        .collect();
    for v in spec.volumes.take().unwrap_or_default() {
        if !claims.contains_key(&v.name) {
            volumes.push(v);
        }
    }
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
}

/// Sets name, identity labels, hostname and subdomain.
pub fn update_identity(set: &StatefulSet, pod: &mut Pod, ordinal: i32) {
    let name = pod_name(set, ordinal);
    pod.metadata.name = Some(name.clone());
    pod.metadata.generate_name = None;
    pod.metadata.namespace = set.metadata.namespace.clone();
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    if let Some(spec) = pod.spec.as_mut() {
        spec.hostname = Some(name);
        spec.subdomain = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    }
}

/// A new pod of `set` (with `template`) at `ordinal`, labelled with `revision`.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let mut pod = pod_from_template(template, &ns, PodName::Fixed(pod_name(set, ordinal)), Some(controller_ref(set)));
    update_identity(set, &mut pod, ordinal);
    update_storage(set, &mut pod, ordinal);
    pod.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(CONTROLLER_REVISION_HASH_LABEL.into(), revision.into());
    pod
}

/// Whether the pod carries the identity it should.
pub fn identity_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some((parent, ordinal)) = parent_and_ordinal(pod) else { return false };
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let labels = pod.metadata.labels.as_ref();
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    let spec = pod.spec.as_ref();
    parent == set_name(set)
        && pod.metadata.namespace == set.metadata.namespace
        && label(POD_NAME_LABEL) == Some(name)
        && label(POD_INDEX_LABEL) == Some(ordinal.to_string().as_str())
        && spec.and_then(|s| s.hostname.as_deref()) == Some(name)
        && spec.and_then(|s| s.subdomain.clone())
            == set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty())
}

/// Whether every claim volume points at the pod's claim.
pub fn storage_matches(set: &StatefulSet, pod: &Pod) -> bool {
    let Some(ordinal) = ordinal(pod) else { return false };
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.clone()).unwrap_or_default();
    claims(set, ordinal).iter().all(|(volume, claim)| {
        volumes.iter().any(|v| {
            v.name == *volume
                && v.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()) == claim.metadata.name.as_deref()
        })
    })
}

/// The revision label of a pod.
pub fn pod_revision(pod: &Pod) -> &str {
    pod.metadata.labels.as_ref().and_then(|l| l.get(CONTROLLER_REVISION_HASH_LABEL)).map_or("", String::as_str)
}

/// An owner reference (not a controller one) to `meta`'s object.
pub fn plain_owner_ref(
    api_version: &str,
    kind: &str,
    meta: &ObjectMeta,
) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: None,
        block_owner_deletion: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> StatefulSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {
                "replicas": 3, "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {"metadata": {"labels": {"app": "nginx"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx"}],
                                      "volumes": [{"name": "cache", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www"},
                                          "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
            }
        }))
        .unwrap()
    }

    #[test]
    fn pods_get_stable_names_identity_and_storage() {
        let s = set();
        let template = s.spec.as_ref().unwrap().template.clone();
        let pod = new_pod(&s, &template, 2, "web-abc");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-2"));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels[POD_NAME_LABEL], "web-2");
        assert_eq!(labels[POD_INDEX_LABEL], "2");
        assert_eq!(labels[CONTROLLER_REVISION_HASH_LABEL], "web-abc");
        let spec = pod.spec.clone().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volumes = spec.volumes.unwrap();
        assert_eq!(volumes[0].persistent_volume_claim.as_ref().unwrap().claim_name, "www-web-2");
        assert_eq!(volumes[1].name, "cache");
        assert!(identity_matches(&s, &pod) && storage_matches(&s, &pod));
        let claim = &claims(&s, 2)["www"];
        assert_eq!(claim.metadata.name.as_deref(), Some("www-web-2"));
        assert_eq!(claim.metadata.labels.as_ref().unwrap()["app"], "nginx");
    }

    #[test]
    fn ordinals_parse_from_names() {
        let named =
            |n: &str| Pod { metadata: ObjectMeta { name: Some(n.into()), ..Default::default() }, ..Default::default() };
        assert_eq!(parent_and_ordinal(&named("web-12")), Some(("web", 12)));
        assert_eq!(parent_and_ordinal(&named("my-web-0")), Some(("my-web", 0)));
        assert_eq!(parent_and_ordinal(&named("web-01")), None);
        assert_eq!(parent_and_ordinal(&named("web")), None);
        assert!(is_member(&set(), &named("web-5")));
        assert!(!in_ordinal_range(&set(), &named("web-5")));
        assert!(in_ordinal_range(&set(), &named("web-0")));
    }
}
