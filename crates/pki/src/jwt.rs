//! JSON Web Tokens in compact form, signed with ES256 (ECDSA P-256, SHA-256): the format of
//! Kubernetes service-account tokens.
//!
//! This module knows JWS, not Kubernetes: [`JwtSigner::sign`] signs any claims object and
//! [`JwtVerifier::verify`] returns the claims of a token whose signature checks out. What the
//! claims must say (issuer, audience, expiry, bound objects) is the API server's business.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey};
use serde_json::{Value, json};

use crate::error::{PkiError, Result};

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than ES256.
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify with the key.
    #[error("invalid signature")]
    BadSignature,
}

/// Signs tokens with a P-256 private key.
pub struct JwtSigner {
    key_pair: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// A signer for a PKCS#8 DER P-256 key whose tokens carry `key_id` as `kid`.
    pub fn new(pkcs8_der: &[u8], key_id: String) -> Result<Self> {
        let rng = SystemRandom::new();
        let key_pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der, &rng)
            .map_err(|e| PkiError::InvalidPem { what: "token signing key", reason: e.to_string() })?;
        Ok(JwtSigner { key_pair, key_id, rng })
    }

    /// `header.claims.signature`, base64url without padding.
    pub fn sign(&self, claims: &Value) -> Result<String> {
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let signing_input = format!("{}.{}", encode_json(&header), encode_json(claims));
        let signature = self
            .key_pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| PkiError::Unsupported("signing a token failed".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }
}

/// Verifies tokens against a P-256 public key.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    /// The uncompressed public point (65 bytes).
    public_key: Vec<u8>,
}

impl JwtVerifier {
    /// A verifier for the raw (uncompressed point) public key.
    pub fn new(public_key_raw: Vec<u8>) -> Self {
        JwtVerifier { public_key: public_key_raw }
    }

    /// The claims of `token` if it is an ES256 JWS signed by this key.
    pub fn verify(&self, token: &str) -> std::result::Result<Value, JwtError> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed("expected three dot-separated parts"));
        };
        let header = decode_json(header)?;
        match header.get("alg").and_then(Value::as_str) {
            Some("ES256") => {}
            other => return Err(JwtError::UnsupportedAlgorithm(other.unwrap_or("").to_string())),
        }
        let signature =
            URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwtError::Malformed("signature is not base64url"))?;
        let signing_input_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public_key)
            .verify(&token.as_bytes()[..signing_input_len], &signature)
            .map_err(|_| JwtError::BadSignature)?;
        decode_json(claims)
    }
}

/// Whether a bearer token looks like a JWT (three base64url parts, the first a JSON object),
/// so other token kinds are not mistaken for broken JWTs.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3 && decode_json(parts[0]).is_ok_and(|h| h.is_object())
}

fn encode_json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_json(part: &str) -> std::result::Result<Value, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed("part is not base64url"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed("part is not JSON"))?;
    if v.is_object() { Ok(v) } else { Err(JwtError::Malformed("part is not a JSON object")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (JwtSigner, JwtVerifier) {
        let key = rcgen::KeyPair::generate().unwrap();
        let signer = JwtSigner::new(&key.serialize_der(), "kid-1".into()).unwrap();
        (signer, JwtVerifier::new(key.public_key_raw().to_vec()))
    }

    #[test]
    fn signed_claims_verify() {
        let (signer, verifier) = pair();
        let token = signer.sign(&json!({"sub": "system:serviceaccount:default:x", "exp": 1})).unwrap();
        assert!(looks_like_jwt(&token));
        let claims = verifier.verify(&token).unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:default:x");
        let header = decode_json(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "ES256", "kid": "kid-1"}));
    }

    #[test]
    fn tampered_or_foreign_tokens_fail() {
        let (signer, verifier) = pair();
        let token = signer.sign(&json!({"sub": "a"})).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], encode_json(&json!({"sub": "admin"})), parts[2]);
        assert_eq!(verifier.verify(&forged), Err(JwtError::BadSignature));
        let (_, other) = pair();
        assert_eq!(other.verify(&token), Err(JwtError::BadSignature));
        let none = format!("{}.{}.", encode_json(&json!({"alg": "none"})), parts[1]);
        assert!(matches!(verifier.verify(&none), Err(JwtError::UnsupportedAlgorithm(_))));
        assert!(matches!(verifier.verify("abc"), Err(JwtError::Malformed(_))));
        assert!(matches!(verifier.verify("a.b.c.d"), Err(JwtError::Malformed(_))));
        assert!(!looks_like_jwt("abcdef.0123456789abcdef"));
    }
}
