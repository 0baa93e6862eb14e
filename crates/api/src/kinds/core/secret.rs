//! Secrets: type `Opaque` by default, `stringData` folded into `data`, key and size
//! rules, the required keys of the built-in types, immutable type and `immutable`
//! data, the TYPE/DATA columns, and the `type` field selector.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Value, json};

use super::config_map::IMMUTABLE_MESSAGE;
use crate::kinds::common::data_keys::{MAX_DATA_SIZE, config_key_errors};
use crate::kinds::common::typed::{decode_or_default, str_at};
use crate::strategy::{Context, Strategy, decode, normalize_as, typed};
use crate::table::{Column, age};
use crate::validation::{FieldError, FieldPath};

pub struct SecretStrategy;

fn validate(secret: &Secret) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data_path = FieldPath::root("data");
    let data = secret.data.clone().unwrap_or_default();
    let mut total = 0usize;
    for (k, v) in &data {
        errs.extend(config_key_errors(k).into_iter().map(|m| FieldError::invalid(data_path.key(k), k.as_str(), m)));
        total += v.0.len();
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_DATA_SIZE));
    }
    errs.extend(validate_type(secret, &data));
    errs
}

/// Keys and annotations the built-in secret types require.
fn validate_type(secret: &Secret, data: &BTreeMap<String, ByteString>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let data_path = FieldPath::root("data");
    let json_check = |key: &str, errs: &mut Vec<FieldError>| match data.get(key) {
        None => errs.push(FieldError::required(data_path.key(key), "")),
        Some(bytes) => {
            if let Err(e) = serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes.0) {
                errs.push(FieldError::invalid(data_path.key(key), "<secret contents redacted>", e.to_string()));
            }
        }
    };
    match secret.type_.as_deref().unwrap_or("") {
        "kubernetes.io/service-account-token" => {
            let annotated = secret
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/service-account.name"))
                .is_some_and(|v| !v.is_empty());
            if !annotated {
                errs.push(FieldError::required(
                    FieldPath::root("metadata").child("annotations").key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => json_check(".dockercfg", &mut errs),
        "kubernetes.io/dockerconfigjson" => json_check(".dockerconfigjson", &mut errs),
        "kubernetes.io/basic-auth" if !data.contains_key("username") && !data.contains_key("password") => {
            errs.push(FieldError::required(data_path.key("username"), ""));
            errs.push(FieldError::required(data_path.key("password"), ""));
        }
        "kubernetes.io/ssh-auth" if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) => {
            errs.push(FieldError::required(data_path.key("ssh-privatekey"), ""));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !data.contains_key(key) {
                    errs.push(FieldError::required(data_path.key(key), ""));
                }
            }
        }
        _ => {}
    }
    errs
}

impl Strategy for SecretStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<Secret>(obj)
    }

    /// Type `Opaque` when unset; `stringData` entries overwrite `data` and are dropped
    /// (upstream converts them on the way in and never stores them).
    fn default(&self, obj: &mut Value) {
        typed::<Secret>(obj, |s| {
            if s.type_.as_deref().unwrap_or("").is_empty() {
                s.type_ = Some("Opaque".into());
            }
            if let Some(strings) = s.string_data.take() {
                let data = s.data.get_or_insert_with(BTreeMap::new);
                for (k, v) in strings {
                    data.insert(k, ByteString(v.into_bytes()));
                }
            }
        });
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<Secret>(obj) {
            Ok(s) => validate(&s),
            Err(e) => vec![FieldError::invalid("data", Value::Null, e)],
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let (n, o): (Secret, Secret) = (decode_or_default(new), decode_or_default(old));
        let mut errs = Vec::new();
        let new_type = n.type_.clone().filter(|t| !t.is_empty()).or(o.type_.clone()).unwrap_or_default();
        if new_type != o.type_.clone().unwrap_or_default() {
            errs.push(FieldError::invalid("type", new_type, "field is immutable"));
        }
        if o.immutable == Some(true) {
            if n.immutable != Some(true) {
                errs.push(FieldError::forbidden("immutable", IMMUTABLE_MESSAGE));
            }
            if n.data != o.data {
                errs.push(FieldError::forbidden("data", IMMUTABLE_MESSAGE));
            }
        }
        errs.extend(validate(&n));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("Type", "string", "Used to facilitate programmatic handling of secret data."),
            Column::new("Data", "string", "Data contains the secret data."),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let count = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len());
        vec![json!(str_at(obj, "/type")), json!(count), json!(age(obj, ctx))]
    }

    fn field_label(&self, obj: &Value, label: &str) -> Option<String> {
        (label == "type").then(|| str_at(obj, "/type").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(v: Value) -> Value {
        let mut v = v;
        SecretStrategy.normalize(&mut v).unwrap();
        SecretStrategy.default(&mut v);
        v
    }

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn defaults_type_and_folds_string_data() {
        let v =
            secret(json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "hello", "a": "y"}}));
        assert_eq!(v["type"], "Opaque");
        assert!(v.get("stringData").is_none());
        assert_eq!(v["data"], json!({"a": "eQ==", "b": "aGVsbG8="}));
        assert_eq!(SecretStrategy.row(&v, &Context::now())[..2], [json!("Opaque"), json!(2)]);
        assert_eq!(SecretStrategy.field_label(&v, "type").as_deref(), Some("Opaque"));
    }

    #[test]
    fn type_specific_keys() {
        let tls = secret(json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}));
        assert_eq!(messages(SecretStrategy.validate_create(&tls)), vec!["data[tls.key]: Required value"]);
        let docker =
            secret(json!({"type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": "not json"}}));
        let errs = messages(SecretStrategy.validate_create(&docker));
        assert_eq!(errs.len(), 1);
        assert!(
            errs[0].starts_with("data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": "),
            "{errs:?}"
        );
        let sa = secret(json!({"type": "kubernetes.io/service-account-token"}));
        assert_eq!(
            messages(SecretStrategy.validate_create(&sa)),
            vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]
        );
        let bad_key = secret(json!({"stringData": {"a b": "x"}}));
        assert_eq!(messages(SecretStrategy.validate_create(&bad_key)).len(), 1);
    }

    #[test]
    fn type_and_immutable_data_cannot_change() {
        let old = secret(
            json!({"type": "kubernetes.io/tls", "immutable": true, "stringData": {"tls.crt": "c", "tls.key": "k"}}),
        );
        let new = secret(json!({"type": "Opaque", "immutable": true, "stringData": {"tls.crt": "c2", "tls.key": "k"}}));
        assert_eq!(
            messages(SecretStrategy.validate_update(&new, &old)),
            vec![
                "type: Invalid value: \"Opaque\": field is immutable",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
    }
}
