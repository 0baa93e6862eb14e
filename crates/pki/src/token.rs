//! K3s-style join tokens.
//!
//! Full form: `K10<sha256 hex of the server CA bundle>::<user>:<secret>`. A joining node
//! fetches `/cacerts` without verification, checks its hash against the token, and only then
//! trusts the server enough to send the secret. Short form: the bare secret, with user
//! `server` and no CA pinning.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::{PkiError, Result};

/// Marks the full token form.
pub const TOKEN_PREFIX: &str = "K10";
/// The user of server (and short-form) tokens.
pub const SERVER_USER: &str = "server";
/// Bytes of randomness in a generated secret (hex-encoded, so twice as many characters).
const SECRET_BYTES: usize = 16;

/// A fresh random secret: 32 lowercase hex characters.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The CA hash a full token pins: SHA-256 hex of the CA bundle exactly as `/cacerts` serves it.
pub fn ca_hash(ca_bundle: &[u8]) -> String {
    hex::encode(Sha256::digest(ca_bundle))
}

/// A parsed join token.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// SHA-256 hex of the server's CA bundle (lowercase); `None` for short tokens.
    pub ca_hash: Option<String>,
    /// Who the token authenticates as (`server` for server tokens).
    pub username: String,
    /// The secret.
    pub secret: String,
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_hash", &self.ca_hash)
            .field("username", &self.username)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl JoinToken {
    /// The full server token for a cluster whose CA bundle hashes to `ca_hash`.
    pub fn server(ca_hash: impl Into<String>, secret: impl Into<String>) -> Self {
        JoinToken { ca_hash: Some(ca_hash.into()), username: SERVER_USER.to_string(), secret: secret.into() }
    }

    /// Parses the full form (`K10<hash>::<user>:<secret>`) or a bare secret.
    pub fn parse(token: &str) -> Result<Self> {
        let token = token.trim();
        if token.is_empty() {
            return Err(PkiError::InvalidToken("the token is empty".into()));
        }
        let Some(rest) = token.strip_prefix(TOKEN_PREFIX).filter(|rest| rest.contains("::")) else {
            // Short form: the whole string is the secret, even if it contains ':'.
            return Ok(JoinToken { ca_hash: None, username: SERVER_USER.to_string(), secret: token.to_string() });
        };
        let (hash, credentials) = rest.split_once("::").unwrap_or((rest, ""));
        let ca_hash = match hash {
            "" => None,
            h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Some(h.to_ascii_lowercase()),
            _ => {
                return Err(PkiError::InvalidToken(
                    "the CA hash after K10 must be 64 hexadecimal characters (SHA-256)".into(),
                ));
            }
        };
        // A bootstrap token (`<id>.<secret>`, from `k3rs token create`) stands for an agent.
        let (username, secret) = match credentials.split_once(':') {
            Some(pair) => pair,
            None if is_bootstrap_token_form(credentials) => (crate::join::AGENT_USER, credentials),
            None => return Err(PkiError::InvalidToken("expected <user>:<secret> after '::'".into())),
        };
        if username.is_empty() || secret.is_empty() {
            return Err(PkiError::InvalidToken("the user and secret after '::' must not be empty".into()));
        }
        Ok(JoinToken { ca_hash, username: username.to_string(), secret: secret.to_string() })
    }

    /// Whether the token is the short form (no CA pinning).
    pub fn is_short(&self) -> bool {
        self.ca_hash.is_none()
    }

    /// Checks a CA bundle fetched from a server against the pinned hash; short tokens pin nothing.
    pub fn verify_ca_bundle(&self, ca_bundle: &[u8]) -> Result<()> {
        match &self.ca_hash {
            None => Ok(()),
            Some(expected) => {
                let actual = ca_hash(ca_bundle);
                if &actual == expected {
                    Ok(())
                } else {
                    Err(PkiError::CaHashMismatch { expected: expected.clone(), actual })
                }
            }
        }
    }

    /// Whether `presented` (a token a client sent) carries the same user and secret.
    pub fn credentials_match(&self, presented: &JoinToken) -> bool {
        self.username == presented.username && constant_time_eq(self.secret.as_bytes(), presented.secret.as_bytes())
    }
}

