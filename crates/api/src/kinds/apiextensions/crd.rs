//! CustomResourceDefinition (apiextensions.k8s.io/v1): defaults, validation of names,
//! group, versions, schemas, subresources, printer columns and conversion, stored
//! versions, and the default table (Name, Created At).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use super::validation::{stored_versions, validate};
use crate::kinds::support::checks::immutable_at;
use crate::kinds::support::json::{default_key, object_mut};
use crate::kinds::support::lifecycle::keep_old_status;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{self, Column};
use crate::validation::{FieldError, FieldPath};

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
