//! Validation of CustomResourceDefinitions: the name, group and scope, versions with
//! their schemas, subresources and printer columns, names, conversion and stored
//! versions. Paths and messages follow upstream, which validates its internal form.

use serde_json::Value;

use super::schema::validate_structural;
use crate::meta;
use crate::validation::{FieldError, FieldPath, names};

const PRINTER_COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
const PRINTER_COLUMN_FORMATS: &[&str] = &["byte", "date", "date-time", "double", "float", "int32", "int64", "password"];

/// Everything but the stored versions.
pub fn validate(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec_path = FieldPath::root("spec");
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let text = |p: &str| spec.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let (group, plural) = (text("/group"), text("/names/plural"));
    let name = meta::name(obj);
    if name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
    }
    let group_path = spec_path.child("group");
    if group.is_empty() {
        errs.push(FieldError::required(&group_path, ""));
    } else {
        let msgs = names::dns1123_subdomain(group);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(&group_path, group, msgs.join(",")));
        } else if group.split('.').count() < 2 {
            errs.push(FieldError::invalid(&group_path, group, "should be a domain with at least one dot"));
        }
    }
    match text("/scope") {
        "" => errs.push(FieldError::required(spec_path.child("scope"), "")),
        "Cluster" | "Namespaced" => {}
        other => errs.push(FieldError::not_supported(spec_path.child("scope"), other, &["Cluster", "Namespaced"])),
    }
    let versions = spec.get("versions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut seen: Vec<&str> = Vec::new();
    let mut unique = true;
    let mut storage_count = 0;
    for (i, version) in versions.iter().enumerate() {
        let path = spec_path.child("versions").index(i);
        let vname = version.get("name").and_then(Value::as_str).unwrap_or_default();
        if version.get("storage").and_then(Value::as_bool) == Some(true) {
            storage_count += 1;
        }
        if seen.contains(&vname) {
            unique = false;
        }
        seen.push(vname);
        let msgs = names::dns1035_label(vname);
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(path.child("name"), vname, msgs.join(",")));
        }
        errs.extend(validate_version(version, &path));
    }
    let all_versions = Value::Array(versions.to_vec());
    if !unique {
        errs.push(FieldError::invalid(
            spec_path.child("versions"),
            all_versions.clone(),
            "must contain unique version names",
        ));
    }
    if storage_count != 1 {
        errs.push(FieldError::invalid(
            spec_path.child("versions"),
            all_versions,
            "must have exactly one version marked as storage version",
        ));
    }
    let names_path = spec_path.child("names");
    for field in ["plural", "singular", "kind", "listKind"] {
        if text(&format!("/names/{field}")).is_empty() {
            errs.push(FieldError::required(names_path.child(field), ""));
        }
    }
    errs.extend(validate_names(spec.get("names").unwrap_or(&Value::Null), &names_path));
    if spec.get("preserveUnknownFields").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::invalid(
            spec_path.child("preserveUnknownFields"),
            true,
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    errs.extend(validate_conversion(spec.get("conversion"), &spec_path.child("conversion")));
    errs
}

fn validate_version(version: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let schema_path = path.child("schema").child("openAPIV3Schema");
    match version.pointer("/schema/openAPIV3Schema").filter(|v| !v.is_null()) {
        None => errs.push(FieldError::required(&schema_path, "schemas are required")),
        Some(schema) => errs.extend(validate_structural(schema, &schema_path)),
    }
    if let Some(scale) = version.pointer("/subresources/scale").filter(|v| !v.is_null()) {
        errs.extend(validate_scale(scale, &path.child("subresources")));
    }
    for (i, col) in version.get("additionalPrinterColumns").and_then(Value::as_array).into_iter().flatten().enumerate()
    {
        errs.extend(validate_printer_column(col, &path.child("additionalPrinterColumns").index(i)));
    }
    errs
}

/// `validateSimpleJSONPath`.
fn simple_json_path(value: &str, path: &FieldPath) -> Option<FieldError> {
    if value.is_empty() {
        Some(FieldError::invalid(path, value, "must not be empty"))
    } else if !value.starts_with('.') {
        Some(FieldError::invalid(path, value, "must be a simple json path starting with ."))
    } else {
        None
    }
}

fn validate_scale(scale: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, prefix, msg) in [
        ("specReplicasPath", ".spec.", "should be a json path under .spec"),
        ("statusReplicasPath", ".status.", "should be a json path under .status"),
    ] {
        let p = path.child(&format!("scale.{field}"));
        let value = scale.get(field).and_then(Value::as_str).unwrap_or_default();
        if value.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if let Some(e) = simple_json_path(value, &p) {
            errs.push(e);
        } else if !value.starts_with(prefix) {
            errs.push(FieldError::invalid(&p, value, msg));
        }
    }
    if let Some(selector) = scale.get("labelSelectorPath").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        let p = path.child("scale.labelSelectorPath");
        if let Some(e) = simple_json_path(selector, &p) {
            errs.push(e);
        } else if !selector.starts_with(".spec.") && !selector.starts_with(".status.") {
            errs.push(FieldError::invalid(&p, selector, "should be a json path under either .spec or .status"));
        }
    }
    errs
}

