//! `k3rs server`: certificates, datastore and API server, wired from the flags.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use k3rs_apiserver::{ApiServer, Ipv4Cidr, ServerOptions};
use k3rs_pki::kubeconfig::render_kubeconfig;
use k3rs_pki::{ClusterPki, PkiOptions};
use k3rs_store::{Store, StoreOptions};
use tracing::info;

use crate::agent::{self, Agent, AgentSetup, Credentials};
use crate::cli::ServerArgs;
use crate::control_plane::{self, ControlPlane};
use crate::netinfo;

/// Request bodies above this are refused (upstream's limit is 3 MiB).
const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

fn parse_port_range(s: &str) -> anyhow::Result<std::ops::RangeInclusive<u16>> {
    let (lo, hi) = s.split_once('-').with_context(|| format!("--service-node-port-range {s:?}: expected FROM-TO"))?;
    let lo: u16 = lo.trim().parse().with_context(|| format!("--service-node-port-range {s:?}: bad start"))?;
    let hi: u16 = hi.trim().parse().with_context(|| format!("--service-node-port-range {s:?}: bad end"))?;
    if lo == 0 || lo > hi {
        bail!("--service-node-port-range {s:?}: the start must be between 1 and the end");
    }
    Ok(lo..=hi)
}

fn parse_mode(mode: &Option<String>) -> anyhow::Result<Option<u32>> {
    mode.as_deref()
        .map(|m| {
            u32::from_str_radix(m.trim_start_matches("0o"), 8)
                .with_context(|| format!("--write-kubeconfig-mode {m:?} is not an octal mode"))
        })
        .transpose()
}

pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let service_cidr: Ipv4Cidr = args.service_cidr.parse().map_err(|e| anyhow::anyhow!("--service-cidr: {e}"))?;
    let cluster_cidr: Ipv4Cidr = args.cluster_cidr.parse().map_err(|e| anyhow::anyhow!("--cluster-cidr: {e}"))?;
    let node_port_range = parse_port_range(&args.service_node_port_range)?;
    let kubeconfig_mode = parse_mode(&args.write_kubeconfig_mode)?;
    let node_ip = args.node.node_ip.unwrap_or_else(netinfo::primary_ip);
    // The flags of the in-process agent are checked before anything starts.
    let agent_node = if args.disable_agent { None } else { Some(agent::node::node_config(&args.node)?) };
    let advertise =
        args.advertise_address.unwrap_or(if args.bind_address.is_unspecified() { node_ip } else { args.bind_address });

    let server_dir = args.data_dir.join("server");
    let tls_dir = server_dir.join("tls");
    let db_dir = server_dir.join("db");
    std::fs::create_dir_all(&db_dir).with_context(|| format!("creating {}", db_dir.display()))?;

    let pki_opts = PkiOptions {
        node_ips: vec![node_ip, advertise],
        tls_sans: args.tls_san.clone(),
        service_cidr: args.service_cidr.clone(),
        ..PkiOptions::default()
    };
    let pki = tokio::task::spawn_blocking(move || ClusterPki::load_or_create(&tls_dir, &pki_opts))
        .await
        .context("certificate task")?
        .context("loading or creating the cluster certificates")?;
    let tls = Arc::new(pki.server_tls_config().context("building the TLS configuration")?);
    let kubelet_tls =
        Arc::new(pki.kubelet_client_tls_config().context("building the TLS configuration towards kubelets")?);
    let identity = identity_options(&args, &server_dir, pki.token_ca_hash()).await?;

    let store =
        Store::open_sqlite(db_dir.join("state.db"), StoreOptions::default()).await.context("opening the datastore")?;
    let listen = SocketAddr::new(args.bind_address, args.https_listen_port);
    let server = ApiServer::start(
        store,
        ServerOptions {
            listen,
            advertise_address: advertise,
            service_cidr,
            node_port_range,
            tls,
            kubelet_tls: Some(kubelet_tls),
            max_body_bytes: MAX_BODY_BYTES,
            default_watch_timeout: Duration::from_secs(45 * 60),
            bookmark_interval: Duration::from_secs(60),
            pki: Arc::new(pki),
            join_tokens: identity.tokens,
            secrets_encryption: identity.encryption,
            service_account_issuer: SERVICE_ACCOUNT_ISSUER.to_string(),
            api_audiences: vec![SERVICE_ACCOUNT_ISSUER.to_string(), "k3rs".to_string()],
        },
    )
    .await?;

    let url_host = match args.bind_address {
        ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    let url = format!("https://{}", SocketAddr::new(url_host, server.local_addr.port()));
    let pki = server.pki();
    write_kubeconfig(&pki, &args.write_kubeconfig, kubeconfig_mode, &url)?;
    let control_opts = control_plane::Options::from_args(&args, &url, (cluster_cidr.network, cluster_cidr.prefix));
    let control = ControlPlane::start(&pki, control_opts).await.context("starting the control loops")?;
    let deployer = crate::manifests::start(crate::manifests::DeployOptions {
        dir: server_dir.join("manifests"),
        record: server_dir.join("manifests-applied.json"),
        kubeconfig: render_kubeconfig(&pki.admin_kubeconfig_spec(&url))
            .context("rendering the deployer's kubeconfig")?,
    })
    .await
    .context("starting the manifest deployer")?;
    info!(%url, kubeconfig = %args.write_kubeconfig.display(), "k3rs server is ready");
    let agent = match agent_node {
        Some(node) => match start_agent(&args, &pki, &url, node).await {
            Ok(agent) => Some(agent),
            Err(e) => {
                drop(deployer);
                control.stop().await;
                return Err(e);
            }
        },
        None => None,
    };
    crate::systemd_notify::ready("API server is serving");

    shutdown_signal().await;
    info!("shutting down");
    crate::systemd_notify::stopping();
    drop(deployer);
    if let Some(agent) = agent {
        agent.shutdown().await;
    }
    // Leases are released while the API server still answers.
    control.stop().await;
    drop(server);
    Ok(())
}

