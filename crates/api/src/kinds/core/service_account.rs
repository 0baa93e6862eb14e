//! ServiceAccounts: the typed shape and the SECRETS column (the token subresource is
//! served by the API server).

use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::{Value, json};

use crate::strategy::{Context, Strategy, normalize_as};
use crate::table::{Column, age};

pub struct ServiceAccountStrategy;

impl Strategy for ServiceAccountStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<ServiceAccount>(obj)
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new(
                "Secrets",
                "string",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            ),
            Column::age(),
        ]
    }

    fn row(&self, obj: &Value, ctx: &Context) -> Vec<Value> {
        let secrets = obj.get("secrets").and_then(Value::as_array).map_or(0, Vec::len);
        vec![json!(secrets), json!(age(obj, ctx))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_column() {
        let mut v = json!({"metadata": {"name": "default"}, "secrets": [{"name": "a"}], "bogus": 1});
        ServiceAccountStrategy.normalize(&mut v).unwrap();
        assert!(v.get("bogus").is_none());
        assert_eq!(ServiceAccountStrategy.row(&v, &Context::now())[0], json!(1));
    }
}
