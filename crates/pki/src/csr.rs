//! Certificate signing requests for node credentials.
//!
//! A joining node makes its key pair and a CSR locally ([`generate_key_and_csr`]); only the
//! CSR travels. The server takes nothing from the CSR but the public key (the CSR's own
//! signature proves the node holds the private key): the subject, SANs and usage are the
//! server's decision.

use rcgen::{CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType, KeyPair, PublicKey};

use crate::error::{PkiError, Result};

/// A private key that stays on the node and the CSR to send for it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyAndCsr {
    /// PKCS#8 PEM of the new private key.
    pub key_pem: String,
    /// PEM of the certificate signing request.
    pub csr_pem: String,
}

impl std::fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAndCsr").field("csr_pem", &self.csr_pem).field("key_pem", &"[redacted]").finish()
    }
}

/// Generates a P-256 key and a CSR with `common_name` as subject.
pub fn generate_key_and_csr(common_name: &str) -> Result<KeyAndCsr> {
    let key = KeyPair::generate().map_err(|e| PkiError::generate("private key", e))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let csr = params.serialize_request(&key).map_err(|e| PkiError::generate("certificate signing request", e))?;
    let csr_pem = csr.pem().map_err(|e| PkiError::generate("certificate signing request", e))?;
    Ok(KeyAndCsr { key_pem: key.serialize_pem(), csr_pem })
}

/// The public key of a CSR whose signature checks out.
pub(crate) fn verified_public_key(csr_pem: &str) -> Result<PublicKey> {
    let parsed = CertificateSigningRequestParams::from_pem(csr_pem)
        .map_err(|e| PkiError::InvalidPem { what: "certificate signing request", reason: e.to_string() })?;
    Ok(parsed.public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_csr_verifies_and_carries_the_key() {
        let made = generate_key_and_csr("system:node:n1").unwrap();
        let public = verified_public_key(&made.csr_pem).unwrap();
        let key = crate::pem::key_pair_from_pem(&made.key_pem).unwrap();
        use rcgen::PublicKeyData;
        assert_eq!(public.der_bytes(), key.der_bytes());
        assert!(!format!("{made:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn garbage_csr_is_an_error() {
        assert!(verified_public_key("not a csr").is_err());
        let made = generate_key_and_csr("x").unwrap();
        // A flipped byte in the body breaks the CSR's signature or its encoding.
        let mut bytes = made.csr_pem.into_bytes();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        assert!(verified_public_key(&String::from_utf8(bytes).unwrap()).is_err());
    }
}
