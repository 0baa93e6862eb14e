//! authorization.k8s.io/v1: the access reviews (`kubectl auth can-i`), create-only kinds
//! the API server answers per request. Validation follows upstream's wording.

use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
};
use serde_json::Value;

use crate::strategy::{Strategy, normalize_as};
use crate::validation::FieldError;

fn present(spec: &Value, field: &str) -> bool {
    spec.get(field).is_some_and(|v| !v.is_null())
}

/// Exactly one of resource and non-resource attributes.
fn validate_attributes(spec: &Value) -> Vec<FieldError> {
    let resource = present(spec, "resourceAttributes");
    let non_resource = present(spec, "nonResourceAttributes");
    let mut errs = Vec::new();
    if resource && non_resource {
        errs.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            spec["nonResourceAttributes"].clone(),
            "cannot be specified in combination with resourceAttributes",
        ));
    }
    if !resource && !non_resource {
        errs.push(FieldError::invalid(
            "spec.resourceAttributes",
            Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    errs
}

/// A subject to review: a user, groups, or both.
fn validate_subject(spec: &Value) -> Vec<FieldError> {
    let user = spec.get("user").and_then(Value::as_str).unwrap_or("");
    let groups = spec.get("groups").and_then(Value::as_array).is_some_and(|g| !g.is_empty());
    if user.is_empty() && !groups {
        return vec![FieldError::invalid("spec.user", user, "at least one of user or group must be specified")];
    }
    Vec::new()
}

fn spec(obj: &Value) -> &Value {
    obj.get("spec").unwrap_or(&Value::Null)
}

pub struct SubjectAccessReviewStrategy;

impl Strategy for SubjectAccessReviewStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<SubjectAccessReview>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = validate_attributes(spec(obj));
        errs.extend(validate_subject(spec(obj)));
        errs
    }
}

pub struct SelfSubjectAccessReviewStrategy;

impl Strategy for SelfSubjectAccessReviewStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<SelfSubjectAccessReview>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        validate_attributes(spec(obj))
    }
}

pub struct LocalSubjectAccessReviewStrategy;

impl Strategy for LocalSubjectAccessReviewStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<LocalSubjectAccessReview>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let spec = spec(obj);
        let mut errs = validate_attributes(spec);
        errs.extend(validate_subject(spec));
        if present(spec, "nonResourceAttributes") {
            errs.push(FieldError::invalid(
                "spec.nonResourceAttributes",
                spec["nonResourceAttributes"].clone(),
                "disallowed on this kind of request",
            ));
        }
        errs
    }
}

pub struct SelfSubjectRulesReviewStrategy;

impl Strategy for SelfSubjectRulesReviewStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<SelfSubjectRulesReview>(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exactly_one_kind_of_attributes() {
        let both = json!({"spec": {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/"}}});
        let errs = SelfSubjectAccessReviewStrategy.validate_create(&both);
        assert_eq!(errs[0].field, "spec.nonResourceAttributes");
        let none = json!({"spec": {}});
        let errs = SelfSubjectAccessReviewStrategy.validate_create(&none);
        assert!(errs[0].cause_message().contains("exactly one of"), "{errs:?}");
        assert!(
            SelfSubjectAccessReviewStrategy.validate_create(&json!({"spec": {"resourceAttributes": {}}})).is_empty()
        );
    }

    #[test]
    fn subject_access_review_needs_a_subject() {
        let obj = json!({"spec": {"resourceAttributes": {"verb": "get"}}});
        assert_eq!(SubjectAccessReviewStrategy.validate_create(&obj)[0].field, "spec.user");
        let obj = json!({"spec": {"resourceAttributes": {"verb": "get"}, "groups": ["g"]}});
        assert!(SubjectAccessReviewStrategy.validate_create(&obj).is_empty());
    }

    #[test]
    fn local_review_refuses_non_resource_attributes() {
        let obj = json!({"spec": {"nonResourceAttributes": {"path": "/"}, "user": "u"}});
        let errs = LocalSubjectAccessReviewStrategy.validate_create(&obj);
        assert!(errs.iter().any(|e| e.cause_message().contains("disallowed")), "{errs:?}");
    }
}
