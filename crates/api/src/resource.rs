//! What the API serves: one `ResourceDef` per resource (a kind at a group/version),
//! carrying its names, scope, verbs, subresources, storage location and strategy.

use std::sync::Arc;

use crate::strategy::Strategy;

/// `group/version`, `version` alone for the core group.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

/// Splits an `apiVersion` into (group, version).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl GroupVersionKind {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        GroupVersionKind { group: group.into(), version: version.into(), kind: kind.into() }
    }

    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }
}

/// Verbs as discovery lists them.
pub const VERBS_ALL: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
pub const VERBS_NO_DELETECOLLECTION: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
pub const VERBS_CREATE_ONLY: &[&str] = &["create"];

/// A subresource of a resource (`pods/status`, `deployments/scale`, `pods/log`).
#[derive(Debug, Clone)]
pub struct Subresource {
    pub name: &'static str,
    /// The kind the subresource answers with, as (group, version, kind).
    pub response_kind: (String, String, String),
    pub verbs: Vec<&'static str>,
}

impl Subresource {
    pub fn new(name: &'static str, group: &str, version: &str, kind: &str, verbs: &[&'static str]) -> Self {
        Subresource { name, response_kind: (group.into(), version.into(), kind.into()), verbs: verbs.to_vec() }
    }
}

/// One served resource.
#[derive(Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    /// URL segment, plural and lower case: `deployments`.
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<&'static str>,
    pub subresources: Vec<Subresource>,
    /// Key prefix in the store: objects live at `/registry/<storage_resource>/<ns>/<name>`.
    pub storage_resource: String,
    /// The group whose kind objects are stored as (events.k8s.io events are core events).
    pub storage_group: String,
    /// The version objects are stored in; other versions convert through the strategy.
    pub storage_version: String,
    /// OpenAPI definition name of the kind (`io.k8s.api.apps.v1.Deployment`), if any.
    pub schema_name: Option<String>,
    /// Whether this version is listed first (preferred) in discovery for its group.
    pub preferred: bool,
    /// Adds the kind's schema (and what it references) to a generator; built-ins only.
    pub add_schema: Option<fn(&mut schemars::SchemaGenerator)>,
    /// Whether objects are kept in the store. Create-only "virtual" kinds (access and
    /// token reviews) are answered per request and never stored.
    pub stored: bool,
    pub strategy: Arc<dyn Strategy>,
}

impl std::fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceDef")
            .field("group", &self.group)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("plural", &self.plural)
            .field("namespaced", &self.namespaced)
            .finish()
    }
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        api_version(&self.group, &self.version)
    }

    /// Whether objects of this definition are stored as themselves; otherwise the strategy
    /// converts them (another version, group or resource owns the storage).
    pub fn stored_as_itself(&self) -> bool {
        self.version == self.storage_version && self.plural == self.storage_resource && self.group == self.storage_group
    }

    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::new(&self.group, &self.version, &self.kind)
    }

    /// `deployments.apps`, `pods`: how messages name this resource.
    pub fn qualified_plural(&self) -> String {
        crate::error::qualified(&self.plural, &self.group)
    }

    /// `Deployment.apps`, `Pod`: how validation messages name this kind.
    pub fn qualified_kind(&self) -> String {
        crate::error::qualified(&self.kind, &self.group)
    }

    pub fn has_subresource(&self, name: &str) -> bool {
        self.subresources.iter().any(|s| s.name == name)
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/{}", self.storage_resource, ns, name),
            _ => format!("/registry/{}/{}", self.storage_resource, name),
        }
    }

    /// The store prefix of a collection (all namespaces when `namespace` is `None`).
    pub fn prefix(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("/registry/{}/{}/", self.storage_resource, ns),
            _ => format!("/registry/{}/", self.storage_resource),
        }
    }
}
