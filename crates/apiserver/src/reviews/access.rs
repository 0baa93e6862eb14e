//! Access reviews: the same authorizers as live requests, asked about a described request.

use k3rs_api::ApiError;
use serde_json::{Value, json};

use crate::authn::UserInfo;
use crate::authz::rbac::PolicyRule;
use crate::authz::{Attributes, MASTERS_GROUP, ResourceAttributes, authorize, node};
use crate::rest::ResourceRequest;

fn s(v: &Value, field: &str) -> String {
    v.get(field).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The request a review describes.
fn attributes(user: UserInfo, spec: &Value) -> Attributes {
    if let Some(nr) = spec.get("nonResourceAttributes").filter(|v| !v.is_null()) {
        return Attributes { user, verb: s(nr, "verb"), resource: None, path: s(nr, "path") };
    }
    let ra = spec.get("resourceAttributes").cloned().unwrap_or(Value::Null);
    Attributes {
        user,
        verb: s(&ra, "verb"),
        resource: Some(ResourceAttributes {
            group: s(&ra, "group"),
            version: s(&ra, "version"),
            resource: s(&ra, "resource"),
            subresource: s(&ra, "subresource"),
            namespace: s(&ra, "namespace"),
            name: s(&ra, "name"),
            field_selector: ra.pointer("/fieldSelector/rawSelector").and_then(Value::as_str).unwrap_or("").to_string(),
        }),
        path: String::new(),
    }
}

/// The status of a (self, local) subject access review; `self_user` for self reviews.
pub async fn subject_access_review(
    r: &ResourceRequest,
    spec: &Value,
    self_user: Option<&UserInfo>,
) -> Result<Value, ApiError> {
    let user = match self_user {
        Some(u) => u.clone(),
        None => UserInfo::from_json(spec),
    };
    let attrs = attributes(user, spec);
    match authorize(&r.state, &attrs).await {
        Ok(()) => {
            let reason = r.state.rbac.snapshot().allowed_by(&attrs).unwrap_or_default();
            let mut status = json!({"allowed": true});
            if !reason.is_empty() {
                status["reason"] = json!(reason);
            }
            Ok(status)
        }
        Err(reason) => {
            let mut status = json!({"allowed": false});
            if !reason.is_empty() {
                status["reason"] = json!(reason);
            }
            Ok(status)
        }
    }
}

fn rule_json(rule: &PolicyRule) -> (bool, Value) {
    if !rule.non_resource_urls.is_empty() {
        return (false, json!({"verbs": rule.verbs, "nonResourceURLs": rule.non_resource_urls}));
    }
    let mut v = json!({"verbs": rule.verbs, "apiGroups": rule.api_groups, "resources": rule.resources});
    if !rule.resource_names.is_empty() {
        v["resourceNames"] = json!(rule.resource_names);
    }
    (true, v)
}

/// What the requester may do in `spec.namespace`.
pub fn rules_review(r: &ResourceRequest, spec: &Value) -> Result<Value, ApiError> {
    let namespace = s(spec, "namespace");
    if namespace.is_empty() {
        return Err(ApiError::bad_request("no namespace on request"));
    }
    let mut rules = r.state.rbac.snapshot().rules_for(&r.user, &namespace);
    if r.user.in_group(MASTERS_GROUP) {
        rules.insert(0, PolicyRule::from_json(&json!({"verbs": ["*"], "nonResourceURLs": ["*"]})));
        rules.insert(0, PolicyRule::from_json(&json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})));
    }
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in &rules {
        match rule_json(rule) {
            (true, v) => resource_rules.push(v),
            (false, v) => non_resource_rules.push(v),
        }
    }
    // The Node authorizer decides per object: its grants cannot be listed as rules.
    let incomplete = node::node_name(&r.user).is_some();
    let mut status =
        json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": incomplete});
    if incomplete {
        status["evaluationError"] = json!("node authorizer does not support user rule resolution");
    }
    Ok(status)
}
