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

// Non-core groups (apps, batch, autoscaling, networking, discovery, events,
// coordination, rbac, storage, policy, scheduling, node, apiextensions).
pub mod apiextensions;
pub mod apps;
pub mod authentication;
pub mod authorization;
pub mod autoscaling;
pub mod batch;
pub mod coordination;
pub mod discovery;
pub mod events;
pub mod networking;
pub mod node;
pub mod policy;
pub mod rbac;
pub mod scheduling;
pub mod storage;
mod support;

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
            storage_group: T::GROUP.to_string(),
            storage_version: T::VERSION.to_string(),
            schema_name: Some(T::schema_name().into_owned()),
            preferred: true,
            add_schema: Some(|generator| {
                generator.subschema_for::<T>();
            }),
            stored: true,
            plural,
            strategy: Arc::new(strategy),
        },
    }
}

/// Builds the `ResourceDef` of a create-only kind that is answered per request and never
/// stored (TokenReview, SubjectAccessReview and the other reviews).
pub fn review<T>(strategy: impl Strategy) -> DefBuilder
where
    T: Resource + JsonSchema,
    T::Scope: ScopeKind,
{
    let plural = T::URL_PATH_SEGMENT.to_string();
    DefBuilder {
        def: ResourceDef {
            group: T::GROUP.to_string(),
            version: T::VERSION.to_string(),
            kind: T::KIND.to_string(),
            list_kind: String::new(),
            singular: T::KIND.to_lowercase(),
            namespaced: <T::Scope as ScopeKind>::NAMESPACED,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: crate::resource::VERBS_CREATE_ONLY.to_vec(),
            subresources: Vec::new(),
            storage_group: T::GROUP.to_string(),
            storage_resource: plural.clone(),
            storage_version: T::VERSION.to_string(),
            schema_name: Some(T::schema_name().into_owned()),
            preferred: true,
            add_schema: Some(|generator| {
                generator.subschema_for::<T>();
            }),
            stored: false,
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

    /// Stored as another group's, resource's or version's objects (e.g. events.k8s.io
    /// events are core events).
    pub fn stored_as(mut self, group: &str, resource: &str, version: &str) -> Self {
        self.def.storage_group = group.to_string();
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
        apps::v1 as apps, authentication::v1 as authn, authorization::v1 as authz, autoscaling::v1 as as1,
        autoscaling::v2 as as2, batch::v1 as batch, coordination::v1 as coord, core::v1 as core, discovery::v1 as disc,
        events::v1 as ev, networking::v1 as net, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
        scheduling::v1 as sched, storage::v1 as storage,
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
        kind::<apps::Deployment>(self::apps::DeploymentStrategy).short(&["deploy"]).in_all().status().scale().build(),
        kind::<apps::ReplicaSet>(self::apps::ReplicaSetStrategy).short(&["rs"]).in_all().status().scale().build(),
        kind::<apps::DaemonSet>(self::apps::DaemonSetStrategy).short(&["ds"]).in_all().status().build(),
        kind::<apps::StatefulSet>(self::apps::StatefulSetStrategy).short(&["sts"]).in_all().status().scale().build(),
        kind::<apps::ControllerRevision>(self::apps::ControllerRevisionStrategy).build(),
        // batch/v1
        kind::<batch::Job>(self::batch::JobStrategy).in_all().status().build(),
        kind::<batch::CronJob>(self::batch::CronJobStrategy).short(&["cj"]).in_all().status().build(),
        // autoscaling: v2 is preferred and the storage version; v1 converts.
        kind::<as2::HorizontalPodAutoscaler>(self::autoscaling::HorizontalPodAutoscalerStrategy)
            .short(&["hpa"])
            .in_all()
            .status()
            .build(),
        kind::<as1::HorizontalPodAutoscaler>(self::autoscaling::HorizontalPodAutoscalerV1Strategy)
            .short(&["hpa"])
            .in_all()
            .status()
            .stored_as("autoscaling", "horizontalpodautoscalers", "v2")
            .not_preferred()
            .build(),
        // networking.k8s.io/v1
        kind::<net::Ingress>(self::networking::IngressStrategy).short(&["ing"]).status().build(),
        kind::<net::IngressClass>(self::networking::IngressClassStrategy).build(),
        kind::<net::NetworkPolicy>(self::networking::NetworkPolicyStrategy).short(&["netpol"]).build(),
        // discovery.k8s.io/v1
        kind::<disc::EndpointSlice>(self::discovery::EndpointSliceStrategy).build(),
        // events.k8s.io/v1 shares core events' storage.
        kind::<ev::Event>(self::events::EventStrategy).short(&["ev"]).stored_as("", "events", "v1").build(),
        // coordination.k8s.io/v1
        kind::<coord::Lease>(self::coordination::LeaseStrategy).build(),
        // rbac.authorization.k8s.io/v1
        kind::<rbac::ClusterRole>(self::rbac::ClusterRoleStrategy).build(),
        kind::<rbac::ClusterRoleBinding>(self::rbac::ClusterRoleBindingStrategy).build(),
        kind::<rbac::Role>(self::rbac::RoleStrategy).build(),
        kind::<rbac::RoleBinding>(self::rbac::RoleBindingStrategy).build(),
        // authentication.k8s.io/v1 and authorization.k8s.io/v1: reviews, never stored.
        review::<authn::TokenReview>(self::authentication::TokenReviewStrategy).build(),
        review::<authn::SelfSubjectReview>(self::authentication::SelfSubjectReviewStrategy).build(),
        review::<authz::SubjectAccessReview>(self::authorization::SubjectAccessReviewStrategy).build(),
        review::<authz::SelfSubjectAccessReview>(self::authorization::SelfSubjectAccessReviewStrategy).build(),
        review::<authz::LocalSubjectAccessReview>(self::authorization::LocalSubjectAccessReviewStrategy).build(),
        review::<authz::SelfSubjectRulesReview>(self::authorization::SelfSubjectRulesReviewStrategy).build(),
        // storage.k8s.io/v1
        kind::<storage::StorageClass>(self::storage::StorageClassStrategy).short(&["sc"]).build(),
        kind::<storage::CSIDriver>(self::storage::CSIDriverStrategy).build(),
        kind::<storage::CSINode>(self::storage::CSINodeStrategy).build(),
        // policy/v1
        kind::<policy::PodDisruptionBudget>(self::policy::PodDisruptionBudgetStrategy).short(&["pdb"]).status().build(),
        // scheduling.k8s.io/v1
        kind::<sched::PriorityClass>(self::scheduling::PriorityClassStrategy).short(&["pc"]).build(),
        // node.k8s.io/v1
        kind::<node::RuntimeClass>(self::node::RuntimeClassStrategy).build(),
        // apiextensions.k8s.io/v1
        kind::<apiext::CustomResourceDefinition>(self::apiextensions::CustomResourceDefinitionStrategy)
            .short(&["crd", "crds"])
            .status()
            .build(),
    ]
}
