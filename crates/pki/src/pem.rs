//! PEM decoding of certificates and private keys (via rustls-pemfile).

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{PkiError, Result};

/// All certificates in `pem`, in order; an error when there is none.
pub(crate) fn certs_from_pem(what: &'static str, pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| PkiError::InvalidPem { what, reason: e.to_string() })?;
    if certs.is_empty() {
        return Err(PkiError::InvalidPem { what, reason: "no CERTIFICATE block found".into() });
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, SEC1 or PKCS#1).
pub(crate) fn key_from_pem(what: &'static str, pem: &str) -> Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|e| PkiError::InvalidPem { what, reason: e.to_string() })?
        .ok_or_else(|| PkiError::InvalidPem { what, reason: "no PRIVATE KEY block found".into() })
}

/// Reads an rcgen key pair from PEM; the key must be one rcgen can sign with (PKCS#8 for ring).
pub(crate) fn key_pair_from_pem(pem: &str) -> std::result::Result<rcgen::KeyPair, String> {
    let der = key_from_pem("private key", pem).map_err(|e| e.to_string())?;
    rcgen::KeyPair::try_from(&der).map_err(|e| format!("unusable private key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_pem_without_the_expected_blocks() {
        assert!(certs_from_pem("test", "").is_err());
        assert!(certs_from_pem("test", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").is_err());
        assert!(key_from_pem("test", "no pem here").is_err());
        assert!(key_pair_from_pem("").is_err());
    }

    #[test]
    fn round_trips_a_generated_key() {
        let key = rcgen::KeyPair::generate().unwrap();
        let again = key_pair_from_pem(&key.serialize_pem()).unwrap();
        assert_eq!(again.public_key_raw(), key.public_key_raw());
    }
}
