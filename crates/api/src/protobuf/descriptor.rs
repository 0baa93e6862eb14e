//! The message table derived from k8s-pb at build time (see `build/k8s_pb.rs`),
//! and the lookups over it: message by name, and the message a Kubernetes
//! `(apiVersion, kind)` is encoded as.
//!
//! Names are `k8s.io.` + k8s-pb's module path + its Rust struct name. They equal
//! upstream's proto names except where prost renamed acronyms (`JSONSchemaProps`
//! is `JsonSchemaProps`, `NFSVolumeSource` is `NfsVolumeSource`), so lookups by
//! upstream spelling compare names case-insensitively.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::resource::split_api_version;

/// What a field holds on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
    Message(&'static str),
    /// `map<string, V>`: repeated entries `{1: key, 2: value}`.
    Map(MapValue),
}

/// The value kind of a `map<string, V>` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapValue {
    String,
    Bytes,
    Message(&'static str),
}

#[derive(Debug)]
pub struct FieldDesc {
    pub tag: u32,
    /// The Rust field name (snake_case, without `r#`).
    pub name: &'static str,
    pub kind: Kind,
    pub repeated: bool,
}

#[derive(Debug)]
pub struct MessageDesc {
    pub name: &'static str,
    /// Sorted by tag.
    pub fields: &'static [FieldDesc],
}

impl MessageDesc {
    #[cfg(test)]
    pub fn field(&self, tag: u32) -> Option<&'static FieldDesc> {
        self.fields.binary_search_by_key(&tag, |f| f.tag).ok().map(|i| &self.fields[i])
    }

    /// The last segment of the name (`Deployment`).
    #[cfg(test)]
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }
}

include!(concat!(env!("OUT_DIR"), "/k8s_pb_messages.rs"));

/// Every message, sorted by name.
pub fn messages() -> &'static [MessageDesc] {
    MESSAGES
}

pub fn message(name: &str) -> Option<&'static MessageDesc> {
    MESSAGES.binary_search_by(|m| m.name.cmp(name)).ok().map(|i| &MESSAGES[i])
}

/// Messages by lowercased name, for matching upstream spellings.
fn by_lowercase_name() -> &'static HashMap<String, &'static MessageDesc> {
    static INDEX: OnceLock<HashMap<String, &'static MessageDesc>> = OnceLock::new();
    INDEX.get_or_init(|| MESSAGES.iter().map(|m| (m.name.to_ascii_lowercase(), m)).collect())
}

/// The message named `package.kind`, ignoring the case of the kind.
fn in_package(package: &str, kind: &str) -> Option<&'static MessageDesc> {
    by_lowercase_name().get(&format!("{package}.{kind}").to_ascii_lowercase()).copied()
}

const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// Kinds every group-version serves from the meta API (upstream registers
/// them with each group-version, and `Status` under the core `v1`).
const META_KINDS: &[&str] = &[
    "Status",
    "DeleteOptions",
    "ListOptions",
    "GetOptions",
    "CreateOptions",
    "PatchOptions",
    "UpdateOptions",
    "WatchEvent",
    "APIVersions",
    "APIGroup",
    "APIGroupList",
    "APIResourceList",
];

/// The package (without version) that holds an API group's messages, for
/// groups k8s-pb marks resources in.
fn group_packages() -> &'static HashMap<&'static str, &'static str> {
    static INDEX: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut map = HashMap::new();
        for (api_version, _, message) in RESOURCES {
            let (group, _) = split_api_version(api_version);
            // `k8s.io.api.apps.v1.Deployment` -> `k8s.io.api.apps`.
            let package = message.rsplitn(3, '.').nth(2).unwrap_or_default();
            map.entry(group).or_insert(package);
        }
        map
    })
}

/// Candidate packages (without version) for an API group.
fn packages_for_group(group: &str) -> Vec<String> {
    if group == "meta.k8s.io" {
        return vec!["k8s.io.apimachinery.pkg.apis.meta".into()];
    }
    let mut out = Vec::new();
    if let Some(known) = group_packages().get(group) {
        out.push((*known).to_string());
    }
    if group.is_empty() {
        out.push("k8s.io.api.core".into());
        return out;
    }
    // `networking.k8s.io` -> `networking`; `custom.metrics.k8s.io` -> `custom_metrics`.
    let short = group.strip_suffix(".k8s.io").unwrap_or(group);
    let first = group.split('.').next().unwrap_or(group);
    out.push(format!("k8s.io.api.{first}"));
    out.push(format!("k8s.io.metrics.pkg.apis.{}", short.replace('.', "_")));
    out
}

