//! The pod's `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, written into the
//! sandbox directory and bind-mounted into every container of the pod.

use serde::{Deserialize, Serialize};

use super::{Sandbox, write_atomic};
use crate::error::{Result, RuntimeError};

/// DNS settings (`dnsConfig` / the kubelet's cluster DNS).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// One `/etc/hosts` line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub ip: String,
    pub hostnames: Vec<String>,
}

pub(crate) fn write_all(sandbox: &Sandbox) -> Result<()> {
    write_hosts(sandbox)?;
    let resolv = match &sandbox.config.dns {
        Some(dns) => resolv_conf(dns),
        None => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    write_atomic(&sandbox.resolv_conf_path(), resolv.as_bytes())?;
    let hostname = if sandbox.config.host_network { host_name() } else { sandbox.config.hostname.clone() };
    write_atomic(&sandbox.hostname_path(), format!("{hostname}\n").as_bytes())
}

pub(crate) fn write_hosts(sandbox: &Sandbox) -> Result<()> {
    let text = if sandbox.config.host_network {
        let path = "/etc/hosts";
        let mut text = std::fs::read_to_string(path).map_err(|e| RuntimeError::io("read", path, e))?;
        text.push_str(&extra_entries(&sandbox.config.hosts));
        text
    } else {
        hosts_file(&sandbox.config.hosts)
    };
    write_atomic(&sandbox.hosts_path(), text.as_bytes())
}

/// The hosts file of a pod with its own network namespace, as the kubelet writes it.
fn hosts_file(entries: &[HostEntry]) -> String {
    let mut text = String::from(
        "# Kubernetes-managed hosts file.\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         fe00::0\tip6-mcastprefix\n\
         fe00::1\tip6-allnodes\n\
         fe00::2\tip6-allrouters\n",
    );
    text.push_str(&extra_entries(entries));
    text
}

fn extra_entries(entries: &[HostEntry]) -> String {
    entries
        .iter()
        .filter(|e| !e.ip.is_empty() && !e.hostnames.is_empty())
        .map(|e| format!("{}\t{}\n", e.ip, e.hostnames.join("\t")))
        .collect()
}

fn resolv_conf(dns: &DnsConfig) -> String {
    let mut text = String::new();
    for server in &dns.servers {
        text.push_str(&format!("nameserver {server}\n"));
    }
    if !dns.searches.is_empty() {
        text.push_str(&format!("search {}\n", dns.searches.join(" ")));
    }
    if !dns.options.is_empty() {
        text.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    text
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_lists_localhost_and_extra_entries() {
        let text = hosts_file(&[
            HostEntry { ip: "10.42.0.5".into(), hostnames: vec!["web-0".into()] },
            HostEntry { ip: "1.2.3.4".into(), hostnames: vec!["a".into(), "b".into()] },
        ]);
        assert!(text.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("10.42.0.5\tweb-0\n1.2.3.4\ta\tb\n"));
    }

    #[test]
    fn resolv_conf_has_servers_search_and_options() {
        let dns = DnsConfig {
            servers: vec!["10.43.0.10".into()],
            searches: vec!["default.svc.cluster.local".into(), "svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        };
        assert_eq!(
            resolv_conf(&dns),
            "nameserver 10.43.0.10\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5\n"
        );
    }
}
