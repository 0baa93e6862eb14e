//! Namespaces: the `kubernetes.io/metadata.name` label, the `kubernetes` finalizer and
//! phase `Active` on create, finalizers and status kept across plain updates,
//! DNS-label names, and the STATUS column.

use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};

use crate::kinds::common::typed::str_at;
use crate::meta;
use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{Column, age};
use crate::validation::names::qualified_name;
use crate::validation::{FieldError, FieldPath};

/// The label upstream puts on every namespace, holding its name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The finalizer the namespace controller removes once the namespace is empty.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

pub struct NamespaceStrategy;

/// Sets the name label (skipped while the name is still to be generated).
fn set_name_label(obj: &mut Value) {
    let name = meta::name(obj).to_string();
    if name.is_empty() {
        return;
    }
    let md = meta::metadata_mut(obj);
    if !md.get("labels").is_some_and(Value::is_object) {
        md.insert("labels".into(), json!({}));
    }
    if let Some(labels) = md.get_mut("labels").and_then(Value::as_object_mut) {
        labels.insert(NAME_LABEL.into(), Value::String(name));
    }
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

impl Strategy for NamespaceStrategy {
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validation::names::dns1123_label(name)
    }

    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Namespace>(obj)
    }

    fn default(&self, obj: &mut Value) {
        set_name_label(obj);
        if obj.get("status").is_some_and(Value::is_object) && str_at(obj, "/status/phase").is_empty() {
            obj["status"]["phase"] = json!("Active");
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let mut fins = finalizers(obj);
        if !fins.iter().any(|f| f == KUBERNETES_FINALIZER) {
            fins.push(KUBERNETES_FINALIZER.into());
        }
        if !obj.get("spec").is_some_and(Value::is_object) {
            obj["spec"] = json!({});
        }
        obj["spec"]["finalizers"] = json!(fins);
        obj["status"] = json!({"phase": "Active"});
        set_name_label(obj);
    }

    /// Finalizers change only through `/finalize`, status only through `/status`.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if !new.get("spec").is_some_and(Value::is_object) {
            new["spec"] = json!({});
        }
        match old.pointer("/spec/finalizers") {
            Some(f) => new["spec"]["finalizers"] = f.clone(),
            None => {
                if let Some(spec) = new["spec"].as_object_mut() {
                    spec.remove("finalizers");
                }
            }
        }
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(map) = new.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        set_name_label(new);
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let path = FieldPath::root("spec").child("finalizers");
        for f in finalizers(obj) {
            errs.extend(qualified_name(&f).into_iter().map(|m| FieldError::invalid(&path, f.as_str(), m)));
            if !f.contains('/') && f != KUBERNETES_FINALIZER {
                errs.push(FieldError::invalid(
                    &path,
                    f.as_str(),
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::new("Status", "string", "The status of the namespace"), Column::age()]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        vec![json!(str_at(obj, "/status/phase")), json!(age(obj, ctx))]
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        (label == "status.phase").then(|| str_at(obj, "/status/phase").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(v: Value) -> Value {
        let mut v = v;
        NamespaceStrategy.normalize(&mut v).unwrap();
        NamespaceStrategy.default(&mut v);
        v
    }

    #[test]
    fn create_sets_label_finalizer_and_phase() {
        let mut v = ns(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}, "status": {"phase": "Terminating"}}),
        );
        NamespaceStrategy.prepare_for_create(&mut v);
        assert_eq!(v["metadata"]["labels"][NAME_LABEL], "team-a");
        assert_eq!(v["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(v["status"], json!({"phase": "Active"}));
        assert_eq!(NamespaceStrategy.row(&v, &Context::now())[0], json!("Active"));
        assert_eq!(NamespaceStrategy.field_label(&v, "status.phase").as_deref(), Some("Active"));
    }

    #[test]
    fn update_keeps_finalizers_status_and_label() {
        let old = json!({"metadata": {"name": "a", "labels": {NAME_LABEL: "a"}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        let mut new = json!({"metadata": {"name": "a", "labels": {NAME_LABEL: "b"}}, "spec": {"finalizers": []}, "status": {"phase": "Terminating"}});
        NamespaceStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(new["status"]["phase"], "Active");
        assert_eq!(new["metadata"]["labels"][NAME_LABEL], "a");
    }

    #[test]
    fn validation() {
        assert!(NamespaceStrategy.validate_name("a.b")[0].starts_with("a lowercase RFC 1123 label"));
        let v = json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["custom", "example.com/cleanup"]}});
        let errs: Vec<String> = NamespaceStrategy.validate_create(&v).iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0],
            "spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"
        );
    }
}