/// The message a Kubernetes object of this `apiVersion` and `kind` is encoded as.
pub fn message_for_kind(api_version: &str, kind: &str) -> Option<&'static MessageDesc> {
    if kind.is_empty() || api_version.is_empty() {
        return None;
    }
    if let Some((_, _, name)) = RESOURCES.iter().find(|(v, k, _)| *v == api_version && *k == kind) {
        return message(name);
    }
    let (group, version) = split_api_version(api_version);
    let found = packages_for_group(group).iter().find_map(|package| in_package(&format!("{package}.{version}"), kind));
    found.or_else(|| META_KINDS.contains(&kind).then(|| in_package(META_V1, kind)).flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(api_version: &str, kind: &str) -> Option<&'static str> {
        message_for_kind(api_version, kind).map(|m| m.name)
    }

    #[test]
    fn kinds_map_to_messages() {
        assert_eq!(name("apps/v1", "Deployment"), Some("k8s.io.api.apps.v1.Deployment"));
        assert_eq!(name("apps/v1", "DeploymentList"), Some("k8s.io.api.apps.v1.DeploymentList"));
        assert_eq!(name("v1", "Pod"), Some("k8s.io.api.core.v1.Pod"));
        assert_eq!(name("v1", "PodList"), Some("k8s.io.api.core.v1.PodList"));
        assert_eq!(name("v1", "Status"), Some("k8s.io.apimachinery.pkg.apis.meta.v1.Status"));
        assert_eq!(name("apps/v1", "DeleteOptions"), Some("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions"));
        assert_eq!(name("autoscaling/v1", "Scale"), Some("k8s.io.api.autoscaling.v1.Scale"));
        assert_eq!(name("policy/v1", "Eviction"), Some("k8s.io.api.policy.v1.Eviction"));
        assert_eq!(
            name("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
            Some("k8s.io.api.authorization.v1.SelfSubjectAccessReview")
        );
        assert_eq!(name("networking.k8s.io/v1", "Ingress"), Some("k8s.io.api.networking.v1.Ingress"));
        assert_eq!(name("storage.k8s.io/v1", "CSIDriver"), Some("k8s.io.api.storage.v1.CSIDriver"));
        assert_eq!(name("v1", "ComponentStatus"), Some("k8s.io.api.core.v1.ComponentStatus"));
        assert_eq!(name("v1", "APIVersions"), Some("k8s.io.apimachinery.pkg.apis.meta.v1.APIVersions"));
        // The kind spelled differently from k8s-pb's struct: matched ignoring case.
        assert_eq!(name("storage.k8s.io/v1", "CsiDriver"), Some("k8s.io.api.storage.v1.CSIDriver"));
        assert_eq!(
            name("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
            Some("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
        );
        assert_eq!(
            name("meta.k8s.io/v1", "PartialObjectMetadata"),
            Some("k8s.io.apimachinery.pkg.apis.meta.v1.PartialObjectMetadata")
        );
        assert_eq!(
            name("metrics.k8s.io/v1beta1", "PodMetrics"),
            Some("k8s.io.metrics.pkg.apis.metrics.v1beta1.PodMetrics")
        );
        assert_eq!(name("meta.k8s.io/v1", "Table"), None);
        assert_eq!(name("v1", "Widget"), None);
        assert_eq!(name("", "Pod"), None);
    }

    #[test]
    fn table_has_fields_with_tags_and_kinds() {
        let deployment = message("k8s.io.api.apps.v1.DeploymentSpec").unwrap();
        let replicas = deployment.field(1).unwrap();
        assert_eq!((replicas.name, replicas.kind, replicas.repeated), ("replicas", Kind::Int32, false));
        let template = deployment.field(3).unwrap();
        assert_eq!(template.kind, Kind::Message("k8s.io.api.core.v1.PodTemplateSpec"));
        let meta = message("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap();
        let labels = meta.fields.iter().find(|f| f.name == "labels").unwrap();
        assert_eq!(labels.kind, Kind::Map(MapValue::String));
        let condition = message("k8s.io.api.apps.v1.DeploymentCondition").unwrap();
        assert!(condition.fields.iter().any(|f| f.name == "type"));
        let secret = message("k8s.io.api.core.v1.Secret").unwrap();
        assert!(secret.fields.iter().any(|f| f.name == "data" && f.kind == Kind::Map(MapValue::Bytes)));
        let containers = message("k8s.io.api.core.v1.PodSpec").unwrap().fields.iter().find(|f| f.name == "containers");
        assert!(containers.is_some_and(|f| f.repeated));
        assert!(messages().windows(2).all(|w| w[0].name < w[1].name));
    }
}
