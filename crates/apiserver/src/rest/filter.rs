//! Label and field selector filtering of list and watch results.

use k3rs_api::selector::{FieldSelector, LabelSelector};
use k3rs_api::{ApiError, ResourceDef, meta};
use serde_json::Value;

use super::ResourceRequest;

pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn from_request(r: &ResourceRequest) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(r.query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse labelSelector: {e}")))?;
        let mut fields =
            FieldSelector::parse(r.query.get("fieldSelector").unwrap_or("")).map_err(ApiError::bad_request)?;
        // A watch of one named object is a watch with a name field selector.
        if let Some(name) = &r.info.name {
            fields.requirements.push(k3rs_api::selector::FieldRequirement {
                field: "metadata.name".into(),
                value: name.clone(),
                negated: false,
            });
        }
        Ok(Filter { labels, fields })
    }

    pub fn is_everything(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether `obj` (in the request's version) is selected.
    pub fn matches(&self, def: &ResourceDef, obj: &Value) -> Result<bool, ApiError> {
        if !self.labels.matches(meta::labels(obj)) {
            return Ok(false);
        }
        self.fields
            .matches(|field| match field {
                "metadata.name" => Some(meta::name(obj).to_string()),
                "metadata.namespace" => Some(meta::namespace(obj).to_string()),
                other => def.strategy.field_label(obj, other),
            })
            .map_err(ApiError::bad_request)
    }
}
