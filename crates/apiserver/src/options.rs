//! What the API server is told at start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use k3rs_pki::{ClusterPki, JoinToken};

use crate::encryption::SecretsEncryption;

/// An IPv4 CIDR such as `10.43.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// The `n`th address of the range (0 is the network address).
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.network).wrapping_add(n as u32)))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
        u32::from(ip) & mask == u32::from(self.network) & mask
    }

    pub fn offset_of(&self, ip: Ipv4Addr) -> Option<u64> {
        self.contains(ip).then(|| u64::from(u32::from(ip) - u32::from(self.network)))
    }
}

impl std::str::FromStr for Ipv4Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let network: Ipv4Addr = ip.parse().map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| format!("{prefix:?} is not a prefix length"))?;
        if prefix > 30 {
            return Err(format!("prefix /{prefix} leaves no room for addresses"));
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
        Ok(Ipv4Cidr { network: Ipv4Addr::from(u32::from(network) & mask), prefix })
    }
}

impl std::fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The join tokens the server accepts on its join endpoints.
#[derive(Clone, Debug)]
pub struct JoinTokens {
    /// The server token (`--token`): servers and agents may join with it.
    pub server: JoinToken,
    /// The agent token (`--agent-token`): agents only.
    pub agent: Option<JoinToken>,
}

#[derive(Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    /// The address other machines and in-cluster clients reach this server at
    /// (the `kubernetes` Service's endpoint).
    pub advertise_address: IpAddr,
    pub service_cidr: Ipv4Cidr,
    pub node_port_range: RangeInclusive<u16>,
    pub tls: Arc<rustls::ServerConfig>,
    /// The client configuration towards kubelets (server CA trusted, `system:kube-apiserver`
    /// certificate); without it, logs/exec/attach/port-forward answer 503.
    pub kubelet_tls: Option<Arc<rustls::ClientConfig>>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// How long a watch without `timeoutSeconds` stays open (upstream: 30–60 minutes).
    pub default_watch_timeout: Duration,
    /// Interval of bookmark events on watches that asked for them.
    pub bookmark_interval: Duration,
    /// The cluster's CAs and keys: client certificates are checked against its client CA,
    /// node certificates are signed with it, service-account tokens with its key.
    pub pki: Arc<ClusterPki>,
    pub join_tokens: JoinTokens,
    pub secrets_encryption: Arc<SecretsEncryption>,
    /// `iss` of service-account tokens.
    pub service_account_issuer: String,
    /// Audiences the server accepts in service-account tokens; the first is the default of
    /// TokenRequests.
    pub api_audiences: Vec<String>,
}

impl ServerOptions {
    pub fn kubernetes_service_ip(&self) -> Ipv4Addr {
        self.service_cidr.nth(1).unwrap_or(self.service_cidr.network)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c: Ipv4Cidr = "10.43.0.0/16".parse().unwrap();
        assert_eq!(c.size(), 65536);
        assert_eq!(c.nth(1), Some(Ipv4Addr::new(10, 43, 0, 1)));
        assert!(c.contains(Ipv4Addr::new(10, 43, 200, 1)));
        assert!(!c.contains(Ipv4Addr::new(10, 44, 0, 1)));
        assert_eq!(c.offset_of(Ipv4Addr::new(10, 43, 1, 0)), Some(256));
        assert!("10.43.0.0".parse::<Ipv4Cidr>().is_err());
        assert_eq!("10.43.1.7/16".parse::<Ipv4Cidr>().unwrap().to_string(), "10.43.0.0/16");
    }
}
