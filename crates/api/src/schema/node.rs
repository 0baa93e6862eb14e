//! A read-only cursor into a schema: follows `$ref`s and `allOf` wrappers and
//! answers the questions patching and field management ask (what kind of list
//! is this, which keys identify its items, is this a map).

use serde_json::Value;

use super::{Catalog, REF_PREFIX};

/// How a list's items are identified (`x-kubernetes-list-type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole.
    Atomic,
    /// Scalars, unique, merged as a set.
    Set,
    /// Objects identified by the values of these keys.
    Map(Vec<String>),
}

#[derive(Clone, Copy)]
pub struct SchemaNode<'a> {
    catalog: &'a Catalog,
    /// The schema as written at this position (may carry field-level extensions
    /// next to an `allOf`/`$ref`).
    outer: &'a Value,
    /// The schema after following references.
    inner: &'a Value,
    def_name: Option<&'a str>,
}

impl std::fmt::Debug for SchemaNode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaNode").field("def", &self.def_name).field("type", &self.ty()).finish()
    }
}

fn ref_target(schema: &Value) -> Option<&str> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        return r.strip_prefix(REF_PREFIX);
    }
    let all_of = schema.get("allOf")?.as_array()?;
    if all_of.len() == 1 { ref_target(&all_of[0]) } else { None }
}

impl<'a> SchemaNode<'a> {
    pub(super) fn new(catalog: &'a Catalog, schema: &'a Value, def_name: Option<&'a str>) -> Self {
        SchemaNode { catalog, outer: schema, inner: schema, def_name }
    }

    /// Follows `$ref` / single-`allOf` indirections, keeping field-level extensions reachable.
    pub fn resolve(mut self) -> Self {
        let mut guard = 0;
        while let Some(target) = ref_target(self.inner) {
            let Some((name, schema)) = self.catalog.definitions().get_key_value(target) else { break };
            self.inner = schema;
            self.def_name = Some(name.as_str());
            guard += 1;
            if guard > 16 {
                break;
            }
        }
        self
    }

    fn child(&self, schema: &'a Value) -> SchemaNode<'a> {
        SchemaNode::new(self.catalog, schema, None).resolve()
    }

    /// Looks a keyword up on the field-level schema first, then on the resolved one.
    fn keyword(&self, key: &str) -> Option<&'a Value> {
        self.outer.get(key).or_else(|| self.inner.get(key))
    }

    pub fn catalog(&self) -> &'a Catalog {
        self.catalog
    }

    /// The resolved schema JSON.
    pub fn schema(&self) -> &'a Value {
        self.inner
    }

    /// The definition this node resolved to, if it came through a `$ref`.
    pub fn definition_name(&self) -> Option<&'a str> {
        self.def_name
    }

    pub fn ty(&self) -> Option<&'a str> {
        self.inner.get("type").and_then(Value::as_str)
    }

    pub fn description(&self) -> Option<&'a str> {
        self.keyword("description").and_then(Value::as_str)
    }

    pub fn format(&self) -> Option<&'a str> {
        self.inner.get("format").and_then(Value::as_str)
    }

    pub fn properties(&self) -> impl Iterator<Item = (&'a str, SchemaNode<'a>)> + 'a {
        let this = *self;
        self.inner
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.iter())
            .map(move |(k, v)| (k.as_str(), this.child(v)))
    }

    pub fn property(&self, name: &str) -> Option<SchemaNode<'a>> {
        let v = self.inner.get("properties")?.get(name)?;
        Some(self.child(v))
    }

    pub fn has_properties(&self) -> bool {
        self.inner.get("properties").and_then(Value::as_object).is_some_and(|m| !m.is_empty())
    }

    pub fn required(&self) -> Vec<&'a str> {
        self.inner
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    pub fn items(&self) -> Option<SchemaNode<'a>> {
        self.inner.get("items").map(|v| self.child(v))
    }

    /// The schema of map values (`additionalProperties`), when it is a schema.
    pub fn additional_properties(&self) -> Option<SchemaNode<'a>> {
        match self.inner.get("additionalProperties") {
            Some(v @ Value::Object(_)) => Some(self.child(v)),
            _ => None,
        }
    }

    /// An object whose keys are free-form (`additionalProperties`), e.g. labels.
    pub fn is_map(&self) -> bool {
        self.ty() == Some("object") && !self.has_properties() && self.inner.get("additionalProperties").is_some()
    }

    pub fn is_array(&self) -> bool {
        self.ty() == Some("array")
    }

    /// An object with named fields.
    pub fn is_struct(&self) -> bool {
        self.has_properties()
    }

    pub fn list_type(&self) -> ListType {
        match self.keyword("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => ListType::Map(
                self.keyword("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                    .unwrap_or_default(),
            ),
            _ => ListType::Atomic,
        }
    }

    /// `x-kubernetes-patch-merge-key` of a list field.
    pub fn patch_merge_key(&self) -> Option<&'a str> {
        self.keyword("x-kubernetes-patch-merge-key").and_then(Value::as_str)
    }

    /// `x-kubernetes-patch-strategy`, split on commas (`merge`, `retainKeys`, `replace`).
    pub fn patch_strategies(&self) -> Vec<&'a str> {
        self.keyword("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }

    /// Whether a map or struct is replaced as a whole (`x-kubernetes-map-type: atomic`).
    pub fn is_atomic_map(&self) -> bool {
        self.keyword("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic")
    }

    pub fn preserves_unknown_fields(&self) -> bool {
        self.keyword("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true)
    }

    pub fn is_int_or_string(&self) -> bool {
        self.keyword("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true)
            || self.format() == Some("int-or-string")
    }

    pub fn is_embedded_resource(&self) -> bool {
        self.keyword("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true)
    }

    /// Whether this schema says nothing about its content (anything goes).
    pub fn is_free_form(&self) -> bool {
        self.preserves_unknown_fields() || (self.ty().is_none() && !self.has_properties() && !self.is_int_or_string())
    }
}
