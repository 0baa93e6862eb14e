//! The server's join tokens: `--token`/`K3RS_TOKEN`/`--token-file`, else the token stored in
//! `<data-dir>/server/token` by an earlier start, else a new random one. The full form
//! (`K10<CA hash>::server:<secret>`) is written to `server/token` (and `server/node-token`,
//! the name K3s users know) so agents can be given it; `--agent-token` goes to
//! `server/agent-token`. Blocking file I/O: call it off the async runtime's threads.

use std::path::Path;

use anyhow::{Context, bail};
use k3rs_apiserver::JoinTokens;
use k3rs_pki::JoinToken;
use k3rs_pki::token::generate_secret;

/// Mode of the token files: they grant access to the cluster.
const TOKEN_MODE: u32 = 0o600;

/// A token given by value or in a file; `None` when neither was given.
pub fn given(value: Option<&str>, file: Option<&Path>, flag: &str) -> anyhow::Result<Option<String>> {
    if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
        return Ok(Some(v.to_string()));
    }
    let Some(file) = file else { return Ok(None) };
    let text = std::fs::read_to_string(file).with_context(|| format!("{flag}: reading {}", file.display()))?;
    let text = text.trim();
    if text.is_empty() {
        bail!("{flag}: {} is empty", file.display());
    }
    Ok(Some(text.to_string()))
}

/// Parses `token` for this cluster: a `K10` hash must be the hash of this cluster's CA.
fn for_this_cluster(token: &str, ca_hash: &str, user: &str, what: &str) -> anyhow::Result<JoinToken> {
    let parsed = JoinToken::parse(token).with_context(|| format!("{what} is not a valid token"))?;
    if let Some(hash) = &parsed.ca_hash
        && hash != ca_hash
    {
        bail!(
            "{what} carries CA hash {hash}, but this cluster's CA (server/tls/server-ca.crt) hashes to {ca_hash}; \
             use a token of this cluster or its bare secret"
        );
    }
    Ok(JoinToken { ca_hash: Some(ca_hash.to_string()), username: user.to_string(), secret: parsed.secret })
}

fn write_token(path: &Path, token: &JoinToken) -> anyhow::Result<()> {
    k3rs_pki::write_file_atomic(path, format!("{token}\n").as_bytes(), TOKEN_MODE)
        .with_context(|| format!("writing {}", path.display()))
}

/// Decides the server and agent tokens and stores their full forms in `server_dir`.
pub fn resolve(
    server_dir: &Path,
    ca_hash: &str,
    server_token: Option<String>,
    agent_token: Option<String>,
) -> anyhow::Result<JoinTokens> {
    let stored_path = server_dir.join("token");
    let server = match server_token {
        Some(t) => for_this_cluster(&t, ca_hash, k3rs_pki::token::SERVER_USER, "--token")?,
        None => match std::fs::read_to_string(&stored_path) {
            Ok(text) if !text.trim().is_empty() => {
                for_this_cluster(text.trim(), ca_hash, k3rs_pki::token::SERVER_USER, "the stored server/token")?
            }
            _ => {
                tracing::info!(path = %stored_path.display(), "generated a new join token");
                JoinToken::server(ca_hash, generate_secret())
            }
        },
    };
    write_token(&stored_path, &server)?;
    write_token(&server_dir.join("node-token"), &server)?;
    let agent = match agent_token {
        Some(t) => {
            let agent = for_this_cluster(&t, ca_hash, k3rs_pki::join::AGENT_USER, "--agent-token")?;
            if agent.secret == server.secret {
                bail!("--agent-token must differ from the server token");
            }
            write_token(&server_dir.join("agent-token"), &agent)?;
            Some(agent)
        }
        None => {
            let _ = std::fs::remove_file(server_dir.join("agent-token"));
            None
        }
    };
    Ok(JoinTokens { server, agent })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(dir.path(), HASH, None, None).unwrap();
        assert_eq!(first.server.ca_hash.as_deref(), Some(HASH));
        let stored = std::fs::read_to_string(dir.path().join("token")).unwrap();
        assert_eq!(stored.trim(), first.server.to_string());
        assert!(stored.starts_with(&format!("K10{HASH}::server:")));
        let again = resolve(dir.path(), HASH, None, None).unwrap();
        assert_eq!(again.server, first.server);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.path().join("token")).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn given_tokens_are_checked_against_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let bare = resolve(dir.path(), HASH, Some("my-secret".into()), Some("agent-secret".into())).unwrap();
        assert_eq!(bare.server.to_string(), format!("K10{HASH}::server:my-secret"));
        assert_eq!(bare.agent.unwrap().to_string(), format!("K10{HASH}::node:agent-secret"));
        let other = "f".repeat(64);
        let err = resolve(dir.path(), HASH, Some(format!("K10{other}::server:x")), None).unwrap_err();
        assert!(err.to_string().contains("CA hash"), "{err}");
        assert!(resolve(dir.path(), HASH, Some("x".into()), Some("x".into())).is_err());
    }

    #[test]
    fn token_files() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        std::fs::write(&f, "  from-file\n").unwrap();
        assert_eq!(given(None, Some(&f), "--token-file").unwrap().as_deref(), Some("from-file"));
        assert_eq!(given(Some("v"), Some(&f), "--token").unwrap().as_deref(), Some("v"));
        assert!(given(None, Some(&dir.path().join("missing")), "--token-file").is_err());
    }
}
