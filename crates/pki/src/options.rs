//! What the cluster's certificates must say: host name, node IPs, extra SANs, service network.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{PkiError, Result};
use crate::san::SubjectAltName;

/// K3s' default service network; its first address is the `kubernetes` service's ClusterIP.
pub const DEFAULT_SERVICE_CIDR: &str = "10.43.0.0/16";
/// Default cluster DNS domain.
pub const DEFAULT_CLUSTER_DOMAIN: &str = "cluster.local";

/// Inputs that shape the API server's serving certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiOptions {
    /// This node's host name (a SAN of the serving certificate when not empty).
    pub hostname: String,
    /// The node's IP addresses (`--node-ip`, or the detected ones).
    pub node_ips: Vec<IpAddr>,
    /// Extra names or IPs from `--tls-san`.
    pub tls_sans: Vec<String>,
    /// The service network(s), comma separated for dual stack (`--service-cidr`).
    pub service_cidr: String,
    /// The cluster DNS domain (`--cluster-domain`).
    pub cluster_domain: String,
}

impl Default for PkiOptions {
    fn default() -> Self {
        PkiOptions {
            hostname: local_hostname(),
            node_ips: Vec::new(),
            tls_sans: Vec::new(),
            service_cidr: DEFAULT_SERVICE_CIDR.to_string(),
            cluster_domain: DEFAULT_CLUSTER_DOMAIN.to_string(),
        }
    }
}

impl PkiOptions {
    /// Every SAN the API serving certificate must carry.
    pub fn apiserver_sans(&self) -> Result<BTreeSet<SubjectAltName>> {
        let domain = self.cluster_domain.trim().trim_end_matches('.');
        let mut names = vec![
            "kubernetes".to_string(),
            "kubernetes.default".to_string(),
            "kubernetes.default.svc".to_string(),
            format!("kubernetes.default.svc.{domain}"),
            "localhost".to_string(),
        ];
        if !self.hostname.trim().is_empty() {
            names.push(self.hostname.clone());
        }
        names.extend(self.tls_sans.iter().cloned());

        let mut sans = BTreeSet::new();
        for name in &names {
            sans.insert(SubjectAltName::parse(name)?);
        }
        sans.insert(SubjectAltName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        sans.insert(SubjectAltName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        for cidr in self.service_cidr.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            sans.insert(SubjectAltName::Ip(first_service_ip(cidr)?));
        }
        sans.extend(self.node_ips.iter().copied().map(SubjectAltName::Ip));
        Ok(sans)
    }
}

/// The first usable address of `cidr` (network address + 1): the `kubernetes` service's IP.
pub fn first_service_ip(cidr: &str) -> Result<IpAddr> {
    let invalid = |reason: &str| PkiError::InvalidServiceCidr { value: cidr.to_string(), reason: reason.to_string() };
    let (addr, prefix) = cidr.trim().split_once('/').ok_or_else(|| invalid("expected ADDRESS/PREFIX"))?;
    let addr: IpAddr = addr.parse().map_err(|_| invalid("not an IP address"))?;
    let prefix: u32 = prefix.parse().map_err(|_| invalid("prefix is not a number"))?;
    match addr {
        IpAddr::V4(v4) => {
            // A /31 or /32 has no address left after the network address for the service.
            if prefix > 30 {
                return Err(invalid("IPv4 prefix must be at most /30"));
            }
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            Ok(IpAddr::V4(Ipv4Addr::from((u32::from(v4) & mask) + 1)))
        }
        IpAddr::V6(v6) => {
            if prefix > 126 {
                return Err(invalid("IPv6 prefix must be at most /126"));
            }
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            Ok(IpAddr::V6(Ipv6Addr::from((u128::from(v6) & mask) + 1)))
        }
    }
}

/// The kernel's host name, or `localhost` when it cannot be read.
pub fn local_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_service_ip_of_common_networks() {
        assert_eq!(first_service_ip("10.43.0.0/16").unwrap().to_string(), "10.43.0.1");
        assert_eq!(first_service_ip("10.43.7.9/16").unwrap().to_string(), "10.43.0.1");
        assert_eq!(first_service_ip("0.0.0.0/0").unwrap().to_string(), "0.0.0.1");
        assert_eq!(first_service_ip("fd00:43::/112").unwrap().to_string(), "fd00:43::1");
        for bad in ["10.43.0.0", "10.43.0.0/33", "10.43.0.0/31", "x/16", "10.43.0.0/x", "::/127"] {
            assert!(first_service_ip(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn apiserver_sans_cover_the_kubernetes_service_and_extras() {
        let opts = PkiOptions {
            hostname: "node-1".into(),
            node_ips: vec!["192.168.1.10".parse().unwrap()],
            tls_sans: vec!["api.example.com".into(), "203.0.113.7".into()],
            service_cidr: "10.43.0.0/16,fd00:43::/112".into(),
            cluster_domain: "cluster.local".into(),
        };
        let sans: Vec<String> = opts.apiserver_sans().unwrap().iter().map(|s| s.to_string()).collect();
        for expected in [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
            "node-1",
            "api.example.com",
            "127.0.0.1",
            "::1",
            "10.43.0.1",
            "fd00:43::1",
            "192.168.1.10",
            "203.0.113.7",
        ] {
            assert!(sans.iter().any(|s| s == expected), "missing {expected} in {sans:?}");
        }
        assert_eq!(sans.len(), 13);
    }

    #[test]
    fn bad_tls_san_is_an_error() {
        let opts = PkiOptions { tls_sans: vec!["bad name".into()], ..PkiOptions::default() };
        assert!(opts.apiserver_sans().is_err());
    }
}