/// Full form when a CA hash is known; a short server token prints as its bare secret.
impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ca_hash {
            Some(hash) => write!(f, "{TOKEN_PREFIX}{hash}::{}:{}", self.username, self.secret),
            None if self.username == SERVER_USER => f.write_str(&self.secret),
            None => write!(f, "{TOKEN_PREFIX}::{}:{}", self.username, self.secret),
        }
    }
}

impl FromStr for JoinToken {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self> {
        JoinToken::parse(s)
    }
}

/// `<6 of [a-z0-9]>.<16 of [a-z0-9]>`.
fn is_bootstrap_token_form(s: &str) -> bool {
    let ok = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    s.split_once('.').is_some_and(|(id, secret)| ok(id, 6) && ok(secret, 16))
}

/// Compares secrets without revealing through timing how long a common prefix is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn generated_secrets_are_random_hex() {
        let a = generate_secret();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, generate_secret());
    }

    #[test]
    fn full_form_round_trips() {
        let token = JoinToken::server(HASH, "s3cret");
        let text = token.to_string();
        assert_eq!(text, format!("K10{HASH}::server:s3cret"));
        assert_eq!(JoinToken::parse(&text).unwrap(), token);
        let node: JoinToken = format!("K10{HASH}::node:pa:ss").parse().unwrap();
        assert_eq!((node.username.as_str(), node.secret.as_str()), ("node", "pa:ss"));
    }

    #[test]
    fn bootstrap_tokens_join_as_agents() {
        let token = JoinToken::parse(&format!("K10{HASH}::abcdef.0123456789abcdef")).unwrap();
        assert_eq!((token.username.as_str(), token.secret.as_str()), ("node", "abcdef.0123456789abcdef"));
        assert!(JoinToken::parse(&format!("K10{HASH}::notatoken")).is_err());
    }

    #[test]
    fn uppercase_hash_is_normalised() {
        let token = JoinToken::parse(&format!("K10{}::server:x", HASH.to_uppercase())).unwrap();
        assert_eq!(token.ca_hash.as_deref(), Some(HASH));
    }

    #[test]
    fn bare_secret_is_a_short_server_token() {
        let token = JoinToken::parse("  my:secret\n").unwrap();
        assert!(token.is_short());
        assert_eq!(token.username, "server");
        assert_eq!(token.secret, "my:secret");
        assert_eq!(token.to_string(), "my:secret");
        // A secret that merely starts with K10 is still a bare secret.
        assert_eq!(JoinToken::parse("K10abc").unwrap().secret, "K10abc");
    }

    #[test]
    fn malformed_full_tokens_are_rejected() {
        for bad in [
            "",
            "K10abc::server:x",
            &format!("K10{HASH}::server"),
            &format!("K10{HASH}::server:"),
            &format!("K10{HASH}:::x"),
        ] {
            assert!(JoinToken::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn ca_bundle_is_checked_against_the_pin() {
        let bundle = b"-----BEGIN CERTIFICATE-----\n...\n";
        let token = JoinToken::server(ca_hash(bundle), "x");
        assert!(token.verify_ca_bundle(bundle).is_ok());
        assert!(matches!(token.verify_ca_bundle(b"other"), Err(PkiError::CaHashMismatch { .. })));
        assert!(JoinToken::parse("short").unwrap().verify_ca_bundle(b"anything").is_ok());
    }

    #[test]
    fn credentials_compare_user_and_secret() {
        let stored = JoinToken::parse("secret").unwrap();
        assert!(stored.credentials_match(&JoinToken::server(HASH, "secret")));
        assert!(!stored.credentials_match(&JoinToken::server(HASH, "secreT")));
        assert!(!stored.credentials_match(&JoinToken::parse(&format!("K10{HASH}::node:secret")).unwrap()));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert!(!format!("{:?}", JoinToken::parse("hunter2").unwrap()).contains("hunter2"));
    }
}
