//! Custom resources against their CRD's structural schema: pruning of unknown
//! fields, defaulting from `default`, and validation of types and constraints.

use serde_json::{Map, Value};

use crate::schema::SchemaNode;
use crate::validation::FieldError;

/// Removes fields the schema does not define (except under
/// `x-kubernetes-preserve-unknown-fields`), as upstream's pruning does.
pub fn prune(value: &mut Value, schema: SchemaNode<'_>) {
    match value {
        Value::Object(map) => {
            if schema.has_properties() {
                let preserve = schema.preserves_unknown_fields();
                map.retain(|k, _| preserve || schema.property(k).is_some() || embedded_type_field(schema, k));
                for (k, v) in map.iter_mut() {
                    if let Some(child) = schema.property(k) {
                        prune(v, child);
                    }
                }
            } else if let Some(values) = schema.additional_properties() {
                for v in map.values_mut() {
                    prune(v, values);
                }
            } else if !schema.preserves_unknown_fields()
                && schema.ty() == Some("object")
                && !schema.is_embedded_resource()
            {
                map.clear();
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.items() {
                for v in items {
                    prune(v, item);
                }
            }
        }
        _ => {}
    }
}

fn embedded_type_field(schema: SchemaNode<'_>, key: &str) -> bool {
    schema.is_embedded_resource() && matches!(key, "apiVersion" | "kind" | "metadata")
}

/// Fills in `default` values of absent properties, recursively.
pub fn apply_defaults(value: &mut Value, schema: SchemaNode<'_>) {
    match value {
        Value::Object(map) => {
            for (name, child) in schema.properties() {
                if !map.contains_key(name)
                    && let Some(default) = child.schema().get("default").or_else(|| prop_default(schema, name))
                {
                    map.insert(name.to_string(), default.clone());
                }
            }
            for (k, v) in map.iter_mut() {
                if let Some(child) = schema.property(k) {
                    apply_defaults(v, child);
                } else if let Some(values) = schema.additional_properties() {
                    apply_defaults(v, values);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.items() {
                for v in items {
                    apply_defaults(v, item);
                }
            }
        }
        _ => {}
    }
}

/// A `default` written next to a `$ref` at the property level.
fn prop_default<'a>(schema: SchemaNode<'a>, name: &str) -> Option<&'a Value> {
    schema.schema().get("properties")?.get(name)?.get("default")
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() { k.to_string() } else { format!("{path}.{k}") }
}

/// Checks `value` against `schema`; `path` is the field path of `value`.
pub fn validate(value: &Value, schema: SchemaNode<'_>, path: &str, errs: &mut Vec<FieldError>) {
    let s = schema.schema();
    if value.is_null() {
        if s.get("nullable").and_then(Value::as_bool) != Some(true) && schema.ty().is_some() {
            errs.push(FieldError::type_invalid(
                path,
                Value::Null,
                format!("{path} in body must be of type {}: \"null\"", schema.ty().unwrap_or("object")),
            ));
        }
        return;
    }
    if schema.is_int_or_string() {
        if !matches!(type_name(value), "integer" | "string") {
            errs.push(FieldError::type_invalid(
                path,
                value.clone(),
                format!("{path} in body must be of type integer or string: {:?}", type_name(value)),
            ));
        }
    } else if let Some(want) = schema.ty() {
        let got = type_name(value);
        let ok = got == want || (want == "number" && got == "integer");
        if !ok {
            errs.push(FieldError::type_invalid(
                path,
                value.clone(),
                format!("{path} in body must be of type {want}: {got:?}"),
            ));
            return;
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(value)
    {
        let valid: Vec<String> = options.iter().map(crate::crd::jsonpath::value_text).collect();
        let valid: Vec<&str> = valid.iter().map(String::as_str).collect();
        errs.push(FieldError::not_supported(path, value.clone(), &valid));
    }
    match value {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                let exclusive = s.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
                if x < min || (exclusive && x == min) {
                    let op = if exclusive { "greater than" } else { "greater than or equal to" };
                    errs.push(FieldError::invalid(path, value.clone(), format!("{path} in body should be {op} {min}")));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                let exclusive = s.get("exclusiveMaximum").and_then(Value::as_bool) == Some(true);
                if x > max || (exclusive && x == max) {
                    let op = if exclusive { "less than" } else { "less than or equal to" };
                    errs.push(FieldError::invalid(path, value.clone(), format!("{path} in body should be {op} {max}")));
                }
            }
        }
        Value::String(text) => {
            let len = text.chars().count() as u64;
            if let Some(min) = s.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                errs.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{path} in body should be at least {min} chars long"),
                ));
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                errs.push(FieldError::too_long(path, max as usize));
            }
            if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
                match regex_lite::Regex::new(pattern) {
                    Ok(re) if !re.is_match(text) => errs.push(FieldError::invalid(
                        path,
                        value.clone(),
                        format!("{path} in body should match '{pattern}'"),
                    )),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = s.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errs.push(FieldError::invalid(
                    path,
                    value.clone(),
                    format!("{path} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = s.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                errs.push(FieldError::too_many(path, max as usize));
            }
            if let Some(item) = schema.items() {
                for (i, v) in items.iter().enumerate() {
                    validate(v, item, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Value::Object(map) => validate_object(map, schema, path, errs),
        _ => {}
    }
}

fn validate_object(map: &Map<String, Value>, schema: SchemaNode<'_>, path: &str, errs: &mut Vec<FieldError>) {
    for req in schema.required() {
        if !map.contains_key(req) {
            errs.push(FieldError::required(join(path, req), ""));
        }
    }
    let s = schema.schema();
    if let Some(min) = s.get("minProperties").and_then(Value::as_u64)
        && (map.len() as u64) < min
    {
        errs.push(FieldError::invalid(
            path,
            Value::Object(map.clone()),
            format!("{path} in body should have at least {min} properties"),
        ));
    }
    if let Some(max) = s.get("maxProperties").and_then(Value::as_u64)
        && (map.len() as u64) > max
    {
        errs.push(FieldError::too_many(path, max as usize));
    }
    for (k, v) in map {
        if path.is_empty() && k == "metadata" {
            continue;
        }
        if let Some(child) = schema.property(k) {
            validate(v, child, &join(path, k), errs);
        } else if let Some(values) = schema.additional_properties() {
            validate(v, values, &join(path, k), errs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Catalog;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["size"], "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2}
            }}
        }})
    }

    #[test]
    fn prune_default_validate() {
        let catalog = Catalog::default();
        let s = schema();
        let node = catalog.node(&s);
        let mut obj = json!({"spec": {"size": 3, "extra": 1, "free": {"x": {"y": 1}}}, "bogus": true});
        prune(&mut obj, node);
        assert_eq!(obj, json!({"spec": {"size": 3, "free": {"x": {"y": 1}}}}));
        apply_defaults(&mut obj, node);
        assert_eq!(obj["spec"]["mode"], "a");
        let mut errs = Vec::new();
        validate(&obj, node, "", &mut errs);
        assert!(errs.is_empty(), "{errs:?}");

        let bad = json!({"spec": {"size": "x", "mode": "c", "name": "A1", "tags": ["a", "b", "c"]}});
        let mut errs = Vec::new();
        validate(&bad, node, "", &mut errs);
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("spec.size in body must be of type integer: \"string\"")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("spec.mode: Unsupported value: \"c\"")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("should match")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("spec.tags: Too many")), "{text:?}");
        let mut errs = Vec::new();
        validate(&json!({"spec": {"size": 11}}), node, "", &mut errs);
        assert!(errs[0].to_string().contains("less than or equal to 10"));
        let mut errs = Vec::new();
        validate(&json!({"spec": {}}), node, "", &mut errs);
        assert_eq!(errs[0].to_string(), "spec.size: Required value");
    }
}
