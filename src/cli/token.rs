//! `k3rs token create|list|delete|generate`: bootstrap tokens (`<id>.<secret>`), stored as
//! Secrets in kube-system, that agents can join with until they expire.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use k3rs_apiserver::authn::bootstrap_token::{self, DEFAULT_EXTRA_GROUP, NAMESPACE, SECRET_NAME_PREFIX, SECRET_TYPE};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};

use super::admin_client::{KubeconfigArg, client, cluster_ca, runtime};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bootstrap token on the server
    Create {
        /// The token (`<id>.<secret>`; generated when not given)
        token: Option<String>,
        /// Lifetime before the token expires (e.g. 24h, 90m); 0 never expires
        #[arg(long, default_value = "24h")]
        ttl: String,
        /// Human-friendly description of the token
        #[arg(long, default_value = "")]
        description: String,
        /// Extra groups the token authenticates with
        #[arg(long, value_delimiter = ',', default_value = DEFAULT_EXTRA_GROUP)]
        groups: Vec<String>,
        #[command(flatten)]
        kubeconfig: KubeconfigArg,
    },
    /// List bootstrap tokens on the server
    List {
        #[command(flatten)]
        kubeconfig: KubeconfigArg,
    },
    /// Delete bootstrap tokens on the server
    Delete {
        /// Token ids (or full tokens) to delete
        #[arg(required = true)]
        tokens: Vec<String>,
        #[command(flatten)]
        kubeconfig: KubeconfigArg,
    },
    /// Print a random bootstrap token without creating it
    Generate,
}

/// Parses a lifetime such as `24h`, `90m`, `1h30m`, `45s`; `0` means no expiry.
pub fn parse_ttl(text: &str) -> anyhow::Result<Option<Duration>> {
    let text = text.trim();
    if text == "0" || text == "0s" {
        return Ok(None);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => bail!("--ttl {text:?}: unknown unit {c:?} (use s, m, h or d)"),
        };
        let n: u64 = number.parse().with_context(|| format!("--ttl {text:?}: a number must precede {c:?}"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        bail!("--ttl {text:?}: expected a duration such as 24h, 90m or 0");
    }
    Ok(Some(Duration::from_secs(total)))
}

fn token_id(given: &str) -> &str {
    given.rsplit("::").next().unwrap_or(given).split('.').next().unwrap_or(given)
}

pub fn run(command: TokenCommand) -> anyhow::Result<()> {
    if let TokenCommand::Generate = command {
        let (id, secret) = bootstrap_token::generate();
        println!("{id}.{secret}");
        return Ok(());
    }
    runtime()?.block_on(run_async(command))
}

async fn run_async(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { token, ttl, description, groups, kubeconfig } => {
            let (id, secret) = match token {
                Some(t) if bootstrap_token::is_bootstrap_token(&t) => {
                    let (id, secret) = t.split_once('.').unwrap_or_default();
                    (id.to_string(), secret.to_string())
                }
                Some(t) => bail!("{t:?} is not a bootstrap token; the form is [a-z0-9]{{6}}.[a-z0-9]{{16}}"),
                None => bootstrap_token::generate(),
            };
            for g in &groups {
                if !g.starts_with("system:bootstrappers:") {
                    bail!("--groups: {g:?} must start with system:bootstrappers:");
                }
            }
            let expiration = parse_ttl(&ttl)?.map(|d| {
                let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(d.as_secs() as i64);
                at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            });
            let secret_obj = bootstrap_token::secret_for(&id, &secret, expiration.as_deref(), &description, &groups);
            let secret_obj: Secret = serde_json::from_value(secret_obj)?;
            let api: Api<Secret> = Api::namespaced(client(&kubeconfig.kubeconfig).await?, NAMESPACE);
            api.create(&PostParams::default(), &secret_obj).await.context("creating the token")?;
            let hash = k3rs_pki::token::ca_hash(&cluster_ca(&kubeconfig.kubeconfig)?);
            println!("K10{hash}::{id}.{secret}");
        }
        TokenCommand::List { kubeconfig } => {
            let api: Api<Secret> = Api::namespaced(client(&kubeconfig.kubeconfig).await?, NAMESPACE);
            let list = api.list(&ListParams::default().fields(&format!("type={SECRET_TYPE}"))).await;
            // Field selectors on `type` are served; fall back to filtering when they are not.
            let items = match list {
                Ok(l) => l.items,
                Err(_) => api.list(&ListParams::default()).await?.items,
            };
            println!(
                "{:<24} {:<10} {:<22} {:<28} {:<20} EXTRA GROUPS",
                "TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION"
            );
            let now = jiff::Timestamp::now();
            for s in items.iter().filter(|s| s.type_.as_deref() == Some(SECRET_TYPE)) {
                let v = serde_json::to_value(s)?;
                let field = |k: &str| bootstrap_token::data_field(&v, k).unwrap_or_default();
                let expires = field("expiration");
                let ttl = match expires.parse::<jiff::Timestamp>() {
                    Ok(t) if t > now => format!("{}m", (t.as_second() - now.as_second()) / 60),
                    Ok(_) => "<expired>".into(),
                    Err(_) if expires.is_empty() => "<forever>".into(),
                    Err(_) => "<invalid>".into(),
                };
                let usages: Vec<&str> = ["authentication", "signing"]
                    .into_iter()
                    .filter(|u| field(&format!("usage-bootstrap-{u}")) == "true")
                    .collect();
                println!(
                    "{:<24} {:<10} {:<22} {:<28} {:<20} {}",
                    format!("{}.{}", field("token-id"), field("token-secret")),
                    ttl,
                    if expires.is_empty() { "<never>".to_string() } else { expires },
                    usages.join(","),
                    field("description"),
                    field("auth-extra-groups")
                );
            }
        }
        TokenCommand::Delete { tokens, kubeconfig } => {
            let api: Api<Secret> = Api::namespaced(client(&kubeconfig.kubeconfig).await?, NAMESPACE);
            for t in tokens {
                let id = token_id(&t);
                api.delete(&format!("{SECRET_NAME_PREFIX}{id}"), &DeleteParams::default())
                    .await
                    .with_context(|| format!("deleting token {id}"))?;
                println!("bootstrap token {id:?} deleted");
            }
        }
        TokenCommand::Generate => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("24h").unwrap(), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_ttl("1h30m").unwrap(), Some(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("2s").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(parse_ttl("0").unwrap(), None);
        for bad in ["", "h", "10", "5y", "-1h"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_from_any_form() {
        assert_eq!(token_id("abcdef"), "abcdef");
        assert_eq!(token_id("abcdef.0123456789abcdef"), "abcdef");
        assert_eq!(token_id("K10aa::abcdef.0123456789abcdef"), "abcdef");
    }
}
