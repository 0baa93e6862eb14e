//! The set of resources the server answers for: the built-ins plus the
//! custom resources of established CRDs, with lookups by URL and by kind, and
//! the schema catalog covering them. Rebuilt (and swapped) when CRDs change.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k3rs_api::ResourceDef;
use k3rs_api::schema::Catalog;
use serde_json::Value;

pub struct Registry {
    defs: Vec<Arc<ResourceDef>>,
    by_path: HashMap<(String, String, String), Arc<ResourceDef>>,
    catalog: Arc<Catalog>,
    /// Established CRDs (JSON), by name.
    crds: BTreeMap<String, Value>,
}

/// A group and its versions, preferred first.
#[derive(Debug, Clone)]
pub struct GroupVersions {
    pub group: String,
    pub versions: Vec<String>,
}

impl Registry {
    pub fn new(defs: Vec<ResourceDef>, catalog: Arc<Catalog>, crds: BTreeMap<String, Value>) -> Self {
        let defs: Vec<Arc<ResourceDef>> = defs.into_iter().map(Arc::new).collect();
        let by_path =
            defs.iter().map(|d| ((d.group.clone(), d.version.clone(), d.plural.clone()), d.clone())).collect();
        Registry { defs, by_path, catalog, crds }
    }

    pub fn lookup(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceDef>> {
        self.by_path.get(&(group.to_string(), version.to_string(), resource.to_string())).cloned()
    }

    /// The definition objects of `def` are stored as (itself, unless another version
    /// or group owns the storage, e.g. autoscaling/v1 -> v2, events.k8s.io -> core).
    pub fn storage_def(&self, def: &Arc<ResourceDef>) -> Arc<ResourceDef> {
        if def.stored_as_itself() {
            return def.clone();
        }
        let stores = |d: &&Arc<ResourceDef>| {
            d.plural == def.storage_resource && d.version == def.storage_version && d.group == def.storage_group
        };
        self.defs
            .iter()
            .find(|d| stores(d) && d.kind == def.kind)
            .or_else(|| self.defs.iter().find(stores))
            .cloned()
            .unwrap_or_else(|| def.clone())
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn crds(&self) -> &BTreeMap<String, Value> {
        &self.crds
    }

    /// Every group with its versions, in discovery order (core first, then as registered;
    /// the preferred version of a group first).
    pub fn groups(&self) -> Vec<GroupVersions> {
        let mut out: Vec<GroupVersions> = Vec::new();
        for d in &self.defs {
            let entry = match out.iter_mut().position(|g| g.group == d.group) {
                Some(i) => &mut out[i],
                None => {
                    out.push(GroupVersions { group: d.group.clone(), versions: Vec::new() });
                    out.last_mut().expect("just pushed")
                }
            };
            if !entry.versions.contains(&d.version) {
                if d.preferred {
                    // Preferred versions go before the versions seen so far that are not preferred.
                    let pos = entry
                        .versions
                        .iter()
                        .position(|v| !self.defs.iter().any(|o| o.group == d.group && &o.version == v && o.preferred))
                        .unwrap_or(entry.versions.len());
                    entry.versions.insert(pos, d.version.clone());
                } else {
                    entry.versions.push(d.version.clone());
                }
            }
        }
        out
    }

    pub fn resources_of(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        self.defs.iter().filter(|d| d.group == group && d.version == version).cloned().collect()
    }
}
