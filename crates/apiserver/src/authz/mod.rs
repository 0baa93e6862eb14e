//! May this user do this? Every request is authorized after authentication, in upstream's
//! order: members of `system:masters` may do anything; a kubelet's requests go to the Node
//! authorizer first; then RBAC decides. A refusal becomes a 403 with upstream's message
//! (`User "x" cannot list resource "pods" in API group "" in the namespace "default"`).

pub mod node;
pub mod rbac;

use http::Method;
use k3rs_api::ApiError;

use crate::authn::UserInfo;
use crate::route::{RequestInfo, Route};
use crate::state::AppState;

/// The group that may do anything, whatever RBAC says.
pub const MASTERS_GROUP: &str = "system:masters";

/// What a resource request addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// The raw field selector of a list or watch (the Node authorizer reads it).
    pub field_selector: String,
}

/// A request as authorizers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    pub verb: String,
    /// `None` for a non-resource request (discovery, health, OpenAPI).
    pub resource: Option<ResourceAttributes>,
    /// The request path (what non-resource rules match).
    pub path: String,
}

/// An authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, with a reason that ends up in the message.
    Deny(String),
    /// Someone else decides; the reason is kept in case nobody allows.
    NoOpinion(String),
}

/// The `fieldSelector` value of `metadata.name=<x>` (or `==`), the name a list or watch of
/// one object is authorized for, as upstream does.
fn name_from_field_selector(selector: &str) -> Option<String> {
    selector.split(',').find_map(|req| {
        let (field, value) = req.split_once("==").or_else(|| req.split_once('='))?;
        (field.trim() == "metadata.name" && !field.ends_with('!')).then(|| value.trim().to_string())
    })
}

fn query_value(query: Option<&str>, key: &str) -> String {
    query
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned()))
        .unwrap_or_default()
}

impl Attributes {
    /// The attributes of a resource request.
    pub fn for_resource(user: UserInfo, info: &RequestInfo, query: Option<&str>) -> Self {
        let field_selector = query_value(query, "fieldSelector");
        let name = match &info.name {
            Some(n) => n.clone(),
            None => name_from_field_selector(&field_selector).unwrap_or_default(),
        };
        Attributes {
            user,
            verb: info.verb.as_str().to_string(),
            resource: Some(ResourceAttributes {
                group: info.group.clone(),
                version: info.version.clone(),
                resource: info.resource.clone(),
                subresource: info.subresource.clone().unwrap_or_default(),
                namespace: info.namespace.clone().unwrap_or_default(),
                name,
                field_selector,
            }),
            path: String::new(),
        }
    }

    /// The attributes of any request.
    pub fn for_request(user: UserInfo, method: &Method, route: &Route, path: &str, query: Option<&str>) -> Self {
        match route {
            Route::Resource(info) => Self::for_resource(user, info, query),
            _ => {
                Attributes { user, verb: method.as_str().to_ascii_lowercase(), resource: None, path: path.to_string() }
            }
        }
    }

    pub fn namespace(&self) -> &str {
        self.resource.as_ref().map(|r| r.namespace.as_str()).unwrap_or("")
    }
}

/// Decides a request: `Ok` when allowed, else the reasons authorizers gave (possibly empty).
pub async fn authorize(state: &AppState, attrs: &Attributes) -> Result<(), String> {
    if attrs.user.in_group(MASTERS_GROUP) {
        return Ok(());
    }
    let mut reason = String::new();
    if let Some(node) = node::node_name(&attrs.user) {
        match node::authorize(state, &node, attrs).await {
            Decision::Allow => return Ok(()),
            Decision::Deny(r) => return Err(r),
            Decision::NoOpinion(r) => reason = r,
        }
    }
    if state.rbac.snapshot().allows(attrs) {
        return Ok(());
    }
    Err(reason)
}

/// Upstream's wording of what a user may not do.
pub fn forbidden_message(attrs: &Attributes) -> String {
    let user = &attrs.user.name;
    match &attrs.resource {
        None => format!("User {user:?} cannot {} path {:?}", attrs.verb, attrs.path),
        Some(r) => {
            let resource =
                if r.subresource.is_empty() { r.resource.clone() } else { format!("{}/{}", r.resource, r.subresource) };
            if r.namespace.is_empty() {
                format!(
                    "User {user:?} cannot {} resource {resource:?} in API group {:?} at the cluster scope",
                    attrs.verb, r.group
                )
            } else {
                format!(
                    "User {user:?} cannot {} resource {resource:?} in API group {:?} in the namespace {:?}",
                    attrs.verb, r.group, r.namespace
                )
            }
        }
    }
}

/// The 403 answer to a refused request.
pub fn forbidden(attrs: &Attributes, reason: &str) -> ApiError {
    let mut cause = forbidden_message(attrs);
    if !reason.is_empty() {
        cause = format!("{cause}: {reason}");
    }
    match &attrs.resource {
        None => ApiError::forbidden(format!("forbidden: {cause}")),
        Some(r) => {
            let qualified = k3rs_api::error::qualified(&r.resource, &r.group);
            let message = if r.name.is_empty() {
                format!("{qualified} is forbidden: {cause}")
            } else {
                format!("{qualified} {:?} is forbidden: {cause}", r.name)
            };
            ApiError::forbidden(message).with_details(&r.group, &r.resource, &r.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Verb;

    fn info(ns: Option<&str>, name: Option<&str>) -> RequestInfo {
        RequestInfo {
            verb: Verb::List,
            group: String::new(),
            version: "v1".into(),
            namespace: ns.map(String::from),
            resource: "pods".into(),
            name: name.map(String::from),
            subresource: None,
        }
    }

    #[test]
    fn messages_match_upstream() {
        let user = UserInfo::authenticated("system:serviceaccount:default:sa", vec![]);
        let attrs = Attributes::for_resource(user.clone(), &info(Some("default"), None), None);
        assert_eq!(
            forbidden(&attrs, "").message,
            "pods is forbidden: User \"system:serviceaccount:default:sa\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let mut one = info(None, Some("x"));
        one.verb = Verb::Get;
        one.resource = "nodes".into();
        let attrs = Attributes::for_resource(user.clone(), &one, None);
        assert_eq!(
            forbidden(&attrs, "because").message,
            "nodes \"x\" is forbidden: User \"system:serviceaccount:default:sa\" cannot get resource \"nodes\" in API group \"\" at the cluster scope: because"
        );
        let attrs = Attributes::for_request(user, &Method::GET, &Route::CoreGroup, "/api", None);
        assert_eq!(
            forbidden(&attrs, "").message,
            "forbidden: User \"system:serviceaccount:default:sa\" cannot get path \"/api\""
        );
    }

    #[test]
    fn a_list_of_one_name_is_authorized_for_that_name() {
        let attrs = Attributes::for_resource(
            UserInfo::anonymous(),
            &info(Some("ns"), None),
            Some("fieldSelector=metadata.name%3Dweb&watch=true"),
        );
        let r = attrs.resource.unwrap();
        assert_eq!((r.name.as_str(), r.field_selector.as_str()), ("web", "metadata.name=web"));
        assert_eq!(name_from_field_selector("metadata.name!=x"), None);
        assert_eq!(name_from_field_selector("spec.nodeName=n,metadata.name==y"), Some("y".into()));
    }
}
