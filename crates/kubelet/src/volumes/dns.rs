//! The pod's `/etc/hosts` and `/etc/resolv.conf`, as upstream's kubelet writes them.

use k8s_openapi::api::core::v1::PodSpec;

/// `/etc/hosts` of a pod that does not use the host network.
pub fn hosts_file(spec: &PodSpec, pod_name: &str, namespace: &str, pod_ips: &[String], cluster_domain: &str) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let hostname = spec.hostname.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| pod_name.to_string());
    for ip in pod_ips {
        match spec.subdomain.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => {
                out.push_str(&format!("{ip}\t{hostname}.{sub}.{namespace}.svc.{cluster_domain}\t{hostname}\n"))
            }
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    let aliases = spec.host_aliases.clone().unwrap_or_default();
    if !aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            out.push_str(&format!("{}\t{}\n", a.ip, a.hostnames.unwrap_or_default().join("\t")));
        }
    }
    out
}

/// The host's resolver settings (from its `/etc/resolv.conf`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolver {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl Resolver {
    pub fn parse(text: &str) -> Resolver {
        let mut r = Resolver::default();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => r.nameservers.extend(words.next().map(String::from)),
                Some("search") | Some("domain") => r.searches = words.map(String::from).collect(),
                Some("options") => r.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        r
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

/// `/etc/resolv.conf` for the pod's `dnsPolicy` and `dnsConfig`.
pub fn resolv_conf(
    spec: &PodSpec,
    namespace: &str,
    host: &Resolver,
    cluster_dns: &[String],
    cluster_domain: &str,
) -> String {
    let policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    let host_network = spec.host_network == Some(true);
    let mut r = match policy {
        "None" => Resolver::default(),
        "Default" => host.clone(),
        "ClusterFirst" if host_network => host.clone(),
        _ if cluster_dns.is_empty() => host.clone(),
        _ => Resolver {
            nameservers: cluster_dns.to_vec(),
            searches: [
                format!("{namespace}.svc.{cluster_domain}"),
                format!("svc.{cluster_domain}"),
                cluster_domain.to_string(),
            ]
            .into_iter()
            .chain(host.searches.iter().cloned())
            .collect(),
            options: vec!["ndots:5".to_string()],
        },
    };
    if let Some(cfg) = &spec.dns_config {
        for ns in cfg.nameservers.iter().flatten() {
            if !r.nameservers.contains(ns) {
                r.nameservers.push(ns.clone());
            }
        }
        for s in cfg.searches.iter().flatten() {
            if !r.searches.contains(s) {
                r.searches.push(s.clone());
            }
        }
        for o in cfg.options.iter().flatten() {
            let rendered = match &o.value {
                Some(v) => format!("{}:{v}", o.name.clone().unwrap_or_default()),
                None => o.name.clone().unwrap_or_default(),
            };
            let key = rendered.split(':').next().unwrap_or("").to_string();
            r.options.retain(|existing| existing.split(':').next() != Some(key.as_str()));
            r.options.push(rendered);
        }
    }
    // Upstream keeps at most three nameservers and six search domains.
    r.nameservers.truncate(3);
    r.searches.truncate(6);
    r.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hosts_and_resolvers() {
        let spec: PodSpec = serde_json::from_value(
            json!({"containers": [], "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a", "b"]}]}),
        )
        .unwrap();
        let hosts = hosts_file(&spec, "web-0", "ns", &["10.42.0.5".into()], "cluster.local");
        assert!(hosts.contains("10.42.0.5\tweb-0\n"));
        assert!(hosts.ends_with("# Entries added by HostAliases.\n1.2.3.4\ta\tb\n"));
        let host = Resolver::parse("nameserver 1.1.1.1\nsearch example.com\noptions edns0\n");
        let cf: PodSpec = serde_json::from_value(json!({"containers": []})).unwrap();
        assert_eq!(
            resolv_conf(&cf, "ns", &host, &["10.43.0.10".into()], "cluster.local"),
            "search ns.svc.cluster.local svc.cluster.local cluster.local example.com\nnameserver 10.43.0.10\noptions ndots:5\n"
        );
        let none: PodSpec = serde_json::from_value(json!({"containers": [], "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["9.9.9.9"], "options": [{"name": "ndots", "value": "2"}]}}))
        .unwrap();
        assert_eq!(resolv_conf(&none, "ns", &host, &[], "cluster.local"), "nameserver 9.9.9.9\noptions ndots:2\n");
    }
}
