//! Subject alternative names: parsing user input, converting to rcgen, reading from certificates.
//!
//! A single normalised type lets the PKI compare the SANs a serving certificate should carry with
//! those it does carry, which decides whether it must be re-issued.

use std::fmt;
use std::net::IpAddr;

use rcgen::SanType;
use x509_parser::extensions::GeneralName;

use crate::error::{PkiError, Result};

/// One subject alternative name: a DNS name (lower case) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SubjectAltName {
    /// A DNS name, possibly a wildcard (`*.example.com`), stored in lower case.
    Dns(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
}

impl SubjectAltName {
    /// Parses `value` as an IP address, or else as a DNS name.
    pub fn parse(value: &str) -> Result<Self> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(PkiError::InvalidSan { value: value.to_string(), reason: "empty".into() });
        }
        // `[::1]` is how IPv6 addresses appear in URLs and flags; accept it.
        let unbracketed = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(trimmed);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(SubjectAltName::Ip(ip));
        }
        validate_dns_name(trimmed).map_err(|reason| PkiError::InvalidSan { value: value.to_string(), reason })?;
        Ok(SubjectAltName::Dns(trimmed.to_ascii_lowercase()))
    }

    pub(crate) fn to_rcgen(&self) -> Result<SanType> {
        match self {
            SubjectAltName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            SubjectAltName::Dns(name) => name
                .as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| PkiError::InvalidSan { value: name.clone(), reason: e.to_string() }),
        }
    }

    /// Reads a SAN from a parsed certificate; other name kinds (email, URI) are not ours.
    pub(crate) fn from_general_name(name: &GeneralName<'_>) -> Option<Self> {
        match name {
            GeneralName::DNSName(dns) => Some(SubjectAltName::Dns(dns.to_ascii_lowercase())),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).ok().map(|b| SubjectAltName::Ip(IpAddr::from(b))),
                16 => <[u8; 16]>::try_from(*bytes).ok().map(|b| SubjectAltName::Ip(IpAddr::from(b))),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Dns(name) => f.write_str(name),
            SubjectAltName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Checks the shape of a DNS name: dot-separated labels of letters, digits and hyphens, at most
/// 253 characters, with an optional leading `*` label.
fn validate_dns_name(name: &str) -> std::result::Result<(), String> {
    if name.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    for (i, label) in name.split('.').enumerate() {
        if i == 0 && label == "*" {
            continue;
        }
        if label.is_empty() || label.len() > 63 {
            return Err(format!("label {label:?} must have 1 to 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(format!("label {label:?} may contain only letters, digits and '-'"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} must not start or end with '-'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ips_and_names() {
        assert_eq!(SubjectAltName::parse("10.0.0.1").unwrap(), SubjectAltName::Ip("10.0.0.1".parse().unwrap()));
        assert_eq!(SubjectAltName::parse("[fd00::1]").unwrap(), SubjectAltName::Ip("fd00::1".parse().unwrap()));
        assert_eq!(SubjectAltName::parse(" API.Example.com ").unwrap(), SubjectAltName::Dns("api.example.com".into()));
        assert_eq!(SubjectAltName::parse("*.example.com").unwrap(), SubjectAltName::Dns("*.example.com".into()));
    }

    #[test]
    fn rejects_bad_names() {
        for bad in ["", "a..b", "-a.com", "a b", "exämple.com", "a.*.com"] {
            assert!(SubjectAltName::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
