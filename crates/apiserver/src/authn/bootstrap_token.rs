//! Bootstrap tokens: `<id>.<secret>` (6 and 16 characters of `[a-z0-9]`), stored as Secrets
//! `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token`, with an optional
//! expiry. They authenticate as `system:bootstrap:<id>` in `system:bootstrappers` (plus the
//! secret's `auth-extra-groups`), and agents may join with them (`k3rs token create`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::UserInfo;
use crate::state::AppState;

pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const SECRET_NAME_PREFIX: &str = "bootstrap-token-";
pub const NAMESPACE: &str = "kube-system";
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
pub const USER_PREFIX: &str = "system:bootstrap:";
/// The extra group `k3rs token create` gives tokens, as K3s does.
pub const DEFAULT_EXTRA_GROUP: &str = "system:bootstrappers:k3rs:default-node-token";

fn token_chars(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Whether `token` has the bootstrap token form.
pub fn is_bootstrap_token(token: &str) -> bool {
    token.split_once('.').is_some_and(|(id, secret)| token_chars(id, 6) && token_chars(secret, 16))
}

/// A new random token: (id, secret).
pub fn generate() -> (String, String) {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut pick = |n: usize| (0..n).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect::<String>();
    (pick(6), pick(16))
}

/// The Secret that stores a token. `expiration` is RFC 3339; `None` never expires.
pub fn secret_for(id: &str, secret: &str, expiration: Option<&str>, description: &str, groups: &[String]) -> Value {
    let mut data = serde_json::Map::new();
    let mut put = |k: &str, v: &str| {
        data.insert(k.to_string(), json!(STANDARD.encode(v)));
    };
    put("token-id", id);
    put("token-secret", secret);
    put("usage-bootstrap-authentication", "true");
    put("usage-bootstrap-signing", "true");
    if !description.is_empty() {
        put("description", description);
    }
    if let Some(exp) = expiration {
        put("expiration", exp);
    }
    if !groups.is_empty() {
        put("auth-extra-groups", &groups.join(","));
    }
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
        "metadata": {"name": format!("{SECRET_NAME_PREFIX}{id}"), "namespace": NAMESPACE},
        "data": data,
    })
}

/// A decoded `data` entry of a Secret.
pub fn data_field(secret: &Value, key: &str) -> Option<String> {
    let encoded = secret.pointer(&format!("/data/{key}"))?.as_str()?;
    String::from_utf8(STANDARD.decode(encoded).ok()?).ok()
}

/// Whether a token Secret has expired at `now`; an unreadable expiry counts as expired.
pub fn is_expired(secret: &Value, now: jiff::Timestamp) -> bool {
    match data_field(secret, "expiration") {
        None => false,
        Some(exp) => exp.parse::<jiff::Timestamp>().map(|t| t <= now).unwrap_or(true),
    }
}

/// Checks a token against its Secret; the error says why it is refused (for logs only).
pub fn check(secret: &Value, token_secret: &str, usage: &str, now: jiff::Timestamp) -> Result<(), String> {
    if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return Err("the token's Secret has the wrong type".into());
    }
    if k3rs_api::meta::deletion_timestamp(secret).is_some() {
        return Err("the token is being deleted".into());
    }
    let stored = data_field(secret, "token-secret").unwrap_or_default();
    if !constant_time_eq(stored.as_bytes(), token_secret.as_bytes()) {
        return Err("wrong token secret".into());
    }
    if is_expired(secret, now) {
        return Err("the token has expired".into());
    }
    if data_field(secret, usage).as_deref() != Some("true") {
        return Err(format!("the token is not for {usage}"));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Looks up and checks `token` for `usage` (`usage-bootstrap-authentication`); returns its Secret.
pub async fn lookup(state: &AppState, token: &str, usage: &str) -> Result<Value, String> {
    let (id, token_secret) = token.split_once('.').ok_or("not a bootstrap token")?;
    let key = format!("/registry/secrets/{NAMESPACE}/{SECRET_NAME_PREFIX}{id}");
    let secret = state.get_object(&key).await.map_err(|e| e.message)?.ok_or("no such token")?;
    check(&secret, token_secret, usage, jiff::Timestamp::now())?;
    Ok(secret)
}

/// Authenticates an API request carrying a bootstrap token.
pub async fn authenticate(state: &AppState, token: &str) -> Result<UserInfo, String> {
    let secret = lookup(state, token, "usage-bootstrap-authentication").await?;
    let id = token.split('.').next().unwrap_or_default();
    let mut groups = vec![BOOTSTRAPPERS_GROUP.to_string()];
    for g in data_field(&secret, "auth-extra-groups").unwrap_or_default().split(',').map(str::trim) {
        // Upstream only honours extra groups inside the bootstrappers namespace of groups.
        if g.starts_with("system:bootstrappers:") && !groups.iter().any(|x| x == g) {
            groups.push(g.to_string());
        }
    }
    Ok(UserInfo::authenticated(format!("{USER_PREFIX}{id}"), groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_form() {
        let (id, secret) = generate();
        assert!(is_bootstrap_token(&format!("{id}.{secret}")));
        for bad in ["abcdef.0123456789abcde", "ABCDEF.0123456789abcdef", "abcdef0123456789abcdef", "a.b"] {
            assert!(!is_bootstrap_token(bad), "{bad}");
        }
    }

    #[test]
    fn secrets_are_checked_for_secret_expiry_and_usage() {
        let now = jiff::Timestamp::now();
        let later = (now + jiff::SignedDuration::from_hours(1)).to_string();
        let earlier = (now - jiff::SignedDuration::from_hours(1)).to_string();
        let usage = "usage-bootstrap-authentication";
        let live = secret_for("abcdef", "0123456789abcdef", Some(&later), "d", &[]);
        assert_eq!(check(&live, "0123456789abcdef", usage, now), Ok(()));
        assert!(check(&live, "0123456789abcdeX", usage, now).is_err());
        let expired = secret_for("abcdef", "0123456789abcdef", Some(&earlier), "", &[]);
        assert_eq!(check(&expired, "0123456789abcdef", usage, now), Err("the token has expired".into()));
        assert!(is_expired(&expired, now));
        let forever = secret_for("abcdef", "0123456789abcdef", None, "", &[]);
        assert!(check(&forever, "0123456789abcdef", usage, now).is_ok());
        assert!(check(&forever, "0123456789abcdef", "usage-other", now).is_err());
        assert_eq!(data_field(&forever, "token-id").as_deref(), Some("abcdef"));
    }
}
