//! Leaf certificates (serving and client): issuing them, and keeping the stored ones current.
//!
//! [`ensure_leaf`] is the restart rule: a stored certificate is kept byte for byte unless it no
//! longer fits (other key, other CA, other subject or SANs) or is within the renewal window.
//! A usable stored key is reused when re-issuing, so only the certificate file changes.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, PublicKeyData,
};

use crate::authority::{CertificateAuthority, random_serial};
use crate::error::{PkiError, Result};
use crate::files::{CERTIFICATE_MODE, PRIVATE_KEY_MODE, read_optional, write_file_atomic};
use crate::inspect::{CertSummary, summarize};
use crate::pem::{certs_from_pem, key_pair_from_pem};
use crate::san::SubjectAltName;
use crate::validity::{apply_window, renewal_due};

/// What a leaf certificate is for (its extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertUsage {
    /// TLS client authentication (users, kubelets talking to the API server, controllers).
    Client,
    /// TLS server authentication (the API server, kubelet serving endpoints).
    Server,
}

/// Everything that determines a leaf certificate's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LeafSpec {
    pub(crate) common_name: String,
    pub(crate) organizations: Vec<String>,
    pub(crate) sans: BTreeSet<SubjectAltName>,
    pub(crate) usage: CertUsage,
    pub(crate) validity: Duration,
}

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate (leaf only; the CA is distributed separately).
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys must not end up in logs.
        f.debug_struct("IssuedCert").field("cert_pem", &self.cert_pem).field("key_pem", &"[redacted]").finish()
    }
}

impl IssuedCert {
    /// Writes the pair atomically: the key with mode 0600, the certificate with 0644.
    pub fn write(&self, cert_path: &Path, key_path: &Path) -> Result<()> {
        write_file_atomic(key_path, self.key_pem.as_bytes(), PRIVATE_KEY_MODE)?;
        write_file_atomic(cert_path, self.cert_pem.as_bytes(), CERTIFICATE_MODE)
    }

    /// Parses the certificate.
    pub fn summary(&self) -> Result<CertSummary> {
        let der = first_cert("certificate", &self.cert_pem)?;
        summarize(&der).map_err(|reason| PkiError::InvalidPem { what: "certificate", reason })
    }
}

