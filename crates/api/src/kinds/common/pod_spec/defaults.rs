//! Upstream's v1 defaulting of pod specs (`SetDefaults_PodSpec`, `_Container`,
//! `_Probe`, `_Volume`, ...), shared by pods and every kind with a pod template.
//!
//! What only pods get (requests copied from limits, `enableServiceLinks`, host ports
//! under `hostNetwork`, priority) is in [`default_pod_only`].

use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, EphemeralContainer, HTTPGetAction, LifecycleHandler, ObjectFieldSelector,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::kinds::common::quantity;

pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
pub const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";
/// `0644`, the mode of files projected from ConfigMaps, Secrets and the downward API.
pub const DEFAULT_FILE_MODE: i32 = 0o644;
/// Priority of the built-in classes the priority admission step knows without lookups.
pub const SYSTEM_CLUSTER_CRITICAL_PRIORITY: i32 = 2_000_000_000;
pub const SYSTEM_NODE_CRITICAL_PRIORITY: i32 = 2_000_001_000;

fn unset(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(str::is_empty)
}

fn unset_num<T: Default + PartialEq>(n: &Option<T>) -> bool {
    n.as_ref().is_none_or(|v| *v == T::default())
}

/// Defaults a pod template: its spec as [`default_pod_spec`] does.
pub fn default_pod_template_spec(template: &mut PodTemplateSpec) {
    default_pod_spec(template.spec.get_or_insert_with(PodSpec::default));
}

/// Defaults the fields of a pod spec that pods and templates share.
pub fn default_pod_spec(spec: &mut PodSpec) {
    if unset(&spec.dns_policy) {
        spec.dns_policy = Some("ClusterFirst".into());
    }
    if unset(&spec.restart_policy) {
        spec.restart_policy = Some("Always".into());
    }
    if spec.security_context.is_none() {
        spec.security_context = Some(PodSecurityContext::default());
    }
    if spec.termination_grace_period_seconds.is_none() {
        spec.termination_grace_period_seconds = Some(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS);
    }
    if unset(&spec.scheduler_name) {
        spec.scheduler_name = Some(DEFAULT_SCHEDULER_NAME.into());
    }
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        default_container(c);
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        default_ephemeral_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
    canonicalize_resource_map(&mut spec.overhead);
}

