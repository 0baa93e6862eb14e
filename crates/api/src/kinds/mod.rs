//! Every built-in kind k3rs serves, with its rules.
//!
//! `builtin()` lists them; each kind's strategy lives in the module of its group.
//! Kinds without special rules use [`Typed`], which only checks the object's shape.

pub mod common;
pub mod core;

use std::marker::PhantomData;
use std::sync::Arc;

use k8s_openapi::{ClusterResourceScope, ListableResource, NamespaceResourceScope, Resource};
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::resource::{ResourceDef, Subresource, VERBS_ALL};
use crate::strategy::{Strategy, normalize_as};

/// Whether a k8s-openapi scope marker is namespaced.
pub trait ScopeKind {
    const NAMESPACED: bool;
}
impl ScopeKind for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl ScopeKind for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// The strategy of kinds with no rules beyond their type's shape.
pub struct Typed<T> {
    has_status: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> Typed<T> {
    pub fn new() -> Self {
        Typed { has_status: false, _t: PhantomData }
    }

    pub fn with_status() -> Self {
        Typed { has_status: true, _t: PhantomData }
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: DeserializeOwned + Serialize + 'static> Strategy for Typed<T> {
    fn normalize(&self, obj: &mut serde_json::Value) -> Result<(), String> {
        normalize_as::<T>(obj)
    }

    fn has_status(&self) -> bool {
        self.has_status
    }
}

/// Builds the `ResourceDef` of a k8s-openapi type.
pub struct DefBuilder {
    def: ResourceDef,
}

pub fn kind<T>(strategy: impl Strategy) -> DefBuilder
where
    T: Resource + ListableResource + JsonSchema,
    T::Scope: ScopeKind,
{
    let plural = T::URL_PATH_SEGMENT.to_string();
    DefBuilder {
        def: ResourceDef {
            group: T::GROUP.to_string(),
            version: T::VERSION.to_string(),
            kind: T::KIND.to_string(),
            list_kind: T::LIST_KIND.to_string(),
            singular: T::KIND.to_lowercase(),
            namespaced: <T::Scope as ScopeKind>::NAMESPACED,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: VERBS_ALL.to_vec(),
            subresources: Vec::new(),
            storage_resource: plural.clone(),
            storage_version: T::VERSION.to_string(),
            schema_name: Some(T::schema_name().into_owned()),
            preferred: true,
            add_schema: Some(|generator| {
                generator.subschema_for::<T>();
            }),
            plural,
            strategy: Arc::new(strategy),
        },
    }
}

impl DefBuilder {
    pub fn short(mut self, names: &[&str]) -> Self {
        self.def.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Member of the `all` category (`kubectl get all`).
    pub fn in_all(mut self) -> Self {
        self.def.categories.push("all".to_string());
        self
    }

    pub fn status(mut self) -> Self {
        let (g, v, k) = (self.def.group.clone(), self.def.version.clone(), self.def.kind.clone());
        self.def.subresources.push(Subresource::new("status", &g, &v, &k, &["get", "patch", "update"]));
        self
    }

    pub fn scale(mut self) -> Self {
        self.def.subresources.push(Subresource::new(
            "scale",
            "autoscaling",
            "v1",
            "Scale",
            &["get", "patch", "update"],
        ));
        self
    }

    pub fn sub(mut self, name: &'static str, group: &str, version: &str, kind: &str, verbs: &[&'static str]) -> Self {
        self.def.subresources.push(Subresource::new(name, group, version, kind, verbs));
        self
    }

    /// Stored under another resource's key prefix and version (e.g. events.k8s.io events
    /// share core events' storage).
    pub fn stored_as(mut self, resource: &str, version: &str) -> Self {
        self.def.storage_resource = resource.to_string();
        self.def.storage_version = version.to_string();
        self
    }

    pub fn not_preferred(mut self) -> Self {
        self.def.preferred = false;
        self
    }

    pub fn verbs(mut self, verbs: &[&'static str]) -> Self {
        self.def.verbs = verbs.to_vec();
        self
    }

    pub fn build(self) -> ResourceDef {
        self.def
    }
}

/// Every built-in resource, in discovery order.
pub fn builtin() -> Vec<ResourceDef> {
    use self::core as cs;
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v1 as as1, autoscaling::v2 as as2, batch::v1 as batch,
        coordination::v1 as coord, core::v1 as core, discovery::v1 as disc, events::v1 as ev, networking::v1 as net,
        node::v1 as node, policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as sched, storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiext;

    let pod_subs = |b: DefBuilder| {
        b.status()
            .sub("binding", "", "v1", "Binding", &["create"])
            .sub("eviction", "policy", "v1", "Eviction", &["create"])
            .sub("log", "", "v1", "Pod", &["get"])
            .sub("exec", "", "v1", "PodExecOptions", &["create", "get"])
            .sub("attach", "", "v1", "PodAttachOptions", &["create", "get"])
            .sub("portforward", "", "v1", "PodPortForwardOptions", &["create", "get"])
            .sub("ephemeralcontainers", "", "v1", "Pod", &["get", "patch", "update"])
    };

    vec![
        // core/v1
        kind::<core::Namespace>(cs::NamespaceStrategy).short(&["ns"]).status().build(),
        pod_subs(kind::<core::Pod>(cs::PodStrategy).short(&["po"]).in_all()).build(),
        kind::<core::Service>(cs::ServiceStrategy).short(&["svc"]).in_all().status().build(),
        kind::<core::Endpoints>(cs::EndpointsStrategy).short(&["ep"]).build(),
        kind::<core::ConfigMap>(cs::ConfigMapStrategy).short(&["cm"]).build(),
        kind::<core::Secret>(cs::SecretStrategy).build(),
        kind::<core::ServiceAccount>(cs::ServiceAccountStrategy)
            .short(&["sa"])
            .sub("token", "authentication.k8s.io", "v1", "TokenRequest", &["create"])
            .build(),
        kind::<core::Node>(cs::NodeStrategy).short(&["no"]).status().build(),
        kind::<core::Event>(cs::EventStrategy).short(&["ev"]).build(),
        kind::<core::PersistentVolume>(cs::PersistentVolumeStrategy).short(&["pv"]).status().build(),
        kind::<core::PersistentVolumeClaim>(cs::PersistentVolumeClaimStrategy).short(&["pvc"]).status().build(),
        kind::<core::ResourceQuota>(cs::ResourceQuotaStrategy).short(&["quota"]).status().build(),
        kind::<core::LimitRange>(cs::LimitRangeStrategy).short(&["limits"]).build(),
        kind::<core::ReplicationController>(cs::ReplicationControllerStrategy)
            .short(&["rc"])
            .in_all()
            .status()
            .scale()
            .build(),
        kind::<core::PodTemplate>(cs::PodTemplateStrategy).build(),
        // apps/v1
        kind::<apps::Deployment>(Typed::<apps::Deployment>::with_status())
            .short(&["deploy"])
            .in_all()
            .status()
            .scale()
            .build(),
        kind::<apps::ReplicaSet>(Typed::<apps::ReplicaSet>::with_status())
            .short(&["rs"])
            .in_all()
            .status()
            .scale()
            .build(),
        kind::<apps::DaemonSet>(Typed::<apps::DaemonSet>::with_status()).short(&["ds"]).in_all().status().build(),
        kind::<apps::StatefulSet>(Typed::<apps::StatefulSet>::with_status())
            .short(&["sts"])
            .in_all()
            .status()
            .scale()
            .build(),
        kind::<apps::ControllerRevision>(Typed::<apps::ControllerRevision>::new()).build(),
        // batch/v1
        kind::<batch::Job>(Typed::<batch::Job>::with_status()).in_all().status().build(),
        kind::<batch::CronJob>(Typed::<batch::CronJob>::with_status()).short(&["cj"]).in_all().status().build(),
        // autoscaling: v2 is preferred and the storage version; v1 converts.
        kind::<as2::HorizontalPodAutoscaler>(Typed::<as2::HorizontalPodAutoscaler>::with_status())
            .short(&["hpa"])
            .in_all()
            .status()
            .build(),
        kind::<as1::HorizontalPodAutoscaler>(Typed::<as1::HorizontalPodAutoscaler>::with_status())
            .short(&["hpa"])
            .in_all()
            .status()
            .stored_as("horizontalpodautoscalers", "v2")
            .not_preferred()
            .build(),
        // networking.k8s.io/v1
        kind::<net::Ingress>(Typed::<net::Ingress>::with_status()).short(&["ing"]).status().build(),
        kind::<net::IngressClass>(Typed::<net::IngressClass>::new()).build(),
        kind::<net::NetworkPolicy>(Typed::<net::NetworkPolicy>::new()).short(&["netpol"]).build(),
        // discovery.k8s.io/v1
        kind::<disc::EndpointSlice>(Typed::<disc::EndpointSlice>::new()).build(),
        // events.k8s.io/v1 shares core events' storage.
        kind::<ev::Event>(Typed::<ev::Event>::new()).short(&["ev"]).stored_as("events", "v1").build(),
        // coordination.k8s.io/v1
        kind::<coord::Lease>(Typed::<coord::Lease>::new()).build(),
        // rbac.authorization.k8s.io/v1
        kind::<rbac::ClusterRole>(Typed::<rbac::ClusterRole>::new()).build(),
        kind::<rbac::ClusterRoleBinding>(Typed::<rbac::ClusterRoleBinding>::new()).build(),
        kind::<rbac::Role>(Typed::<rbac::Role>::new()).build(),
        kind::<rbac::RoleBinding>(Typed::<rbac::RoleBinding>::new()).build(),
        // storage.k8s.io/v1
        kind::<storage::StorageClass>(Typed::<storage::StorageClass>::new()).short(&["sc"]).build(),
        kind::<storage::CSIDriver>(Typed::<storage::CSIDriver>::new()).build(),
        kind::<storage::CSINode>(Typed::<storage::CSINode>::new()).build(),
        // policy/v1
        kind::<policy::PodDisruptionBudget>(Typed::<policy::PodDisruptionBudget>::with_status())
            .short(&["pdb"])
            .status()
            .build(),
        // scheduling.k8s.io/v1
        kind::<sched::PriorityClass>(Typed::<sched::PriorityClass>::new()).short(&["pc"]).build(),
        // node.k8s.io/v1
        kind::<node::RuntimeClass>(Typed::<node::RuntimeClass>::new()).build(),
        // apiextensions.k8s.io/v1
        kind::<apiext::CustomResourceDefinition>(Typed::<apiext::CustomResourceDefinition>::with_status())
            .short(&["crd", "crds"])
            .status()
            .build(),
    ]
}
