//! Checks that a CRD's `openAPIV3Schema` is structural: every specified node has a
//! type (except int-or-string and preserve-unknown-fields nodes), the root is an
//! object, and `metadata` at the root restricts nothing but `name`/`generateName`.

use serde_json::Value;

use crate::validation::{FieldError, FieldPath};

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

/// Problems that make `schema` non-structural, reported under `path`
/// (`spec.versions[0].schema.openAPIV3Schema`).
pub fn validate_structural(schema: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    walk(schema, Level::Root, path, &mut errs);
    errs
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn walk(schema: &Value, level: Level, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or_default();
    if !ty.is_empty() && !TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(path.child("type"), ty, TYPES));
    }
    if ty == "array" && schema.get("items").is_none_or(Value::is_null) {
        errs.push(FieldError::required(path.child("items"), "must be specified"));
    }
    if let Some(items) = schema.get("items").filter(|v| v.is_object()) {
        walk(items, Level::Item, &path.child("items"), errs);
    }
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (name, prop) in props {
            walk(prop, Level::Field, &path.child("properties").key(name), errs);
        }
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        walk(additional, Level::Field, &path.child("additionalProperties"), errs);
    }
    let embedded = flag(schema, "x-kubernetes-embedded-resource");
    let int_or_string = flag(schema, "x-kubernetes-int-or-string");
    let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
    if embedded && ty != "object" {
        let msg = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            errs.push(FieldError::required(path.child("type"), msg));
        } else {
            errs.push(FieldError::invalid(path.child("type"), ty, msg));
        }
    } else if ty.is_empty() && !int_or_string && !preserve {
        let msg = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(path.child("type"), msg));
    }
    if level == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(FieldError::invalid(path.child("type"), ty, "must be object at the root"));
    }
    if level == Level::Root || embedded {
        root_fields(schema, level, path, errs);
    }
}

/// `kind`, `apiVersion` and `metadata` of an object root may only be described loosely.
fn root_fields(schema: &Value, level: Level, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(Value::Object(props)) = schema.get("properties") else { return };
    let type_of = |k: &str| props.get(k).and_then(|p| p.get("type")).and_then(Value::as_str).unwrap_or_default();
    for (key, want) in [("kind", "string"), ("apiVersion", "string"), ("metadata", "object")] {
        if props.contains_key(key) && type_of(key) != want {
            errs.push(FieldError::invalid(
                path.child("properties").key(key).child("type"),
                type_of(key),
                format!("must be {want}"),
            ));
        }
    }
    if level != Level::Root {
        return;
    }
    if let Some(Value::Object(metadata)) = props.get("metadata") {
        let allowed = |k: &str| matches!(k, "type" | "description");
        let restricts_more = metadata.iter().any(|(k, v)| match k.as_str() {
            "properties" => {
                v.as_object().is_some_and(|p| p.keys().any(|name| name != "name" && name != "generateName"))
            }
            k => !allowed(k),
        });
        if restricts_more {
            errs.push(FieldError::forbidden(
                path.child("properties").key("metadata"),
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(schema: Value) -> Vec<String> {
        validate_structural(&schema, &FieldPath::root("s")).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn structural_schemas_pass() {
        assert!(
            check(json!({"type": "object", "properties": {
                "spec": {"type": "object", "properties": {
                    "replicas": {"type": "integer"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "config": {"x-kubernetes-preserve-unknown-fields": true},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }},
                "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}}}
            }}))
            .is_empty()
        );
    }

    #[test]
    fn non_structural_schemas_fail() {
        assert_eq!(
            check(json!({"type": "string"})),
            vec!["s.type: Invalid value: \"string\": must be object at the root"]
        );
        assert_eq!(check(json!({})), vec!["s.type: Required value: must not be empty at the root"]);
        assert_eq!(
            check(json!({"type": "object", "properties": {"spec": {"properties": {"list": {"type": "array"}}}}})),
            vec![
                "s.properties[spec].properties[list].items: Required value: must be specified",
                "s.properties[spec].type: Required value: must not be empty for specified object fields",
            ]
        );
        assert_eq!(
            check(
                json!({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}})
            ),
            vec![
                "s.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified"
            ]
        );
        assert_eq!(
            check(json!({"type": "object", "properties": {"x": {"type": "thing"}}})),
            vec![
                "s.properties[x].type: Unsupported value: \"thing\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\""
            ]
        );
    }
}
