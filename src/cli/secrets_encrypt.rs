//! `k3rs secrets-encrypt status|rotate-keys`: asks the running server (with the admin
//! kubeconfig) about secrets encryption at rest, or to start encrypting with a new key and
//! re-encrypt every Secret with it.

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::Value;

use super::admin_client::{KubeconfigArg, client, runtime};

#[derive(Debug, Subcommand)]
pub enum SecretsEncryptCommand {
    /// Print the current status of secrets encryption
    Status {
        #[command(flatten)]
        kubeconfig: KubeconfigArg,
    },
    /// Encrypt with a new key from now on and re-encrypt every Secret with it
    RotateKeys {
        #[command(flatten)]
        kubeconfig: KubeconfigArg,
    },
}

fn print_status(v: &Value) {
    let enabled = v.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    println!("Encryption Status: {}", if enabled { "Enabled" } else { "Disabled" });
    println!("Provider: {}", v.get("provider").and_then(Value::as_str).unwrap_or(""));
    println!("Active Key: {}", v.get("activeKey").and_then(Value::as_str).unwrap_or("<none>"));
    let keys: Vec<&str> =
        v.get("keys").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    println!("Keys: {}", if keys.is_empty() { "<none>".to_string() } else { keys.join(", ") });
    if let Some(counts) = v.get("secretsByKey").and_then(Value::as_object) {
        for (key, n) in counts {
            println!("Secrets encrypted with {key}: {n}");
        }
    }
    if let Some(n) = v.get("rewritten") {
        println!("Secrets re-encrypted: {n}");
    }
}

pub fn run(command: SecretsEncryptCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let (kubeconfig, method, path) = match command {
            SecretsEncryptCommand::Status { kubeconfig } => (kubeconfig, http::Method::GET, "/v1-k3rs/encrypt/status"),
            SecretsEncryptCommand::RotateKeys { kubeconfig } => {
                (kubeconfig, http::Method::POST, "/v1-k3rs/encrypt/rotate-keys")
            }
        };
        let client = client(&kubeconfig.kubeconfig).await?;
        let request = http::Request::builder().method(method).uri(path).body(Vec::new())?;
        let text = match client.request_text(request).await {
            Ok(t) => t,
            Err(kube::Error::Api(status)) => bail!("{}", status.message),
            Err(e) => return Err(e).context("asking the server"),
        };
        let v: Value = serde_json::from_str(&text).with_context(|| format!("unexpected answer: {text}"))?;
        print_status(&v);
        Ok(())
    })
}
