//! OpenAPI v3 schemas of every served kind, and a navigator over them.
//!
//! The catalog holds component schemas keyed by definition name
//! (`io.k8s.api.core.v1.PodSpec`), in the shape upstream publishes under
//! `/openapi/v3`: `$ref`s point at `#/components/schemas/<name>` (wrapped in
//! `allOf` when they carry a description), and fields carry the `x-kubernetes-*`
//! extensions that patching, field management and `kubectl` rely on.
//! Built-in schemas are generated from the k8s-openapi types ([`builtin`]);
//! custom resources bring their own (inline) schemas through the same navigator.

mod builtin;
mod extensions;
mod node;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

pub use builtin::generate;
pub use node::{ListType, SchemaNode};

pub const REF_PREFIX: &str = "#/components/schemas/";

/// Component schemas by definition name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    defs: BTreeMap<String, Value>,
}

impl Catalog {
    pub fn from_definitions(defs: BTreeMap<String, Value>) -> Self {
        Catalog { defs }
    }

    pub fn definitions(&self) -> &BTreeMap<String, Value> {
        &self.defs
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.defs.get(name)
    }

    /// The navigator at a named definition.
    pub fn root(&self, name: &str) -> Option<SchemaNode<'_>> {
        self.defs.get_key_value(name).map(|(k, schema)| SchemaNode::new(self, schema, Some(k.as_str())))
    }

    /// The navigator at an arbitrary schema (e.g. a custom resource's inline schema);
    /// `$ref`s inside it resolve against this catalog.
    pub fn node<'a>(&'a self, schema: &'a Value) -> SchemaNode<'a> {
        SchemaNode::new(self, schema, None).resolve()
    }

    /// The definition carrying `x-kubernetes-group-version-kind` for this kind.
    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.defs.iter().find_map(|(name, schema)| {
            let gvks = schema.get("x-kubernetes-group-version-kind")?.as_array()?;
            gvks.iter()
                .any(|g| g["group"] == group && g["version"] == version && g["kind"] == kind)
                .then_some(name.as_str())
        })
    }

    /// Every definition reachable from `roots` through `$ref`s.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = roots.into_iter().map(String::from).collect();
        while let Some(name) = stack.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(schema) = self.defs.get(&name) {
                collect_refs(schema, &mut stack);
            }
        }
        seen
    }
}

/// Pushes the definition names of every `$ref` inside `schema`.
pub fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    if let Some(name) = v.as_str().and_then(|r| r.strip_prefix(REF_PREFIX)) {
                        out.push(name.to_string());
                    }
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
