//! ConfigMaps: key names, the 1 MiB size limit, `immutable`, and the DATA column.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{Value, json};

use crate::kinds::common::data_keys::{MAX_DATA_SIZE, config_key_errors};
use crate::kinds::common::typed::decode_or_default;
use crate::strategy::{Context, Strategy, decode, normalize_as};
use crate::table::{Column, age};
use crate::validation::{FieldError, FieldPath};

pub struct ConfigMapStrategy;

/// The message upstream gives when an immutable ConfigMap or Secret would change.
pub const IMMUTABLE_MESSAGE: &str = "field is immutable when `immutable` is set";

fn validate(cm: &ConfigMap) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let empty = BTreeMap::new();
    let data = cm.data.as_ref().unwrap_or(&empty);
    let binary = cm.binary_data.clone().unwrap_or_default();
    let mut total = 0usize;
    for (k, v) in data {
        let p = FieldPath::root("data").key(k);
        errs.extend(config_key_errors(k).into_iter().map(|m| FieldError::invalid(&p, k.as_str(), m)));
        if binary.contains_key(k) {
            errs.push(FieldError::invalid(&p, k.as_str(), "duplicate of key present in binaryData"));
        }
        total += v.len();
    }
    for (k, v) in &binary {
        let p = FieldPath::root("binaryData").key(k);
        errs.extend(config_key_errors(k).into_iter().map(|m| FieldError::invalid(&p, k.as_str(), m)));
        total += v.0.len();
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long("", MAX_DATA_SIZE));
    }
    errs
}

impl Strategy for ConfigMapStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<ConfigMap>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match decode::<ConfigMap>(obj) {
            Ok(cm) => validate(&cm),
            Err(e) => vec![FieldError::invalid("data", Value::Null, e)],
        }
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let (n, o): (ConfigMap, ConfigMap) = (decode_or_default(new), decode_or_default(old));
        let mut errs = Vec::new();
        if o.immutable == Some(true) {
            if n.immutable != Some(true) {
                errs.push(FieldError::forbidden("immutable", IMMUTABLE_MESSAGE));
            }
            if n.data != o.data {
                errs.push(FieldError::forbidden("data", IMMUTABLE_MESSAGE));
            }
            if n.binary_data != o.binary_data {
                errs.push(FieldError::forbidden("binaryData", IMMUTABLE_MESSAGE));
            }
        }
        errs.extend(self.validate_create(new));
        errs
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::new("Data", "string", "Data contains the configuration data."), Column::age()]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let count = |k: &str| obj.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
        vec![json!(count("data") + count("binaryData")), json!(age(obj, ctx))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: Vec<FieldError>) -> Vec<String> {
        errs.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn keys_and_size() {
        let v = json!({"data": {"ok.key": "1", "bad/key": "2", "dup": "x"}, "binaryData": {"dup": "eA=="}});
        assert_eq!(
            messages(ConfigMapStrategy.validate_create(&v)),
            vec![
                "data[bad/key]: Invalid value: \"bad/key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                "data[dup]: Invalid value: \"dup\": duplicate of key present in binaryData",
            ]
        );
        let big = json!({"data": {"a": "x".repeat(MAX_DATA_SIZE + 1)}});
        assert_eq!(
            messages(ConfigMapStrategy.validate_create(&big)),
            vec![": Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn immutable_blocks_changes() {
        let old = json!({"data": {"a": "1"}, "immutable": true});
        let new = json!({"data": {"a": "2"}});
        assert_eq!(
            messages(ConfigMapStrategy.validate_update(&new, &old)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        assert!(ConfigMapStrategy.validate_update(&old, &old).is_empty());
    }

    #[test]
    fn data_column_counts_both_maps() {
        let v = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "eA=="}});
        assert_eq!(ConfigMapStrategy.row(&v, &Context::now())[0], json!(3));
    }
}
