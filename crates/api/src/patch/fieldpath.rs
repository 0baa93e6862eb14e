//! Field paths and sets of them, the vocabulary of field management.
//!
//! A path walks from the object root through path elements: a field name
//! (`f:spec`), a list item identified by its key fields (`k:{"name":"nginx"}`),
//! a value of a set-like list (`v:"finalizer"`), or a list position (`i:0`).
//! A [`FieldSet`] is a tree of such paths; it converts to and from the
//! `fieldsV1` JSON stored in `metadata.managedFields`, where `{}` marks a leaf
//! and `".": {}` marks that an inner node (e.g. a list item) is itself a member.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path. The variant order is the sort order upstream uses
/// (field names, then keys, then values, then indexes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or map key.
    Field(String),
    /// A list item identified by its key fields, held as canonical JSON
    /// (an object with the key fields sorted by name).
    Key(String),
    /// An item of a set-like list, held as canonical JSON.
    Value(String),
    /// A list position.
    Index(usize),
}

/// Malformed `fieldsV1` JSON or path element text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fieldsV1: {0}")]
pub struct FieldsV1Error(pub String);

impl PathElement {
    pub fn field(name: impl Into<String>) -> Self {
        PathElement::Field(name.into())
    }

    /// A key element from key field names and values (any order; sorted here).
    pub fn key<'a>(fields: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Self {
        let map: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        PathElement::Key(canonical_json(&Value::Object(map)))
    }

    pub fn value(v: &Value) -> Self {
        PathElement::Value(canonical_json(v))
    }

    /// The `fieldsV1` key text: `f:name`, `k:{...}`, `v:...`, `i:N`.
    pub fn to_fields_v1_key(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{json}"),
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    pub fn parse_fields_v1_key(text: &str) -> Result<Self, FieldsV1Error> {
        let bad = |why: &str| FieldsV1Error(format!("{why} in path element {text:?}"));
        let (prefix, rest) = text.split_once(':').ok_or_else(|| bad("missing type prefix"))?;
        match prefix {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| bad("key is not valid JSON"))?;
                if !v.is_object() {
                    return Err(bad("key is not a JSON object"));
                }
                Ok(PathElement::Key(canonical_json(&v)))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| bad("value is not valid JSON"))?;
                Ok(PathElement::Value(canonical_json(&v)))
            }
            "i" => rest.parse().map(PathElement::Index).map_err(|_| bad("index is not a number")),
            _ => Err(bad("unknown type prefix")),
        }
    }
}

/// Renders like upstream's field paths in conflict messages:
/// `.spec`, `[name="nginx"]`, `[="value"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let parsed: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                let parts: Vec<String> = parsed
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={}", display_value(v))).collect())
                    .unwrap_or_default();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => {
                let parsed: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                write!(f, "[={}]", display_value(&parsed))
            }
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Values inside rendered paths: strings quoted, everything else as JSON.
fn display_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// JSON text with object keys sorted (serde_json maps are ordered by key), so
/// equal values always give equal text.
pub fn canonical_json(v: &Value) -> String {
    v.to_string()
}

/// A path from the object root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of field names, e.g. `Path::fields(&["spec", "replicas"])`.
    pub fn fields(names: &[&str]) -> Self {
        Path(names.iter().map(|n| PathElement::field(*n)).collect())
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|pe| write!(f, "{pe}"))
    }
}

