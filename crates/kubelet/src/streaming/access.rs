//! Who may use the streaming endpoint: clients whose certificate chains to the cluster's
//! client CA (checked by TLS) and whose identity is the API server's.
//!
//! Upstream kubelets ask the API server (SubjectAccessReview on `nodes/proxy`); k3rs'
//! kubelets only serve the API server, so a fixed set of identities is enough.

/// The API server's client identity (CN of its kubelet client certificate).
pub const APISERVER_USER: &str = "system:kube-apiserver";

/// A verified client certificate's identity: CN = user, O = groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub user: String,
    pub groups: Vec<String>,
}

/// The identities allowed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessPolicy {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy { users: vec![APISERVER_USER.to_string()], groups: Vec::new() }
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No client certificate (401).
    Unauthenticated,
    /// A valid certificate of someone else (403), with upstream's wording.
    Forbidden(String),
}

impl AccessPolicy {
    pub fn check(&self, identity: Option<&ClientIdentity>, method: &http::Method, path: &str) -> Result<(), Denial> {
        let Some(id) = identity else { return Err(Denial::Unauthenticated) };
        if self.users.contains(&id.user) || id.groups.iter().any(|g| self.groups.contains(g)) {
            return Ok(());
        }
        let verb = if method == http::Method::GET { "get" } else { "create" };
        let subresource = match path.trim_start_matches('/').split('/').next().unwrap_or("") {
            "healthz" => "healthz",
            _ => "proxy",
        };
        Err(Denial::Forbidden(format!(
            "Forbidden (user={}, verb={verb}, resource=nodes, subresource(s)=[{subresource}])",
            id.user
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(user: &str, groups: &[&str]) -> ClientIdentity {
        ClientIdentity { user: user.into(), groups: groups.iter().map(|g| g.to_string()).collect() }
    }

    #[test]
    fn only_the_api_server_by_default() {
        let policy = AccessPolicy::default();
        let get = http::Method::GET;
        assert_eq!(policy.check(Some(&id(APISERVER_USER, &[])), &get, "/exec/a/b/c"), Ok(()));
        assert_eq!(policy.check(None, &get, "/exec/a/b/c"), Err(Denial::Unauthenticated));
        let Err(Denial::Forbidden(msg)) = policy.check(Some(&id("system:admin", &["system:masters"])), &get, "/exec")
        else {
            panic!()
        };
        assert_eq!(msg, "Forbidden (user=system:admin, verb=get, resource=nodes, subresource(s)=[proxy])");
    }

    #[test]
    fn groups_can_be_allowed() {
        let policy = AccessPolicy { users: vec![], groups: vec!["system:masters".into()] };
        assert_eq!(policy.check(Some(&id("x", &["system:masters"])), &http::Method::POST, "/portForward/a/b"), Ok(()));
        assert!(policy.check(Some(&id(APISERVER_USER, &[])), &http::Method::POST, "/portForward/a/b").is_err());
    }
}
