//! Who may use the join endpoints: holders of the server token (servers and agents), of the
//! agent token (agents), or of a valid bootstrap token (agents), sent as HTTP Basic
//! `<user>:<secret>` (bootstrap tokens also as a bearer token).

use http::request::Parts;
use k3rs_pki::JoinToken;
use k3rs_pki::join::{AGENT_USER, SERVER_USER, parse_basic_auth};

use crate::authn::{bearer_token, bootstrap_token};
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRole {
    Agent,
    Server,
}

fn matches(token: &JoinToken, secret: &str) -> bool {
    let presented = JoinToken { ca_hash: None, username: token.username.clone(), secret: secret.to_string() };
    token.credentials_match(&presented)
}

/// The role the request's credentials grant, `None` when they grant none.
pub async fn authenticate(state: &AppState, req: &Parts) -> Option<JoinRole> {
    let (user, secret) = match req.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) => match parse_basic_auth(v) {
            Some(pair) => pair,
            None => (AGENT_USER.to_string(), bearer_token(&req.headers)?.to_string()),
        },
        None => return None,
    };
    let tokens = &state.options.join_tokens;
    match user.as_str() {
        SERVER_USER if matches(&tokens.server, &secret) => Some(JoinRole::Server),
        AGENT_USER => {
            if matches(&tokens.server, &secret) || tokens.agent.as_ref().is_some_and(|t| matches(t, &secret)) {
                return Some(JoinRole::Agent);
            }
            if bootstrap_token::is_bootstrap_token(&secret) {
                return match bootstrap_token::lookup(state, &secret, "usage-bootstrap-authentication").await {
                    Ok(_) => Some(JoinRole::Agent),
                    Err(reason) => {
                        tracing::debug!(%reason, "bootstrap token refused at join");
                        None
                    }
                };
            }
            None
        }
        _ => None,
    }
}
