//! authentication.k8s.io/v1: TokenReview and SelfSubjectReview, create-only kinds the
//! API server answers per request (the `serviceaccounts/token` subresource's TokenRequest
//! lives with ServiceAccount).

use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenReview};
use serde_json::Value;

use crate::strategy::{Strategy, normalize_as};
use crate::validation::FieldError;

pub struct TokenReviewStrategy;

impl Strategy for TokenReviewStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<TokenReview>(obj)
    }

    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        match obj.pointer("/spec/token").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => Vec::new(),
            _ => vec![FieldError::required("spec.token", "token is required for TokenReview in authentication")],
        }
    }
}

pub struct SelfSubjectReviewStrategy;

impl Strategy for SelfSubjectReviewStrategy {
    fn normalize(&self, obj: &mut Value) -> Result<(), String> {
        normalize_as::<SelfSubjectReview>(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_review_needs_a_token() {
        let errs = TokenReviewStrategy.validate_create(&json!({"spec": {}}));
        assert_eq!(errs.len(), 1);
        assert!(TokenReviewStrategy.validate_create(&json!({"spec": {"token": "x"}})).is_empty());
    }
}