/// A set of field paths, stored as a tree. `members` are the paths that end at
/// this node's children; `children` hold deeper paths. No child is ever empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        FieldSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` itself is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether `pe` is a member at this level.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The paths below `pe`, if any.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// Whether `pe` is a member or has members below it.
    pub fn touches(&self, pe: &PathElement) -> bool {
        self.members.contains(pe) || self.children.contains_key(pe)
    }

    /// Every path element at this level that is a member or has members below.
    pub fn elements(&self) -> BTreeSet<&PathElement> {
        self.members.iter().chain(self.children.keys()).collect()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// The members of `self` that are not members of `other` (children compared path by path).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let rest = match other.children.get(pe) {
                    Some(o) => child.difference(o),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let common = child.intersection(other.children.get(pe)?);
                (!common.is_empty()).then(|| (pe.clone(), common))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Drops `path` and everything below it.
    pub fn remove_subtree(&mut self, path: &[PathElement]) {
        match path {
            [] => *self = FieldSet::new(),
            [last] => {
                self.members.remove(last);
                self.children.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(child) = self.children.get_mut(first) {
                    child.remove_subtree(rest);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Removes `path` as a member, keeping what lies below it.
    pub fn remove_member(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(child) = self.children.get_mut(first) {
                    child.remove_member(rest);
                    if child.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// Keeps only `path` and everything below it.
    pub fn retain_subtree(&self, path: &[PathElement]) -> FieldSet {
        match path {
            [] => self.clone(),
            [first, rest @ ..] => {
                let mut out = FieldSet::new();
                if rest.is_empty() && self.members.contains(first) {
                    out.members.insert(first.clone());
                }
                if let Some(child) = self.children.get(first) {
                    let kept = child.retain_subtree(rest);
                    if !kept.is_empty() {
                        out.children.insert(first.clone(), kept);
                    }
                }
                out
            }
        }
    }

    /// Every member path, in sort order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for pe in self.elements() {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(Path(prefix.clone()));
            }
            if let Some(child) = self.children.get(pe) {
                child.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON form.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        for pe in self.elements() {
            let node = match self.children.get(pe) {
                Some(child) => {
                    let mut inner = match child.to_fields_v1() {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    if self.members.contains(pe) {
                        inner.insert(".".into(), Value::Object(Map::new()));
                    }
                    Value::Object(inner)
                }
                None => Value::Object(Map::new()),
            };
            map.insert(pe.to_fields_v1_key(), node);
        }
        Value::Object(map)
    }

    /// Parses the `fieldsV1` JSON form.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsV1Error> {
        let map = value.as_object().ok_or_else(|| FieldsV1Error("expected a JSON object".into()))?;
        let mut set = FieldSet::new();
        for (key, node) in map {
            if key == "." {
                continue;
            }
            let pe = PathElement::parse_fields_v1_key(key)?;
            let inner =
                node.as_object().ok_or_else(|| FieldsV1Error(format!("the value of {key:?} is not an object")))?;
            if inner.is_empty() || inner.contains_key(".") {
                set.members.insert(pe.clone());
            }
            let child = FieldSet::from_fields_v1(node)?;
            if !child.is_empty() {
                set.children.insert(pe, child);
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    fn set(paths: &[&[PathElement]]) -> FieldSet {
        let mut s = FieldSet::new();
        for p in paths {
            s.insert(p);
        }
        s
    }

    #[test]
    fn fields_v1_round_trip() {
        let v1 = json!({
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}},
            "f:finalizers": {"v:\"example.com/x\"": {}},
            "f:args": {"i:0": {}},
        });
        let set = FieldSet::from_fields_v1(&v1).unwrap();
        let nginx = PathElement::key([("name", &json!("nginx"))]);
        assert!(set.contains(&[f("spec"), f("containers"), nginx.clone()]));
        assert!(set.contains(&[f("spec"), f("containers"), nginx.clone(), f("image")]));
        assert!(!set.contains(&[f("spec"), f("containers")]));
        assert!(set.contains(&[f("finalizers"), PathElement::value(&json!("example.com/x"))]));
        assert!(set.contains(&[f("args"), PathElement::Index(0)]));
        assert_eq!(set.to_fields_v1(), v1);
    }

    #[test]
    fn rejects_malformed_fields_v1() {
        for bad in [json!([]), json!({"x:y": {}}), json!({"f:a": 1}), json!({"k:[1]": {}}), json!({"i:z": {}})] {
            assert!(FieldSet::from_fields_v1(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_elements_are_canonical() {
        let a = PathElement::key([("protocol", &json!("TCP")), ("containerPort", &json!(80))]);
        let b = PathElement::parse_fields_v1_key(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_fields_v1_key(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
    }

    #[test]
    fn paths_render_like_upstream() {
        let path = Path(vec![
            f("spec"),
            f("template"),
            f("spec"),
            f("containers"),
            PathElement::key([("name", &json!("nginx"))]),
            f("image"),
        ]);
        assert_eq!(path.to_string(), r#".spec.template.spec.containers[name="nginx"].image"#);
        let ports =
            Path(vec![f("ports"), PathElement::key([("containerPort", &json!(80)), ("protocol", &json!("TCP"))])]);
        assert_eq!(ports.to_string(), r#".ports[containerPort=80,protocol="TCP"]"#);
        assert_eq!(Path(vec![f("finalizers"), PathElement::value(&json!("a"))]).to_string(), r#".finalizers[="a"]"#);
        assert_eq!(Path(vec![f("args"), PathElement::Index(2)]).to_string(), ".args[2]");
    }

    #[test]
    fn set_algebra() {
        let a = set(&[&[f("a")], &[f("b"), f("c")], &[f("b"), f("d")]]);
        let b = set(&[&[f("b"), f("c")], &[f("e")]]);
        assert_eq!(a.union(&b), set(&[&[f("a")], &[f("b"), f("c")], &[f("b"), f("d")], &[f("e")]]));
        assert_eq!(a.difference(&b), set(&[&[f("a")], &[f("b"), f("d")]]));
        assert_eq!(a.intersection(&b), set(&[&[f("b"), f("c")]]));
        assert!(a.difference(&a).is_empty());
        assert!(a.intersection(&FieldSet::new()).is_empty());
        assert_eq!(a.paths().len(), 3);
    }

    #[test]
    fn subtrees() {
        let mut a = set(&[&[f("status"), f("phase")], &[f("spec"), f("x")], &[f("status")]]);
        assert_eq!(a.retain_subtree(&[f("status")]), set(&[&[f("status"), f("phase")], &[f("status")]]));
        a.remove_subtree(&[f("status")]);
        assert_eq!(a, set(&[&[f("spec"), f("x")]]));
        a.remove_subtree(&[f("spec"), f("x")]);
        assert!(a.is_empty());
    }
}
