//! Reading what a certificate says: subject, groups, validity, SANs, and who signed it.
//!
//! Built on x509-parser. The API server uses [`peer_identity`] to turn a verified client
//! certificate into a user (CN) and groups (O), as Kubernetes' x509 authenticator does.

use std::collections::BTreeSet;

use jiff::Timestamp;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::san::SubjectAltName;

/// The facts about one certificate that the PKI and its callers act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// The subject in RFC 4514-like form, e.g. `CN=system:admin, O=system:masters`.
    pub subject: String,
    /// The first common name of the subject.
    pub common_name: Option<String>,
    /// The subject's organizations (Kubernetes groups), in order.
    pub organizations: Vec<String>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// DNS and IP subject alternative names.
    pub sans: BTreeSet<SubjectAltName>,
    /// Whether basic constraints mark this a CA.
    pub is_ca: bool,
    /// DER of the SubjectPublicKeyInfo, to match the certificate with its private key.
    pub(crate) public_key_info: Vec<u8>,
}

/// Parses one DER certificate; the error says why it is unreadable.
pub fn summarize(der: &[u8]) -> Result<CertSummary, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("unparsable certificate: {e}"))?;
    let subject = cert.subject();
    let text_attrs = |iter: &mut dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>>| {
        iter.filter_map(|a| a.as_str().ok().map(str::to_string)).collect::<Vec<_>>()
    };
    let common_name = text_attrs(&mut subject.iter_common_name()).into_iter().next();
    let organizations = text_attrs(&mut subject.iter_organization());

    let mut sans = BTreeSet::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        sans.extend(ext.value.general_names.iter().filter_map(SubjectAltName::from_general_name));
    }
    let validity = cert.validity();
    Ok(CertSummary {
        subject: subject.to_string(),
        common_name,
        organizations,
        not_before: to_timestamp(validity.not_before.timestamp()),
        not_after: to_timestamp(validity.not_after.timestamp()),
        sans,
        is_ca: cert.is_ca(),
        public_key_info: cert.public_key().raw.to_vec(),
    })
}

/// The Kubernetes identity a client certificate claims: (CN = user name, O = groups).
///
/// Call it only with a certificate that TLS already verified against the client CA; `None`
/// when it cannot be parsed or has no common name.
pub fn peer_identity(cert_der: &[u8]) -> Option<(String, Vec<String>)> {
    let summary = summarize(cert_der).ok()?;
    let user = summary.common_name.filter(|cn| !cn.is_empty())?;
    Some((user, summary.organizations))
}

/// Whether `leaf_der` names `ca_der`'s subject as issuer and carries a valid signature by its key.
pub(crate) fn is_issued_by(leaf_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok((_, leaf)), Ok((_, ca))) = (X509Certificate::from_der(leaf_der), X509Certificate::from_der(ca_der)) else {
        return false;
    };
    leaf.issuer().as_raw() == ca.subject().as_raw() && leaf.verify_signature(Some(ca.public_key())).is_ok()
}

fn to_timestamp(secs: i64) -> Timestamp {
    // Years outside jiff's range (before -9999 or after 9999) cannot come from our certificates;
    // clamp them rather than fail.
    Timestamp::from_second(secs).unwrap_or(if secs < 0 { Timestamp::MIN } else { Timestamp::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    fn self_signed(cn: &str, orgs: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["example.com".to_string(), "10.0.0.1".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        // rcgen keeps one value per DnType; a custom type with O's OID gives a second O entry.
        let org_types = [DnType::OrganizationName, DnType::CustomDnType(vec![2, 5, 4, 10])];
        for (o, ty) in orgs.iter().zip(org_types) {
            params.distinguished_name.push(ty, *o);
        }
        (params.self_signed(&key).unwrap(), key)
    }

    #[test]
    fn identity_is_common_name_and_organizations() {
        let (cert, _) = self_signed("jane", &["dev", "ops"]);
        assert_eq!(peer_identity(cert.der()), Some(("jane".to_string(), vec!["dev".to_string(), "ops".to_string()])));
        let summary = summarize(cert.der()).unwrap();
        assert!(summary.subject.contains("CN=jane"), "{}", summary.subject);
        assert_eq!(summary.sans.len(), 2);
    }

    #[test]
    fn no_identity_without_common_name_or_for_garbage() {
        let (cert, _) = self_signed("", &["dev"]);
        assert_eq!(peer_identity(cert.der()), None);
        assert_eq!(peer_identity(b"not a certificate"), None);
    }

    #[test]
    fn issued_by_checks_the_signature() {
        let (a, _) = self_signed("a", &[]);
        let (b, _) = self_signed("b", &[]);
        assert!(is_issued_by(a.der(), a.der()));
        assert!(!is_issued_by(a.der(), b.der()));
        // Same subject, different key: the name matches but the signature must not.
        let (a2, _) = self_signed("a", &[]);
        assert!(!is_issued_by(a.der(), a2.der()));
    }
}
