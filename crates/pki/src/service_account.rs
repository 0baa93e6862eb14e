//! The key that signs service-account tokens (`service.key`, ECDSA P-256, so JWTs use ES256).
//!
//! Unlike a leaf key it is never replaced on its own: every issued service-account token would
//! stop verifying. An unusable file is an error that says how to start over.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{KeyPair, PublicKeyData};
use sha2::{Digest, Sha256};

use crate::error::{PkiError, Result};
use crate::files::{PRIVATE_KEY_MODE, read_optional, write_file_atomic};
use crate::jwt::{JwtSigner, JwtVerifier};
use crate::pem::key_pair_from_pem;

/// File name of the service-account signing key inside the TLS directory.
pub const SERVICE_ACCOUNT_KEY_FILE: &str = "service.key";

/// The service-account token signing key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccountKey {
    private_key_pem: String,
    private_key_der: Vec<u8>,
    public_key_pem: String,
    public_key_der: Vec<u8>,
    public_key_raw: Vec<u8>,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey").field("public_key_pem", &self.public_key_pem).finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    pub(crate) fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join(SERVICE_ACCOUNT_KEY_FILE);
        let key = match read_optional(&path)? {
            Some(pem) => key_pair_from_pem(&pem).map_err(|reason| {
                PkiError::invalid_file(
                    &path,
                    format!(
                        "{reason}; remove it to generate a new key (existing service-account tokens become invalid)"
                    ),
                )
            })?,
            None => {
                let key = KeyPair::generate().map_err(|e| PkiError::generate("service-account key", e))?;
                write_file_atomic(&path, key.serialize_pem().as_bytes(), PRIVATE_KEY_MODE)?;
                tracing::info!(path = %path.display(), "created service-account signing key");
                key
            }
        };
        Ok(Self::from_key_pair(&key))
    }

    fn from_key_pair(key: &KeyPair) -> Self {
        ServiceAccountKey {
            private_key_pem: key.serialize_pem(),
            private_key_der: key.serialize_der(),
            public_key_pem: key.public_key_pem(),
            public_key_der: key.subject_public_key_info(),
            public_key_raw: key.public_key_raw().to_vec(),
        }
    }

    /// JWS algorithm of tokens signed with this key.
    pub fn jws_algorithm(&self) -> &'static str {
        "ES256"
    }

    /// The private key, PKCS#8 PEM.
    pub fn private_key_pem(&self) -> &str {
        &self.private_key_pem
    }

    /// The private key, PKCS#8 DER (what `ring::signature::EcdsaKeyPair::from_pkcs8` takes).
    pub fn private_key_pkcs8_der(&self) -> &[u8] {
        &self.private_key_der
    }

    /// The public key, `PUBLIC KEY` (SubjectPublicKeyInfo) PEM, e.g. for the OIDC JWKS.
    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// The public key, SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }

    /// A signer of service-account tokens with this key.
    pub fn signer(&self) -> Result<JwtSigner> {
        JwtSigner::new(&self.private_key_der, self.key_id())
    }

    /// A verifier of tokens signed with this key.
    pub fn verifier(&self) -> JwtVerifier {
        JwtVerifier::new(self.public_key_raw.clone())
    }

    /// The `kid` Kubernetes puts in token headers: unpadded base64url of SHA-256 over the
    /// public key's SubjectPublicKeyInfo DER.
    pub fn key_id(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.public_key_der))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        let second = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(first.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(first.key_id().len(), 43);
        let token = first.signer().unwrap().sign(&serde_json::json!({"sub": "x"})).unwrap();
        assert_eq!(second.verifier().verify(&token).unwrap()["sub"], "x");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(SERVICE_ACCOUNT_KEY_FILE)).unwrap(),
            first.private_key_pem()
        );
    }

    #[test]
    fn unusable_key_is_an_error_not_a_replacement() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SERVICE_ACCOUNT_KEY_FILE), "garbage").unwrap();
        let err = ServiceAccountKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("remove it to generate a new key"), "{err}");
        assert_eq!(std::fs::read_to_string(dir.path().join(SERVICE_ACCOUNT_KEY_FILE)).unwrap(), "garbage");
    }
}
