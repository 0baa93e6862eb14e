//! Server-side printing: objects as a `Table` or as `PartialObjectMetadata`.

use k3rs_api::table::Column;
use k3rs_api::{Context, ResourceDef, meta};
use serde_json::{Value, json};

use crate::http::negotiate::{Output, Representation};

fn columns(def: &ResourceDef) -> Vec<Column> {
    let mut cols = Vec::new();
    if def.strategy.name_column() {
        cols.push(Column::name());
    }
    cols.extend(def.strategy.columns());
    cols
}

fn row(def: &ResourceDef, obj: &Value, ctx: &Context, include: &str) -> Value {
    let mut cells = Vec::new();
    if def.strategy.name_column() {
        cells.push(Value::String(meta::name(obj).to_string()));
    }
    cells.extend(def.strategy.row(obj, ctx));
    let object = match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => meta::partial_object_metadata(obj),
    };
    let mut row = json!({"cells": cells});
    if !object.is_null() {
        row["object"] = object;
    }
    row
}

/// A `Table` of `objects` (already in the request's version).
pub fn table(def: &ResourceDef, objects: &[Value], list_meta: Value, output: Output, include: &str) -> Value {
    let ctx = Context::now();
    let mut table = json!({
        "kind": "Table",
        "apiVersion": format!("meta.k8s.io/{}", output.meta_version),
        "metadata": list_meta,
        "rows": objects.iter().map(|o| row(def, o, &ctx, include)).collect::<Vec<_>>(),
    });
    if include != "NoHeaders" {
        table["columnDefinitions"] = Value::Array(columns(def).iter().map(Column::to_json).collect());
    }
    table
}

/// `PartialObjectMetadataList` of `objects`.
pub fn partial_list(objects: &[Value], list_meta: Value, output: Output) -> Value {
    json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": format!("meta.k8s.io/{}", output.meta_version),
        "metadata": list_meta,
        "items": objects.iter().map(partial).collect::<Vec<_>>(),
    })
}

pub fn partial(obj: &Value) -> Value {
    let mut p = meta::partial_object_metadata(obj);
    // Keep the object's own type, as upstream's metadata-only responses do.
    if let Some(av) = obj.get("apiVersion") {
        p["apiVersion"] = av.clone();
    }
    if let Some(k) = obj.get("kind") {
        p["kind"] = k.clone();
    }
    p["apiVersion"] = json!("meta.k8s.io/v1");
    p["kind"] = json!("PartialObjectMetadata");
    p
}

/// One object in the representation the client asked for.
pub fn single(def: &ResourceDef, obj: Value, output: Output, include: &str) -> Value {
    match output.representation {
        Representation::Object => obj,
        Representation::Table => {
            let rv = meta::resource_version(&obj).to_string();
            table(def, std::slice::from_ref(&obj), json!({"resourceVersion": rv}), output, include)
        }
        Representation::PartialObjectMetadata => partial(&obj),
    }
}
