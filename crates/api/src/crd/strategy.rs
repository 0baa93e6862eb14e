//! The rules of a custom resource, taken from its CRD.

use serde_json::{Value, json};

use super::jsonpath::{JsonPath, value_text};
use super::structural;
use crate::strategy::{Context, ScalePaths, Strategy};
use crate::table::{Column, human_duration, parse_time};
use crate::validation::FieldError;

struct PrinterColumn {
    name: &'static str,
    ty: &'static str,
    description: &'static str,
    priority: i32,
    path: Option<JsonPath>,
}

pub struct CustomResourceStrategy {
    /// The version's component schema (as in the catalog), for pruning and validation.
    schema: Value,
    has_status: bool,
    scale: Option<ScalePaths>,
    columns: Vec<PrinterColumn>,
    storage_api_version: String,
}

/// Leaks a string for the `&'static str` fields of table columns. CRD columns are
/// few and live as long as the CRD; registry rebuilds after CRD changes leak a
/// few bytes, which is acceptable for column headers.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn pointer_of(json_path: &str) -> String {
    json_path.trim_start_matches('.').split('.').fold(String::new(), |acc, p| format!("{acc}/{p}"))
}

impl CustomResourceStrategy {
    /// The rules of one served `version` (its entry in the CRD's `spec.versions`),
    /// whose kind schema is `schema` (as the catalog holds it).
    pub fn new(version: &Value, group: &str, storage_version: &str, schema: Value) -> Self {
        let scale = version.pointer("/subresources/scale").map(|s| ScalePaths {
            spec_replicas: pointer_of(s.get("specReplicasPath").and_then(Value::as_str).unwrap_or(".spec.replicas")),
            status_replicas: pointer_of(
                s.get("statusReplicasPath").and_then(Value::as_str).unwrap_or(".status.replicas"),
            ),
            selector: s.get("labelSelectorPath").and_then(Value::as_str).map(pointer_of),
        });
        let columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: leak(c.get("name").and_then(Value::as_str).unwrap_or("")),
                        ty: leak(c.get("type").and_then(Value::as_str).unwrap_or("string")),
                        description: leak(c.get("description").and_then(Value::as_str).unwrap_or("")),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
                        path: c.get("jsonPath").and_then(Value::as_str).and_then(|p| JsonPath::parse(p).ok()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        CustomResourceStrategy {
            schema,
            has_status: version.pointer("/subresources/status").is_some(),
            scale,
            columns,
            storage_api_version: format!("{group}/{storage_version}"),
        }
    }

    fn node<'a>(&'a self, catalog: &'a crate::schema::Catalog) -> crate::schema::SchemaNode<'a> {
        catalog.node(&self.schema)
    }
}

fn with_api_version(mut obj: Value, api_version: &str) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(api_version));
    }
    obj
}

impl Strategy for CustomResourceStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        let catalog = crate::schema::Catalog::default();
        let meta = obj.get("metadata").cloned();
        structural::prune(obj, self.node(&catalog));
        if let Some(m) = meta {
            obj["metadata"] = m;
        }
        Ok(())
    }

    fn to_storage(&self, obj: Value, _from_version: &str) -> Result<Value, String> {
        Ok(with_api_version(obj, &self.storage_api_version))
    }

    fn from_storage(&self, obj: Value, _to_version: &str) -> Result<Value, String> {
        // The API server sets the requested apiVersion after conversion.
        Ok(obj)
    }

    fn default(&self, obj: &mut Value) {
        let catalog = crate::schema::Catalog::default();
        let meta = obj.get("metadata").cloned();
        structural::apply_defaults(obj, self.node(&catalog));
        if let Some(m) = meta {
            obj["metadata"] = m;
        }
    }

    fn has_status(&self) -> bool {
        self.has_status
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let catalog = crate::schema::Catalog::default();
        let mut errs = Vec::new();
        structural::validate(obj, self.node(&catalog), "", &mut errs);
        errs
    }

    fn columns(&self) -> Vec<Column> {
        if self.columns.is_empty() {
            return vec![Column::age()];
        }
        self.columns
            .iter()
            .map(|c| Column { name: c.name, ty: c.ty, format: "", description: c.description, priority: c.priority })
            .collect()
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        if self.columns.is_empty() {
            return vec![Value::String(crate::table::age(obj, ctx))];
        }
        self.columns
            .iter()
            .map(|c| {
                let found = c.path.as_ref().map(|p| p.find(obj)).unwrap_or_default();
                let Some(first) = found.first() else { return Value::Null };
                match c.ty {
                    "date" => match first.as_str().and_then(parse_time) {
                        Some(t) => Value::String(human_duration(ctx.now.duration_since(t).as_secs())),
                        None => Value::String(value_text(first)),
                    },
                    "integer" | "number" | "boolean" => (*first).clone(),
                    _ => Value::String(found.iter().map(|v| value_text(v)).collect::<Vec<_>>().join(",")),
                }
            })
            .collect()
    }

    fn scale_paths(&self) -> Option<ScalePaths> {
        self.scale.clone()
    }
}