fn validate_printer_column(col: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let text = |k: &str| col.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("name").is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    }
    let ty = text("type");
    if ty.is_empty() {
        errs.push(FieldError::required(
            path.child("type"),
            format!("must be one of {}", PRINTER_COLUMN_TYPES.join(",")),
        ));
    } else if !PRINTER_COLUMN_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(path.child("type"), ty, PRINTER_COLUMN_TYPES));
    }
    let format = text("format");
    if !format.is_empty() && !PRINTER_COLUMN_FORMATS.contains(&format) {
        errs.push(FieldError::not_supported(path.child("format"), format, PRINTER_COLUMN_FORMATS));
    }
    let json_path = text("jsonPath");
    if json_path.is_empty() {
        errs.push(FieldError::required(path.child("jsonPath"), ""));
    } else {
        errs.extend(simple_json_path(json_path, &path.child("jsonPath")));
    }
    errs
}

/// `ValidateCustomResourceDefinitionNames`.
fn validate_names(n: &Value, path: &FieldPath) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let text = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or_default();
    for field in ["plural", "singular"] {
        let v = text(field);
        let msgs = names::dns1035_label(v);
        if !v.is_empty() && !msgs.is_empty() {
            errs.push(FieldError::invalid(path.child(field), v, msgs.join(",")));
        }
    }
    for field in ["kind", "listKind"] {
        let v = text(field);
        let msgs = names::dns1035_label(&v.to_lowercase());
        if !v.is_empty() && !msgs.is_empty() {
            errs.push(FieldError::invalid(
                path.child(field),
                v,
                format!("may have mixed case, but should otherwise match: {}", msgs.join(",")),
            ));
        }
    }
    for list in ["shortNames", "categories"] {
        for (i, v) in n.get(list).and_then(Value::as_array).into_iter().flatten().enumerate() {
            let v = v.as_str().unwrap_or_default();
            let msgs = names::dns1035_label(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(path.child(list).index(i), v, msgs.join(",")));
            }
        }
    }
    let (kind, list_kind) = (text("kind"), text("listKind"));
    if !kind.is_empty() && kind == list_kind {
        errs.push(FieldError::invalid(path.child("listKind"), list_kind, "kind and listKind may not be the same"));
    }
    errs
}

/// `ValidateCustomResourceConversion`, with upstream's (internal) field names.
fn validate_conversion(conversion: Option<&Value>, path: &FieldPath) -> Vec<FieldError> {
    let Some(conversion) = conversion.filter(|v| !v.is_null()) else { return Vec::new() };
    let mut errs = Vec::new();
    let strategy = conversion.get("strategy").and_then(Value::as_str).unwrap_or_default();
    match strategy {
        "" => errs.push(FieldError::required(path.child("strategy"), "")),
        "None" | "Webhook" => {}
        other => errs.push(FieldError::not_supported(path.child("strategy"), other, &["None", "Webhook"])),
    }
    let client_config = conversion.pointer("/webhook/clientConfig").filter(|v| !v.is_null());
    let client_path = path.child("webhookClientConfig");
    if strategy == "Webhook" {
        match client_config {
            None => errs.push(FieldError::required(&client_path, "required when strategy is set to Webhook")),
            Some(cc) => {
                let url = cc.get("url").filter(|v| !v.is_null());
                let service = cc.get("service").filter(|v| !v.is_null());
                if url.is_some() == service.is_some() {
                    errs.push(FieldError::required(&client_path, "exactly one of url or service is required"));
                }
            }
        }
        let review_versions = conversion.pointer("/webhook/conversionReviewVersions").and_then(Value::as_array);
        let known = review_versions.into_iter().flatten().any(|v| matches!(v.as_str(), Some("v1" | "v1beta1")));
        if !known {
            errs.push(FieldError::required(
                path.child("conversionReviewVersions"),
                "must include at least one of v1, v1beta1",
            ));
        }
    } else if client_config.is_some() {
        errs.push(FieldError::forbidden(&client_path, "should not be set when strategy is not set to Webhook"));
    }
    errs
}

/// `ValidateCustomResourceDefinitionStoredVersions`.
pub fn stored_versions(obj: &Value) -> Vec<FieldError> {
    let path = FieldPath::root("status").child("storedVersions");
    let stored: Vec<&str> = obj
        .pointer("/status/storedVersions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if stored.is_empty() {
        return vec![FieldError::invalid(&path, Value::Array(Vec::new()), "must have at least one stored version")];
    }
    let versions = obj.pointer("/spec/versions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let mut errs = Vec::new();
    for version in versions {
        let name = version.get("name").and_then(Value::as_str).unwrap_or_default();
        if version.get("storage").and_then(Value::as_bool) == Some(true) && !stored.contains(&name) {
            errs.push(FieldError::invalid(&path, version.clone(), format!("must have the storage version {name}")));
        }
    }
    for (i, name) in stored.iter().enumerate() {
        if !versions.iter().any(|v| v.get("name").and_then(Value::as_str) == Some(name)) {
            errs.push(FieldError::invalid(path.index(i), *name, "must appear in spec.versions"));
        }
    }
    errs
}
