//! CustomResourceDefinition (apiextensions.k8s.io/v1): defaults, validation of names,
//! group, versions, schemas, subresources, printer columns and conversion, stored
//! versions, and the default table (Name, Created At).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::schema::validate_structural;
use crate::kinds::support::checks::immutable_at;
use crate::kinds::support::json::{default_key, object_mut};
use crate::kinds::support::lifecycle::keep_old_status;
use crate::meta;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath, names};

const PRINTER_COLUMN_TYPES: &[&str] = &["boolean", "date", "integer", "number", "string"];
const PRINTER_COLUMN_FORMATS: &[&str] = &["byte", "date", "date-time", "double", "float", "int32", "int64", "password"];

pub struct CustomResourceDefinitionStrategy;

impl Strategy for CustomResourceDefinitionStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<CustomResourceDefinition>(obj)
    }

    fn default(&self, obj: &mut Value) {
        let Some(names) = object_mut(obj, &["spec", "names"]) else { return };
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
        if names.get("singular").and_then(Value::as_str).is_none_or(str::is_empty) {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names.get("listKind").and_then(Value::as_str).is_none_or(str::is_empty) && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
        if let Some(conversion) = object_mut(obj, &["spec", "conversion"]) {
            default_key(conversion, "strategy", json!("None"));
        }
        if let Some(service) =
            obj.pointer_mut("/spec/conversion/webhook/clientConfig/service").and_then(Value::as_object_mut)
        {
            default_key(service, "port", json!(443));
        }
        if obj.pointer("/status/storedVersions").and_then(Value::as_array).is_none_or(Vec::is_empty)
            && let Some(storage) = storage_version(obj)
            && let Some(status) = object_mut(obj, &["status"])
        {
            status.insert("storedVersions".into(), json!([storage]));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        // Status is the server's: names are accepted by the naming controller later.
        let stored: Vec<Value> = storage_version(obj).into_iter().map(Value::from).collect();
        if let Some(map) = obj.as_object_mut() {
            map.insert("status".into(), json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": stored}));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old_status(new, old);
        // A new storage version joins the stored versions; old ones stay until a
        // status update removes them (after migrating the objects).
        if let Some(storage) = storage_version(new)
            && let Some(status) = object_mut(new, &["status"])
        {
            let stored = status.entry("storedVersions").or_insert_with(|| json!([]));
            if let Some(list) = stored.as_array_mut()
                && !list.iter().any(|v| v.as_str() == Some(storage.as_str()))
            {
                list.push(json!(storage));
            }
        }
    }

    fn has_status(&self) -> bool {
        true
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate(obj);
        errs.extend(stored_versions(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let mut errs = validate(new);
        let spec = FieldPath::root("spec");
        let established = old.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Established")
                && c.get("status").and_then(Value::as_str) == Some("True")
        });
        if established {
            // These shape the storage of existing objects.
            errs.extend(immutable_at(new, old, "/spec/scope", &spec.child("scope")));
            errs.extend(immutable_at(new, old, "/spec/names/kind", &spec.child("names").child("kind")));
        }
        // These make up the resource's name.
        errs.extend(immutable_at(new, old, "/spec/group", &spec.child("group")));
        errs.extend(immutable_at(new, old, "/spec/names/plural", &spec.child("names").child("plural")));
        errs.extend(stored_versions(new));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::created_at()]
    }

    fn row(&self, obj: &Value, _ctx: &Context) -> Vec<Value> {
        vec![json!(table::created_at(obj))]
    }
}

fn storage_version(obj: &Value) -> Option<String> {
    obj.pointer("/spec/versions")
        .and_then(Value::as_array)?
        .iter()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name").and_then(Value::as_str))
        .map(String::from)
}

fn validate(obj: &Value) -> Vec<FieldError> {
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
fn stored_versions(obj: &Value) -> Vec<FieldError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        let s = CustomResourceDefinitionStrategy;
        let mut crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {
                "group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}}]
            }
        });
        s.normalize(&mut crd).unwrap();
        s.default(&mut crd);
        s.prepare_for_create(&mut crd);
        crd
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn defaults_and_valid() {
        let c = crd();
        assert_eq!(c["spec"]["names"]["singular"], "widget");
        assert_eq!(c["spec"]["names"]["listKind"], "WidgetList");
        assert_eq!(c["spec"]["conversion"], json!({"strategy": "None"}));
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        let errs = messages(CustomResourceDefinitionStrategy.validate_create(&c));
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn names_group_scope_versions() {
        let mut c = crd();
        c["metadata"]["name"] = json!("widgets.other.com");
        c["spec"]["group"] = json!("example");
        c["spec"]["scope"] = json!("Global");
        c["spec"]["names"]["kind"] = json!("Widget_X");
        c["spec"]["versions"][0]["name"] = json!("V1");
        c["spec"]["versions"][0]["storage"] = json!(false);
        let errs = messages(CustomResourceDefinitionStrategy.validate_create(&c));
        for want in [
            "metadata.name: Invalid value: \"widgets.other.com\": must be spec.names.plural+\".\"+spec.group",
            "spec.group: Invalid value: \"example\": should be a domain with at least one dot",
            "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
        ] {
            assert!(errs.contains(&want.to_string()), "missing {want:?} in {errs:?}");
        }
        assert!(errs.iter().any(|e| e.starts_with("spec.versions[0].name: Invalid value: \"V1\": a DNS-1035 label")));
        assert!(errs.iter().any(|e| e.ends_with("must have exactly one version marked as storage version")));
        assert!(errs.iter().any(|e| e.starts_with(
            "spec.names.kind: Invalid value: \"Widget_X\": may have mixed case, but should otherwise match:"
        )));
    }

    #[test]
    fn schema_subresources_and_columns() {
        let mut c = crd();
        c["spec"]["versions"][0]["schema"] =
            json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"properties": {}}}}});
        c["spec"]["versions"][0]["subresources"]["scale"] = json!({"specReplicasPath": "spec.replicas", "statusReplicasPath": ".spec.replicas", "labelSelectorPath": ".metadata.labels"});
        c["spec"]["versions"][0]["additionalPrinterColumns"] =
            json!([{"name": "Size", "type": "size", "jsonPath": ".spec.size"}]);
        let errs = messages(CustomResourceDefinitionStrategy.validate_create(&c));
        assert_eq!(
            errs,
            vec![
                "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
                "spec.versions[0].subresources.scale.specReplicasPath: Invalid value: \"spec.replicas\": must be a simple json path starting with .",
                "spec.versions[0].subresources.scale.statusReplicasPath: Invalid value: \".spec.replicas\": should be a json path under .status",
                "spec.versions[0].subresources.scale.labelSelectorPath: Invalid value: \".metadata.labels\": should be a json path under either .spec or .status",
                "spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: \"size\": supported values: \"boolean\", \"date\", \"integer\", \"number\", \"string\"",
            ]
        );
        c["spec"]["versions"][0].as_object_mut().unwrap().remove("schema");
        assert!(
            messages(CustomResourceDefinitionStrategy.validate_create(&c))
                .contains(&"spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required".to_string())
        );
    }

    #[test]
    fn stored_versions_and_updates() {
        let old = crd();
        // Adding v2 as the storage version records it as stored too.
        let mut new = old.clone();
        new["spec"]["versions"][0]["storage"] = json!(false);
        let mut v2 = new["spec"]["versions"][0].clone();
        v2["name"] = json!("v2");
        v2["storage"] = json!(true);
        new["spec"]["versions"].as_array_mut().unwrap().push(v2);
        CustomResourceDefinitionStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["status"]["storedVersions"], json!(["v1", "v2"]));
        assert!(CustomResourceDefinitionStrategy.validate_update(&new, &old).is_empty());
        // Dropping v1 while it is still stored is refused.
        let mut dropped = new.clone();
        dropped["spec"]["versions"].as_array_mut().unwrap().remove(0);
        let errs = messages(CustomResourceDefinitionStrategy.validate_update(&dropped, &new));
        assert_eq!(errs, vec!["status.storedVersions[0]: Invalid value: \"v1\": must appear in spec.versions"]);
        let mut renamed = old.clone();
        renamed["spec"]["group"] = json!("example.org");
        renamed["metadata"]["name"] = json!("widgets.example.org");
        assert!(
            messages(CustomResourceDefinitionStrategy.validate_update(&renamed, &old))
                .contains(&"spec.group: Invalid value: \"example.org\": field is immutable".to_string())
        );
    }

    #[test]
    fn conversion_rules() {
        let mut c = crd();
        c["spec"]["conversion"] = json!({"strategy": "Webhook", "webhook": {"clientConfig": {}}});
        let errs = messages(CustomResourceDefinitionStrategy.validate_create(&c));
        assert_eq!(
            errs,
            vec![
                "spec.conversion.webhookClientConfig: Required value: exactly one of url or service is required",
                "spec.conversion.conversionReviewVersions: Required value: must include at least one of v1, v1beta1",
            ]
        );
    }

    #[test]
    fn prints_created_at() {
        let ctx = Context { now: "2024-02-01T00:00:00Z".parse().unwrap() };
        assert_eq!(CustomResourceDefinitionStrategy.row(&crd(), &ctx), vec![json!("2024-01-01T00:00:00Z")]);
        assert!(CustomResourceDefinitionStrategy.name_column());
    }
}
