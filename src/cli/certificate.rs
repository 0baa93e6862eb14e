//! `k3rs certificate check|rotate`: the expiry of the cluster's certificates, and
//! re-issuing the leaf certificates at the next start (the CAs stay; see
//! `docs/security.md` for rotating a CA).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// Show the certificates and when they expire
    Check {
        /// Folder to hold state
        #[arg(long, short = 'd', env = "K3RS_DATA_DIR", default_value = "/var/lib/rancher/k3rs")]
        data_dir: PathBuf,
    },
    /// Move the leaf certificates aside so the next start issues new ones (stop the server first)
    Rotate {
        /// Folder to hold state
        #[arg(long, short = 'd', env = "K3RS_DATA_DIR", default_value = "/var/lib/rancher/k3rs")]
        data_dir: PathBuf,
        /// Only these certificates (file stems, e.g. serving-kube-apiserver)
        #[arg(long, value_delimiter = ',')]
        service: Vec<String>,
    },
}

/// Days within which the next start renews a certificate.
const RENEW_DAYS: i64 = (k3rs_pki::RENEW_BEFORE.as_secs() / 86_400) as i64;

pub fn run(command: CertificateCommand) -> anyhow::Result<()> {
    match command {
        CertificateCommand::Check { data_dir } => {
            let dir = data_dir.join("server").join("tls");
            let report = k3rs_pki::check_certificates(&dir, jiff::Timestamp::now())
                .with_context(|| format!("checking {}", dir.display()))?;
            println!("{:<34} {:<50} {:<22} {:>9}  STATUS", "CERTIFICATE", "SUBJECT", "EXPIRES", "DAYS LEFT");
            for cert in report {
                let status = match cert.days_left {
                    d if d < 0 => "EXPIRED",
                    d if d < RENEW_DAYS => "RENEW AT NEXT START",
                    _ => "OK",
                };
                let name = cert.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                println!(
                    "{name:<34} {:<50} {:<22} {:>9}  {status}",
                    cert.subject,
                    cert.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    cert.days_left
                );
            }
        }
        CertificateCommand::Rotate { data_dir, service } => {
            let dir = data_dir.join("server").join("tls");
            let (backup, moved) =
                k3rs_pki::rotate::rotate_leaf_certificates(&dir, &service, jiff::Timestamp::now().as_second())
                    .with_context(|| format!("rotating the certificates in {}", dir.display()))?;
            if moved.is_empty() {
                println!("no certificates to rotate in {}", dir.display());
            } else {
                println!("moved {} to {}", moved.join(", "), backup.display());
                println!("start the server to issue new certificates; it rewrites the admin kubeconfig");
            }
        }
    }
    Ok(())
}
