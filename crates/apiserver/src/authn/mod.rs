//! Who is asking. Each request is authenticated by the first credential it carries:
//!
//! - a client certificate signed by the cluster's client CA (CN = user, O = groups), verified
//!   during the TLS handshake;
//! - a bearer token: a bootstrap token (`<id>.<secret>`, a Secret in kube-system) or a
//!   service-account JWT signed with the cluster's service-account key.
//!
//! A request with no credential is anonymous and may only reach the open paths. A credential
//! that does not check out is refused with 401, as upstream does, even on open paths.

pub mod bootstrap_token;
pub mod impersonation;
pub mod service_account;

use std::collections::BTreeMap;

use axum::extract::Request;
use http::HeaderMap;
use k3rs_api::ApiError;
use serde_json::{Value, json};

use crate::state::AppState;

/// The group of every authenticated user.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group of anonymous requests.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
/// The user of anonymous requests.
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// The identity of a verified client certificate, attached per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub user: String,
    pub groups: Vec<String>,
}

/// An authenticated user, as authorization and `SelfSubjectReview` see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        UserInfo { name: ANONYMOUS_USER.into(), groups: vec![UNAUTHENTICATED_GROUP.into()], ..Default::default() }
    }

    /// A user with `groups` plus `system:authenticated`.
    pub fn authenticated(name: impl Into<String>, mut groups: Vec<String>) -> Self {
        if !groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            groups.push(AUTHENTICATED_GROUP.into());
        }
        UserInfo { name: name.into(), groups, ..Default::default() }
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == ANONYMOUS_USER
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The `userInfo` object of reviews (`username`, `uid`, `groups`, `extra`).
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }

    /// Reads a `userInfo` object (or SubjectAccessReview spec fields `user`/`username`).
    pub fn from_json(v: &Value) -> Self {
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let name = v.get("username").or_else(|| v.get("user")).and_then(Value::as_str).unwrap_or("").to_string();
        let extra = v
            .get("extra")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, vals)| (k.clone(), strings(Some(vals)))).collect())
            .unwrap_or_default();
        UserInfo {
            name,
            uid: v.get("uid").and_then(Value::as_str).unwrap_or("").to_string(),
            groups: strings(v.get("groups")),
            extra,
        }
    }
}

/// Paths anyone may read: health, version, and the join flow's CA bundle and ping.
pub fn is_open_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz" | "/version" | "/cacerts" | "/ping")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The verified client certificate of a request, if it came with one.
pub fn peer_certificate(req: &Request) -> Option<PeerCertificate> {
    req.extensions().get::<PeerCertificate>().cloned()
}

/// Authenticates a request by its client certificate or headers; anonymous when it carries
/// no credential.
pub async fn authenticate(
    state: &AppState,
    peer: Option<PeerCertificate>,
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    if let Some(peer) = peer {
        return Ok(UserInfo::authenticated(peer.user, peer.groups));
    }
    match bearer_token(headers) {
        Some(token) => authenticate_token(state, token).await.ok_or_else(ApiError::unauthorized),
        None => Ok(UserInfo::anonymous()),
    }
}

/// The user a bearer token stands for (what TokenReview answers), `None` when it is not valid.
pub async fn authenticate_token(state: &AppState, token: &str) -> Option<UserInfo> {
    if bootstrap_token::is_bootstrap_token(token) {
        return match bootstrap_token::authenticate(state, token).await {
            Ok(user) => Some(user),
            Err(reason) => {
                tracing::debug!(%reason, "bootstrap token refused");
                None
            }
        };
    }
    if k3rs_pki::jwt::looks_like_jwt(token) {
        return match service_account::authenticate(state, token).await {
            Ok(user) => Some(user),
            Err(reason) => {
                tracing::debug!(%reason, "service-account token refused");
                None
            }
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_paths() {
        for p in ["/healthz", "/readyz/ping", "/version", "/cacerts", "/ping", "/livez"] {
            assert!(is_open_path(p), "{p}");
        }
        for p in ["/api", "/apis", "/openapi/v3", "/v1-k3rs/apiservers", "/healthzx"] {
            assert!(!is_open_path(p), "{p}");
        }
    }

    #[test]
    fn user_info_round_trips_as_json() {
        let mut u = UserInfo::authenticated("jane", vec!["dev".into()]);
        u.uid = "1".into();
        u.extra.insert("k".into(), vec!["v".into()]);
        assert_eq!(UserInfo::from_json(&u.to_json()), u);
        assert_eq!(u.groups, vec!["dev", "system:authenticated"]);
        assert!(UserInfo::anonymous().is_anonymous());
    }
}
