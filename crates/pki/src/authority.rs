//! A certificate authority kept as `<name>.crt` + `<name>.key`: loaded when present, created
//! on first start, and used to sign leaf certificates.
//!
//! A CA is never replaced silently: if its certificate exists without its key the cluster's
//! trust cannot be kept, and the error says so. A key without its certificate (a crash between
//! the two writes of first start) gets a fresh self-signed certificate for the same key.

use std::path::Path;

use jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData, SerialNumber,
};
use rustls::pki_types::CertificateDer;

use crate::error::{PkiError, Result};
use crate::files::{CERTIFICATE_MODE, PRIVATE_KEY_MODE, read_optional, write_file_atomic};
use crate::inspect::{is_issued_by, summarize};
use crate::pem::{certs_from_pem, key_pair_from_pem};
use crate::validity::{CA_VALIDITY, apply_window};

/// A loaded CA: its certificate as stored (PEM) and the issuer that signs with its key.
pub(crate) struct CertificateAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// Loads `<dir>/<name>.crt` and `.key`, creating them when neither exists.
    pub(crate) fn load_or_create(dir: &Path, name: &str, now: Timestamp) -> Result<Self> {
        let cert_path = dir.join(format!("{name}.crt"));
        let key_path = dir.join(format!("{name}.key"));
        let cert_pem = read_optional(&cert_path)?;
        let key_pem = read_optional(&key_path)?;
        match (cert_pem, key_pem) {
            (Some(cert_pem), Some(key_pem)) => Self::load(name, &cert_path, cert_pem, &key_path, &key_pem, now),
            (None, None) => {
                let key = KeyPair::generate().map_err(|e| PkiError::generate(format!("{name} key"), e))?;
                write_file_atomic(&key_path, key.serialize_pem().as_bytes(), PRIVATE_KEY_MODE)?;
                tracing::info!(ca = name, "created certificate authority");
                Self::create_cert(dir, name, key, now)
            }
            (None, Some(key_pem)) => {
                let key = key_pair_from_pem(&key_pem).map_err(|reason| PkiError::invalid_file(&key_path, reason))?;
                tracing::warn!(ca = name, "CA key without certificate; issuing a new CA certificate for the same key");
                Self::create_cert(dir, name, key, now)
            }
            (Some(_), None) => Err(PkiError::CertificateAuthority {
                name: name.to_string(),
                reason: format!(
                    "{} exists but {} is missing; restore the key, or remove both files to create a new CA \
                     (every certificate it issued will be replaced)",
                    cert_path.display(),
                    key_path.display()
                ),
            }),
        }
    }

    fn load(
        name: &str,
        cert_path: &Path,
        cert_pem: String,
        key_path: &Path,
        key_pem: &str,
        now: Timestamp,
    ) -> Result<Self> {
        let invalid = |reason: String| PkiError::invalid_file(cert_path, reason);
        let der = certs_from_pem("CA certificate", &cert_pem)
            .map_err(|e| invalid(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| invalid("no certificate".into()))?;
        let key = key_pair_from_pem(key_pem).map_err(|reason| PkiError::invalid_file(key_path, reason))?;
        let summary = summarize(&der).map_err(invalid)?;
        if !summary.is_ca {
            return Err(invalid("not a CA certificate (basic constraints CA:false)".into()));
        }
        if summary.public_key_info != key.subject_public_key_info() {
            return Err(invalid(format!("does not match the private key in {}", key_path.display())));
        }
        if summary.not_after <= now {
            return Err(PkiError::CertificateAuthority {
                name: name.to_string(),
                reason: format!(
                    "{} expired on {}; rotate the CA (remove {name}.crt/.key and restart) and rejoin the nodes",
                    cert_path.display(),
                    summary.not_after
                ),
            });
        }
        let issuer = Issuer::from_ca_cert_der(&der, key).map_err(|e| invalid(format!("cannot sign with it: {e}")))?;
        Ok(CertificateAuthority { cert_pem, cert_der: der, issuer })
    }

    fn create_cert(dir: &Path, name: &str, key: KeyPair, now: Timestamp) -> Result<Self> {
        let mut params = CertificateParams::default();
        // K3s names its CAs `k3s-<name>@<unix time>`, so a rotated CA has a distinct subject.
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("k3rs-{name}@{}", now.as_second()));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        params.serial_number = Some(random_serial());
        apply_window(&mut params, now, CA_VALIDITY);
        let cert = params.self_signed(&key).map_err(|e| PkiError::generate(format!("{name} certificate"), e))?;
        let cert_pem = cert.pem();
        write_file_atomic(&dir.join(format!("{name}.crt")), cert_pem.as_bytes(), CERTIFICATE_MODE)?;
        Ok(CertificateAuthority { cert_pem, cert_der: cert.der().clone(), issuer: Issuer::new(params, key) })
    }

    /// The CA certificate exactly as stored on disk.
    pub(crate) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    #[cfg(test)]
    pub(crate) fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Signs `params` for the holder of `public_key`.
    pub(crate) fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl PublicKeyData,
    ) -> Result<rcgen::Certificate> {
        params.signed_by(public_key, &self.issuer).map_err(|e| PkiError::generate("certificate", e))
    }

    /// Whether this CA signed `leaf_der`.
    pub(crate) fn has_issued(&self, leaf_der: &[u8]) -> bool {
        is_issued_by(leaf_der, &self.cert_der)
    }
}