/// Defaults only pods get, after [`default_pod_spec`]: requests copied from limits,
/// `enableServiceLinks`, host ports under `hostNetwork`, and the priority of pods
/// without a class or with a built-in one (the priority admission step's result).
pub fn default_pod_only(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
        if let Some(res) = c.resources.as_mut()
            && let Some(limits) = res.limits.clone()
        {
            let requests = res.requests.get_or_insert_with(Default::default);
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
        }
        if host_network {
            for p in c.ports.iter_mut().flatten() {
                if unset_num(&p.host_port) {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
    if spec.enable_service_links.is_none() {
        spec.enable_service_links = Some(true);
    }
    if spec.priority.is_none() {
        spec.priority = match spec.priority_class_name.as_deref().unwrap_or("") {
            "" => Some(0),
            "system-cluster-critical" => Some(SYSTEM_CLUSTER_CRITICAL_PRIORITY),
            "system-node-critical" => Some(SYSTEM_NODE_CRITICAL_PRIORITY),
            // A custom class needs a PriorityClass lookup, which the API server does.
            _ => None,
        };
    }
    if spec.preemption_policy.is_none() && spec.priority.is_some() {
        spec.preemption_policy = Some("PreemptLowerPriority".into());
    }
}

/// `SetDefaults_Container`: pull policy from the tag, termination message, ports, probes.
pub fn default_container(c: &mut Container) {
    if unset(&c.image_pull_policy) {
        c.image_pull_policy = Some(default_pull_policy(c.image.as_deref().unwrap_or("")).into());
    }
    if unset(&c.termination_message_path) {
        c.termination_message_path = Some(TERMINATION_MESSAGE_PATH.into());
    }
    if unset(&c.termination_message_policy) {
        c.termination_message_policy = Some("File".into());
    }
    // `resources` is a plain struct upstream, so it always serializes (as `{}` when empty).
    let resources = c.resources.get_or_insert_with(ResourceRequirements::default);
    canonicalize_resource_map(&mut resources.limits);
    canonicalize_resource_map(&mut resources.requests);
    for p in c.ports.iter_mut().flatten() {
        if unset(&p.protocol) {
            p.protocol = Some("TCP".into());
        }
    }
    for env in c.env.iter_mut().flatten() {
        if let Some(src) = env.value_from.as_mut() {
            if let Some(f) = src.field_ref.as_mut() {
                default_field_selector(f);
            }
            if let Some(r) = src.resource_field_ref.as_mut() {
                canonicalize_divisor(&mut r.divisor);
            }
        }
    }
    for probe in [&mut c.liveness_probe, &mut c.readiness_probe, &mut c.startup_probe].into_iter().flatten() {
        default_probe(probe);
    }
    if let Some(lc) = c.lifecycle.as_mut() {
        for h in [&mut lc.post_start, &mut lc.pre_stop].into_iter().flatten() {
            default_lifecycle_handler(h);
        }
    }
}

fn default_ephemeral_container(c: &mut EphemeralContainer) {
    if unset(&c.image_pull_policy) {
        c.image_pull_policy = Some(default_pull_policy(c.image.as_deref().unwrap_or("")).into());
    }
    if unset(&c.termination_message_path) {
        c.termination_message_path = Some(TERMINATION_MESSAGE_PATH.into());
    }
    if unset(&c.termination_message_policy) {
        c.termination_message_policy = Some("File".into());
    }
    c.resources.get_or_insert_with(ResourceRequirements::default);
    for p in c.ports.iter_mut().flatten() {
        if unset(&p.protocol) {
            p.protocol = Some("TCP".into());
        }
    }
}

/// `Always` when the image names no tag or the `latest` tag (and no digest), else `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    // A tag is what follows the last ':' after the last '/' (a ':' before it is a registry port).
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    let tag = last_segment.rsplit_once(':').map(|(_, t)| t);
    match (tag, digest) {
        (Some("latest"), _) => "Always",
        (None, None) => "Always",
        _ => "IfNotPresent",
    }
}

/// `SetDefaults_Probe` and its handler's defaults.
pub fn default_probe(p: &mut Probe) {
    if unset_num(&p.timeout_seconds) {
        p.timeout_seconds = Some(1);
    }
    if unset_num(&p.period_seconds) {
        p.period_seconds = Some(10);
    }
    if unset_num(&p.success_threshold) {
        p.success_threshold = Some(1);
    }
    if unset_num(&p.failure_threshold) {
        p.failure_threshold = Some(3);
    }
    if let Some(h) = p.http_get.as_mut() {
        default_http_get(h);
    }
    if let Some(g) = p.grpc.as_mut()
        && g.service.is_none()
    {
        g.service = Some(String::new());
    }
}

fn default_lifecycle_handler(h: &mut LifecycleHandler) {
    if let Some(g) = h.http_get.as_mut() {
        default_http_get(g);
    }
}

fn default_http_get(h: &mut HTTPGetAction) {
    if unset(&h.path) {
        h.path = Some("/".into());
    }
    if unset(&h.scheme) {
        h.scheme = Some("HTTP".into());
    }
}

fn default_field_selector(f: &mut ObjectFieldSelector) {
    if unset(&f.api_version) {
        f.api_version = Some("v1".into());
    }
}

/// `divisor` is a plain quantity upstream, serialized as `"0"` when unset.
fn canonicalize_divisor(d: &mut Option<Quantity>) {
    match d {
        Some(q) => canonicalize_quantity(q),
        None => *d = Some(Quantity("0".into())),
    }
}

/// `SetDefaults_Volume` and the sources' defaults: a volume without a source is an
/// `emptyDir`; projected files get mode 0644; hostPath's type is `""`.
pub fn default_volume(v: &mut Volume) {
    if volume_source_count(v) == 0 {
        v.empty_dir = Some(EmptyDirVolumeSource::default());
    }
    if let Some(s) = v.secret.as_mut()
        && s.default_mode.is_none()
    {
        s.default_mode = Some(DEFAULT_FILE_MODE);
    }
    if let Some(c) = v.config_map.as_mut()
        && c.default_mode.is_none()
    {
        c.default_mode = Some(DEFAULT_FILE_MODE);
    }
    if let Some(d) = v.downward_api.as_mut() {
        if d.default_mode.is_none() {
            d.default_mode = Some(DEFAULT_FILE_MODE);
        }
        for item in d.items.iter_mut().flatten() {
            if let Some(f) = item.field_ref.as_mut() {
                default_field_selector(f);
            }
            if let Some(r) = item.resource_field_ref.as_mut() {
                canonicalize_divisor(&mut r.divisor);
            }
        }
    }
    if let Some(p) = v.projected.as_mut() {
        if p.default_mode.is_none() {
            p.default_mode = Some(DEFAULT_FILE_MODE);
        }
        for src in p.sources.iter_mut().flatten() {
            if let Some(t) = src.service_account_token.as_mut()
                && t.expiration_seconds.is_none()
            {
                t.expiration_seconds = Some(3600);
            }
            if let Some(d) = src.downward_api.as_mut() {
                for item in d.items.iter_mut().flatten() {
                    if let Some(f) = item.field_ref.as_mut() {
                        default_field_selector(f);
                    }
                    if let Some(r) = item.resource_field_ref.as_mut() {
                        canonicalize_divisor(&mut r.divisor);
                    }
                }
            }
        }
    }
    if let Some(h) = v.host_path.as_mut()
        && h.type_.is_none()
    {
        h.type_ = Some(String::new());
    }
    if let Some(e) = v.empty_dir.as_mut()
        && let Some(limit) = e.size_limit.as_mut()
    {
        canonicalize_quantity(limit);
    }
}

/// How many volume sources a volume names (valid volumes name exactly one).
pub fn volume_source_count(v: &Volume) -> usize {
    volume_sources(v).len()
}

/// The JSON names of the sources a volume sets, in upstream's checking order.
pub fn volume_sources(v: &Volume) -> Vec<&'static str> {
    let present = [
        ("hostPath", v.host_path.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("secret", v.secret.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("rbd", v.rbd.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("fc", v.fc.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("configMap", v.config_map.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("storageos", v.storageos.is_some()),
        ("projected", v.projected.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
        ("emptyDir", v.empty_dir.is_some()),
    ];
    present.iter().filter(|(_, set)| *set).map(|(name, _)| *name).collect()
}

/// Rewrites a quantity to its canonical spelling; malformed ones stay for validation to report.
pub fn canonicalize_quantity(q: &mut Quantity) {
    if let Some(c) = quantity::canonicalize(&q.0) {
        q.0 = c;
    }
}

/// Canonicalizes every quantity of a resource map.
pub fn canonicalize_resource_map(map: &mut Option<std::collections::BTreeMap<String, Quantity>>) {
    for q in map.iter_mut().flat_map(|m| m.values_mut()) {
        canonicalize_quantity(q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn pull_policy_from_tag() {
        assert_eq!(default_pull_policy("nginx"), "Always");
        assert_eq!(default_pull_policy("nginx:latest"), "Always");
        assert_eq!(default_pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(default_pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/nginx:1"), "IfNotPresent");
        assert_eq!(default_pull_policy("nginx@sha256:abcd"), "IfNotPresent");
    }

    #[test]
    fn pod_spec_defaults() {
        let mut s = spec(json!({
            "containers": [{
                "name": "c", "image": "busybox:1.36",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "livenessProbe": {"httpGet": {"port": 8080}},
                "resources": {"limits": {"cpu": "1000m"}}
            }],
            "volumes": [{"name": "a"}, {"name": "s", "secret": {"secretName": "x"}}, {"name": "h", "hostPath": {"path": "/x"}}]
        }));
        default_pod_spec(&mut s);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["dnsPolicy"], "ClusterFirst");
        assert_eq!(v["restartPolicy"], "Always");
        assert_eq!(v["schedulerName"], "default-scheduler");
        assert_eq!(v["terminationGracePeriodSeconds"], 30);
        assert_eq!(v["securityContext"], json!({}));
        let c = &v["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(c["resources"]["limits"]["cpu"], "1");
        let p = &c["livenessProbe"];
        assert_eq!(
            (&p["timeoutSeconds"], &p["periodSeconds"], &p["successThreshold"], &p["failureThreshold"]),
            (&json!(1), &json!(10), &json!(1), &json!(3))
        );
        assert_eq!(p["httpGet"]["path"], "/");
        assert_eq!(p["httpGet"]["scheme"], "HTTP");
        assert_eq!(v["volumes"][0]["emptyDir"], json!({}));
        assert_eq!(v["volumes"][1]["secret"]["defaultMode"], 420);
        assert_eq!(v["volumes"][2]["hostPath"]["type"], "");
        // Pod-only defaults are not applied to templates.
        assert!(v.get("enableServiceLinks").is_none());
        assert!(c["resources"].get("requests").is_none());
    }

    #[test]
    fn pod_only_defaults() {
        let mut s = spec(json!({
            "hostNetwork": true,
            "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 53}],
                            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]
        }));
        default_pod_spec(&mut s);
        default_pod_only(&mut s);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["enableServiceLinks"], true);
        assert_eq!(v["priority"], 0);
        assert_eq!(v["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(v["containers"][0]["ports"][0]["hostPort"], 53);
        assert_eq!(v["containers"][0]["resources"]["requests"], json!({"cpu": "500m", "memory": "1Gi"}));

        let mut critical = spec(json!({"priorityClassName": "system-node-critical", "containers": []}));
        default_pod_only(&mut critical);
        assert_eq!(critical.priority, Some(SYSTEM_NODE_CRITICAL_PRIORITY));
        let mut custom = spec(json!({"priorityClassName": "high", "containers": []}));
        default_pod_only(&mut custom);
        assert_eq!(custom.priority, None);
    }
}
