//! Who is asking. For now: a client certificate signed by the cluster's client
//! CA (CN = user, O = groups); requests without one are anonymous and may only
//! reach the open health and version endpoints.

use axum::extract::Request;

/// The identity of a verified client certificate, attached per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub user: String,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn anonymous() -> Self {
        UserInfo { name: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()] }
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == "system:anonymous"
    }
}

/// Paths anyone may read, as upstream's `system:public-info-viewer` allows.
pub fn is_open_path(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz" | "/version")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

pub fn authenticate(req: &Request) -> UserInfo {
    match req.extensions().get::<PeerCertificate>() {
        Some(peer) => {
            let mut groups = peer.groups.clone();
            groups.push("system:authenticated".into());
            UserInfo { name: peer.user.clone(), groups }
        }
        None => UserInfo::anonymous(),
    }
}
