//! Finds fields an object carries that its schema does not define, for
//! `fieldValidation=Strict|Warn` (upstream: `unknown field "spec.foo"`).

use serde_json::Value;

use crate::schema::SchemaNode;

/// Paths of unknown fields, in upstream's notation (`spec.containers[0].foo`).
pub fn unknown_fields(obj: &Value, schema: SchemaNode<'_>) -> Vec<String> {
    let mut out = Vec::new();
    walk(obj, schema, "", &mut out);
    out
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() { field.to_string() } else { format!("{path}.{field}") }
}

fn walk(value: &Value, schema: SchemaNode<'_>, path: &str, out: &mut Vec<String>) {
    if schema.preserves_unknown_fields() && !schema.has_properties() {
        return;
    }
    match value {
        Value::Object(map) => {
            if schema.has_properties() {
                for (k, v) in map {
                    match schema.property(k) {
                        Some(child) => walk(v, child, &join(path, k), out),
                        None if schema.preserves_unknown_fields() => {}
                        None => out.push(join(path, k)),
                    }
                }
            } else if let Some(values) = schema.additional_properties() {
                for (k, v) in map {
                    walk(v, values, &join(path, k), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.items() {
                for (i, v) in items.iter().enumerate() {
                    walk(v, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_at_any_depth() {
        let catalog = crate::schema::generate(&crate::kinds::builtin());
        let pod = catalog.root("io.k8s.api.core.v1.Pod").unwrap();
        let obj = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "x", "labels": {"any": "thing"}, "bogus": 1},
            "spec": {"containers": [{"name": "c", "image": "i", "imagee": "typo",
                "livenessProbe": {"httpGet": {"port": 80, "pathh": "/"}}}]}
        });
        assert_eq!(
            unknown_fields(&obj, pod),
            vec!["metadata.bogus", "spec.containers[0].imagee", "spec.containers[0].livenessProbe.httpGet.pathh"]
        );
    }
}