/// Issues a certificate for `spec`, signed by `ca`, for `key` (or a new key when `None`).
pub(crate) fn issue(
    ca: &CertificateAuthority,
    spec: &LeafSpec,
    key: Option<KeyPair>,
    now: Timestamp,
) -> Result<IssuedCert> {
    let params = leaf_params(spec, now)?;
    let key = match key {
        Some(key) => key,
        None => KeyPair::generate().map_err(|e| PkiError::generate("private key", e))?,
    };
    let cert = ca.sign(&params, &key)?;
    Ok(IssuedCert { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// Issues a certificate for `spec` for a public key the caller holds the private key of
/// (from a certificate signing request); returns the certificate PEM.
pub(crate) fn issue_for_public_key(
    ca: &CertificateAuthority,
    spec: &LeafSpec,
    public_key: &impl PublicKeyData,
    now: Timestamp,
) -> Result<String> {
    let params = leaf_params(spec, now)?;
    Ok(ca.sign(&params, public_key)?.pem())
}

/// The certificate parameters of `spec`, valid from (about) `now`.
fn leaf_params(spec: &LeafSpec, now: Timestamp) -> Result<CertificateParams> {
    // rcgen keeps one value per attribute type, so a subject cannot carry two O entries.
    if spec.organizations.len() > 1 {
        return Err(PkiError::Unsupported(format!(
            "certificate for {:?} asks for {} organizations (groups); at most one is supported",
            spec.common_name,
            spec.organizations.len()
        )));
    }
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spec.common_name.as_str());
    for org in &spec.organizations {
        dn.push(DnType::OrganizationName, org.as_str());
    }
    params.distinguished_name = dn;
    params.subject_alt_names = spec.sans.iter().map(SubjectAltName::to_rcgen).collect::<Result<_>>()?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![match spec.usage {
        CertUsage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        CertUsage::Server => ExtendedKeyUsagePurpose::ServerAuth,
    }];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    apply_window(&mut params, now, spec.validity);
    Ok(params)
}

/// Returns the leaf stored as `<dir>/<stem>.crt/.key`, issuing (and storing) a new one when it is
/// missing, does not match `spec` or `ca`, or is due for renewal.
pub(crate) fn ensure_leaf(
    dir: &Path,
    stem: &str,
    ca: &CertificateAuthority,
    spec: &LeafSpec,
    now: Timestamp,
) -> Result<IssuedCert> {
    let cert_path = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    let stored_cert = read_optional(&cert_path)?;
    let stored_key = read_optional(&key_path)?;
    // An unreadable leaf key is not worth keeping: the certificate is re-issued for a new one.
    let key_pem = stored_key.filter(|pem| key_pair_from_pem(pem).is_ok());

    let reason = match (&stored_cert, &key_pem) {
        (Some(cert_pem), Some(key_pem)) => match key_pair_from_pem(key_pem) {
            Ok(key) => reissue_reason(cert_pem, &key, ca, spec, now),
            Err(reason) => Some(reason),
        },
        (None, _) => Some("no certificate yet".to_string()),
        (Some(_), None) => Some("private key missing or unusable".to_string()),
    };
    let Some(reason) = reason else {
        return Ok(IssuedCert { cert_pem: stored_cert.unwrap_or_default(), key_pem: key_pem.unwrap_or_default() });
    };

    tracing::info!(cert = %cert_path.display(), %reason, "issuing certificate");
    let reused_key = key_pem.as_deref().and_then(|pem| key_pair_from_pem(pem).ok());
    let key_is_new = reused_key.is_none();
    let issued = issue(ca, spec, reused_key, now)?;
    if key_is_new {
        write_file_atomic(&key_path, issued.key_pem.as_bytes(), PRIVATE_KEY_MODE)?;
    }
    write_file_atomic(&cert_path, issued.cert_pem.as_bytes(), CERTIFICATE_MODE)?;
    Ok(issued)
}

/// Why a stored certificate cannot be kept, or `None` when it can.
fn reissue_reason(
    cert_pem: &str,
    key: &KeyPair,
    ca: &CertificateAuthority,
    spec: &LeafSpec,
    now: Timestamp,
) -> Option<String> {
    let der = match first_cert("certificate", cert_pem) {
        Ok(der) => der,
        Err(e) => return Some(e.to_string()),
    };
    let summary = match summarize(&der) {
        Ok(summary) => summary,
        Err(reason) => return Some(reason),
    };
    if summary.public_key_info != key.subject_public_key_info() {
        return Some("certificate does not match its private key".into());
    }
    if !ca.has_issued(&der) {
        return Some("not signed by the current CA".into());
    }
    if summary.common_name.as_deref() != Some(spec.common_name.as_str()) || summary.organizations != spec.organizations
    {
        return Some(format!("subject changed (was {})", summary.subject));
    }
    if summary.sans != spec.sans {
        let added: Vec<String> = spec.sans.difference(&summary.sans).map(ToString::to_string).collect();
        let removed: Vec<String> = summary.sans.difference(&spec.sans).map(ToString::to_string).collect();
        return Some(format!("SANs changed (added {added:?}, removed {removed:?})"));
    }
    if renewal_due(summary.not_after, now) {
        return Some(format!("expires on {}", summary.not_after));
    }
    None
}

fn first_cert(what: &'static str, pem: &str) -> Result<Vec<u8>> {
    let certs = certs_from_pem(what, pem)?;
    certs.into_iter().next().map(|c| c.to_vec()).ok_or(PkiError::InvalidPem { what, reason: "no certificate".into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validity::LEAF_VALIDITY;

    fn client_spec(cn: &str) -> LeafSpec {
        LeafSpec {
            common_name: cn.into(),
            organizations: vec!["group-a".into()],
            sans: BTreeSet::new(),
            usage: CertUsage::Client,
            validity: LEAF_VALIDITY,
        }
    }

    #[test]
    fn issued_leaf_carries_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let ca = CertificateAuthority::load_or_create(dir.path(), "client-ca", now).unwrap();
        let mut spec = client_spec("alice");
        spec.sans.insert(SubjectAltName::parse("10.1.2.3").unwrap());
        let leaf = issue(&ca, &spec, None, now).unwrap();
        let summary = leaf.summary().unwrap();
        assert_eq!(summary.common_name.as_deref(), Some("alice"));
        assert_eq!(summary.organizations, vec!["group-a".to_string()]);
        assert_eq!(summary.sans, spec.sans);
        assert!(!summary.is_ca);
        let days = (summary.not_after.as_second() - now.as_second()) / 86_400;
        assert_eq!(days, 365);
        assert!(ca.has_issued(&first_cert("t", &leaf.cert_pem).unwrap()));
    }

    #[test]
    fn several_organizations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let ca = CertificateAuthority::load_or_create(dir.path(), "client-ca", now).unwrap();
        let mut spec = client_spec("alice");
        spec.organizations.push("group-b".into());
        assert!(matches!(issue(&ca, &spec, None, now), Err(PkiError::Unsupported(_))));
    }

    #[test]
    fn changed_subject_or_foreign_ca_triggers_reissue() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let ca = CertificateAuthority::load_or_create(dir.path(), "client-ca", now).unwrap();
        let first = ensure_leaf(dir.path(), "leaf", &ca, &client_spec("alice"), now).unwrap();
        assert_eq!(ensure_leaf(dir.path(), "leaf", &ca, &client_spec("alice"), now).unwrap(), first);

        let renamed = ensure_leaf(dir.path(), "leaf", &ca, &client_spec("bob"), now).unwrap();
        assert_ne!(renamed.cert_pem, first.cert_pem);
        assert_eq!(renamed.key_pem, first.key_pem, "the stored key is reused");

        let other_dir = tempfile::tempdir().unwrap();
        let other_ca = CertificateAuthority::load_or_create(other_dir.path(), "client-ca", now).unwrap();
        let moved = ensure_leaf(dir.path(), "leaf", &other_ca, &client_spec("bob"), now).unwrap();
        assert_ne!(moved.cert_pem, renamed.cert_pem);
        assert!(other_ca.has_issued(&first_cert("t", &moved.cert_pem).unwrap()));
    }

    #[test]
    fn garbage_key_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let now = Timestamp::now();
        let ca = CertificateAuthority::load_or_create(dir.path(), "client-ca", now).unwrap();
        let first = ensure_leaf(dir.path(), "leaf", &ca, &client_spec("alice"), now).unwrap();
        std::fs::write(dir.path().join("leaf.key"), "garbage").unwrap();
        let second = ensure_leaf(dir.path(), "leaf", &ca, &client_spec("alice"), now).unwrap();
        assert_ne!(second.key_pem, first.key_pem);
        assert_eq!(std::fs::read_to_string(dir.path().join("leaf.key")).unwrap(), second.key_pem);
    }
}
