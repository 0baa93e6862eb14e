//! Impersonation (`kubectl --as`, `--as-group`): a user allowed the `impersonate` verb on
//! users, groups, service accounts, uids and user extras may act as someone else. Each
//! requested attribute is authorized on its own, as upstream does.

use http::HeaderMap;
use k3rs_api::ApiError;

use super::service_account;
use super::{AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP, UserInfo};
use crate::authz::{Attributes, ResourceAttributes, authorize, forbidden};
use crate::state::AppState;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect()
}

/// Whether the request asks to impersonate anyone.
pub fn requested(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str() == USER || k.as_str() == GROUP || k.as_str() == UID || k.as_str().starts_with(EXTRA_PREFIX))
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("k={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The user the request acts as: `user` itself, or whom it may impersonate.
pub async fn apply(state: &AppState, headers: &HeaderMap, user: UserInfo) -> Result<UserInfo, ApiError> {
    if !requested(headers) {
        return Ok(user);
    }
    let Some(name) = values(headers, USER).first().map(|s| s.to_string()) else {
        return Err(ApiError::bad_request(
            "requested impersonation of groups, a uid or extras without impersonating a user",
        ));
    };
    let mut checks: Vec<ResourceAttributes> = Vec::new();
    let mut target = UserInfo { name: name.clone(), ..Default::default() };
    match service_account::split_username(&name) {
        Some((ns, sa)) => {
            checks.push(ResourceAttributes {
                resource: "serviceaccounts".into(),
                namespace: ns.into(),
                name: sa.into(),
                ..Default::default()
            });
            target.groups.extend(service_account::groups(ns));
        }
        None => checks.push(ResourceAttributes { resource: "users".into(), name: name.clone(), ..Default::default() }),
    }
    for group in values(headers, GROUP) {
        checks.push(ResourceAttributes { resource: "groups".into(), name: group.into(), ..Default::default() });
        if !target.groups.iter().any(|g| g == group) {
            target.groups.push(group.to_string());
        }
    }
    if let Some(uid) = values(headers, UID).first() {
        checks.push(ResourceAttributes {
            group: "authentication.k8s.io".into(),
            resource: "uids".into(),
            name: uid.to_string(),
            ..Default::default()
        });
        target.uid = uid.to_string();
    }
    for key in headers.keys().filter(|k| k.as_str().starts_with(EXTRA_PREFIX)) {
        let extra = percent_decode(&key.as_str()[EXTRA_PREFIX.len()..]);
        for v in values(headers, key.as_str()) {
            checks.push(ResourceAttributes {
                group: "authentication.k8s.io".into(),
                resource: "userextras".into(),
                subresource: extra.clone(),
                name: v.to_string(),
                ..Default::default()
            });
            target.extra.entry(extra.clone()).or_default().push(v.to_string());
        }
    }
    for check in checks {
        let attrs =
            Attributes { user: user.clone(), verb: "impersonate".into(), resource: Some(check), path: String::new() };
        if let Err(reason) = authorize(state, &attrs).await {
            return Err(forbidden(&attrs, &reason));
        }
    }
    let implied = if name == super::ANONYMOUS_USER { UNAUTHENTICATED_GROUP } else { AUTHENTICATED_GROUP };
    if !target.groups.iter().any(|g| g == implied) {
        target.groups.push(implied.into());
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_impersonation_headers() {
        let mut h = HeaderMap::new();
        assert!(!requested(&h));
        h.insert("impersonate-extra-scopes", "x".parse().unwrap());
        assert!(requested(&h));
        assert_eq!(percent_decode("acme.com%2Fproject"), "acme.com/project");
    }
}