/// A random positive 128-bit serial: serials must be unique per CA even when a key is reused,
/// which rcgen's default (a hash of the public key) is not.
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // Positive and with a non-zero first byte, so the DER length stays 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_ca_is_reloaded_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let ca = CertificateAuthority::load_or_create(dir.path(), "server-ca", now).unwrap();
        let again = CertificateAuthority::load_or_create(dir.path(), "server-ca", now).unwrap();
        assert_eq!(ca.cert_pem(), again.cert_pem());
        let summary = summarize(ca.cert_der()).unwrap();
        assert!(summary.is_ca);
        assert!(summary.common_name.unwrap().starts_with("k3rs-server-ca@"));
    }

    #[test]
    fn certificate_without_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(dir.path(), "client-ca", Timestamp::now()).unwrap();
        std::fs::remove_file(dir.path().join("client-ca.key")).unwrap();
        let err = CertificateAuthority::load_or_create(dir.path(), "client-ca", Timestamp::now()).err().unwrap();
        assert!(err.to_string().contains("client-ca.key is missing"), "{err}");
    }

    #[test]
    fn key_without_certificate_keeps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        CertificateAuthority::load_or_create(dir.path(), "server-ca", now).unwrap();
        let key_before = std::fs::read(dir.path().join("server-ca.key")).unwrap();
        std::fs::remove_file(dir.path().join("server-ca.crt")).unwrap();
        let ca = CertificateAuthority::load_or_create(dir.path(), "server-ca", now).unwrap();
        assert_eq!(std::fs::read(dir.path().join("server-ca.key")).unwrap(), key_before);
        let key = key_pair_from_pem(std::str::from_utf8(&key_before).unwrap()).unwrap();
        assert_eq!(summarize(ca.cert_der()).unwrap().public_key_info, key.subject_public_key_info());
    }

    #[test]
    fn mismatched_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_create(dir.path(), "server-ca", Timestamp::now()).unwrap();
        let other = KeyPair::generate().unwrap();
        std::fs::write(dir.path().join("server-ca.key"), other.serialize_pem()).unwrap();
        let err = CertificateAuthority::load_or_create(dir.path(), "server-ca", Timestamp::now()).err().unwrap();
        assert!(err.to_string().contains("does not match the private key"), "{err}");
    }

    #[test]
    fn serials_differ_for_the_same_key() {
        assert_ne!(random_serial(), random_serial());
    }
}