/// The server's own agent, with certificates issued straight from the cluster PKI.
async fn start_agent(
    args: &ServerArgs,
    pki: &ClusterPki,
    url: &str,
    node: k3rs_kubelet::node::NodeConfig,
) -> anyhow::Result<Agent> {
    let credentials = Credentials::from_cluster_pki(pki, url, &node.name, &node.hostname, &node.internal_ips)?;
    // The role labels a kubelet may not set on its own Node are set with the server's identity.
    let admin = pki.admin_client_cert();
    let admin = agent::credentials::KeyPair { cert_pem: admin.cert_pem.clone(), key_pem: admin.key_pem.clone() };
    let admin = agent::credentials::kube_config(url, pki.server_ca_pem(), &admin, "k3rs-supervisor")
        .await
        .and_then(|c| Ok(kube::Client::try_from(c)?))
        .context("building the server's node labelling client")?;
    let setup = AgentSetup {
        data_dir: args.data_dir.clone(),
        args: args.node.clone(),
        node,
        credentials,
        privileged_labels: Some((admin, control_plane_labels())),
    };
    Agent::start(setup).await.context("starting the built-in agent (--disable-agent runs without it)")
}

/// The labels a server's Node carries, which its kubelet may not set itself.
fn control_plane_labels() -> std::collections::BTreeMap<String, String> {
    use k3rs_kubelet::node::labels::{CONTROL_PLANE, MASTER};
    [CONTROL_PLANE, MASTER].into_iter().map(|l| (l.to_string(), "true".to_string())).collect()
}

/// Service-account token issuer and default audience (K3s' values).
const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

struct Identity {
    tokens: k3rs_apiserver::JoinTokens,
    encryption: Arc<k3rs_apiserver::SecretsEncryption>,
}

/// Join tokens and secrets encryption, from the flags and the data directory.
async fn identity_options(args: &ServerArgs, server_dir: &Path, ca_hash: String) -> anyhow::Result<Identity> {
    let server_token = crate::tokens::given(args.token.as_deref(), args.token_file.as_deref(), "--token")?;
    let agent_token =
        crate::tokens::given(args.agent_token.as_deref(), args.agent_token_file.as_deref(), "--agent-token")?;
    let dir = server_dir.to_path_buf();
    let encryption_enabled = args.secrets_encryption;
    tokio::task::spawn_blocking(move || {
        let tokens = crate::tokens::resolve(&dir, &ca_hash, server_token, agent_token)?;
        let config = dir.join("cred").join("encryption-config.json");
        let encryption = k3rs_apiserver::SecretsEncryption::open(&config, encryption_enabled)
            .with_context(|| format!("loading the secrets encryption keys {}", config.display()))?;
        Ok(Identity { tokens, encryption: Arc::new(encryption) })
    })
    .await
    .context("identity task")?
}

fn write_kubeconfig(pki: &ClusterPki, path: &Path, mode: Option<u32>, url: &str) -> anyhow::Result<()> {
    pki.write_kubeconfig(path, mode, url).with_context(|| format!("writing the kubeconfig {}", path.display()))
}

/// Waits for SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
