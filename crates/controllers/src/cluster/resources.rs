//! The API's resources, as discovery reports them: which kinds exist, at which
//! preferred version, namespaced or not, and with which verbs. Namespace
//! deletion and the garbage collector work on every resource this finds,
//! custom resources included.

use std::collections::HashMap;

use kube::Client;
use kube::discovery::{ApiResource, Discovery, Scope};

use super::Error;

/// One resource at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInfo {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl ResourceInfo {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// `plural.group` (`pods` for the core group), as upstream prints a group-resource.
    pub fn group_resource(&self) -> String {
        if self.resource.group.is_empty() {
            self.resource.plural.clone()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        }
    }
}

/// A snapshot of discovery.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    /// Every resource at its group's preferred version.
    preferred: Vec<ResourceInfo>,
    /// (group, version, kind) -> resource, every served version.
    by_gvk: HashMap<(String, String, String), ResourceInfo>,
    /// (group, kind) -> the preferred version's resource.
    by_gk: HashMap<(String, String), ResourceInfo>,
}

/// Splits an `apiVersion` into group and version.
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

impl Catalog {
    pub async fn discover(client: &Client) -> Result<Catalog, Error> {
        let discovery = Discovery::new(client.clone()).run().await.map_err(|e| Error::Discovery(e.to_string()))?;
        let mut catalog = Catalog::default();
        for group in discovery.groups() {
            let preferred = group.preferred_version_or_latest().to_string();
            for version in group.versions() {
                for (resource, caps) in group.versioned_resources(version) {
                    let info = ResourceInfo {
                        namespaced: caps.scope == Scope::Namespaced,
                        verbs: caps.operations.clone(),
                        resource,
                    };
                    let gvk = (info.resource.group.clone(), info.resource.version.clone(), info.resource.kind.clone());
                    catalog.by_gvk.insert(gvk, info.clone());
                    if version == preferred {
                        catalog.by_gk.insert((info.resource.group.clone(), info.resource.kind.clone()), info.clone());
                        catalog.preferred.push(info);
                    }
                }
            }
        }
        Ok(catalog)
    }

    /// Built from a list (tests).
    pub fn from_resources(resources: Vec<ResourceInfo>) -> Catalog {
        let mut catalog = Catalog::default();
        for info in resources {
            let r = &info.resource;
            catalog.by_gvk.insert((r.group.clone(), r.version.clone(), r.kind.clone()), info.clone());
            catalog.by_gk.entry((r.group.clone(), r.kind.clone())).or_insert_with(|| info.clone());
            catalog.preferred.push(info);
        }
        catalog
    }

    /// Every resource at its preferred version.
    pub fn preferred(&self) -> &[ResourceInfo] {
        &self.preferred
    }

    /// The resource an owner reference or object reference names: its exact
    /// version when served, else the group's preferred version of the kind.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<&ResourceInfo> {
        let (group, version) = split_api_version(api_version);
        self.by_gvk
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .or_else(|| self.by_gk.get(&(group.to_string(), kind.to_string())))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn info(api_version: &str, kind: &str, plural: &str, namespaced: bool) -> ResourceInfo {
        let (group, version) = split_api_version(api_version);
        ResourceInfo {
            resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: api_version.into(),
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced,
            verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
                .map(String::from)
                .to_vec(),
        }
    }

    #[test]
    fn lookup_by_exact_version_or_by_kind() {
        let c = Catalog::from_resources(vec![
            info("apps/v1", "ReplicaSet", "replicasets", true),
            info("v1", "Namespace", "namespaces", false),
        ]);
        assert_eq!(c.lookup("apps/v1", "ReplicaSet").unwrap().resource.plural, "replicasets");
        assert_eq!(c.lookup("apps/v1beta2", "ReplicaSet").unwrap().resource.version, "v1");
        assert!(c.lookup("v1", "ReplicaSet").is_none());
        assert_eq!(c.lookup("v1", "Namespace").unwrap().group_resource(), "namespaces");
        assert_eq!(c.lookup("apps/v1", "ReplicaSet").unwrap().group_resource(), "replicasets.apps");
    }
}
