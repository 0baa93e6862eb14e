//! Node passwords, as K3s keeps them: the first time a node name asks for credentials, a hash
//! of its password (`/etc/rancher/node/password` on that machine) is stored in the Secret
//! `kube-system/<node>.node-password.k3rs`; afterwards only the same password may get
//! credentials for that name, so a second machine cannot take over a node by its name.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k3rs_api::ApiError;
use ring::pbkdf2;
use serde_json::json;

use crate::authn::bootstrap_token::data_field;
use crate::state::AppState;

const NAMESPACE: &str = "kube-system";
const SECRET_TYPE: &str = "k3rs.io/node-password";
const ROUNDS: u32 = 10_000;

/// The message K3s gives a machine that claims a node name it does not own.
pub const REJECTED: &str = "Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' \
     may not match server node-passwd entry; delete the Secret kube-system/<node>.node-password.k3rs to \
     re-register this name, or give this machine a unique node name";

pub fn secret_name(node: &str) -> String {
    format!("{node}.node-password.k3rs")
}

fn derive(password: &str, salt: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let rounds = NonZeroU32::new(ROUNDS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, password.as_bytes(), &mut out);
    out
}

/// `pbkdf2-sha256$<rounds>$<salt>$<hash>`.
pub fn hash(password: &str) -> String {
    let salt: [u8; 16] = rand::random();
    format!("pbkdf2-sha256${ROUNDS}${}${}", STANDARD.encode(salt), STANDARD.encode(derive(password, &salt)))
}

pub fn verify(password: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, rounds, salt, expected] = parts.as_slice() else { return false };
    if *scheme != "pbkdf2-sha256" {
        return false;
    }
    let (Ok(rounds), Ok(salt), Ok(expected)) =
        (rounds.parse::<u32>(), STANDARD.decode(salt), STANDARD.decode(expected))
    else {
        return false;
    };
    let Some(rounds) = NonZeroU32::new(rounds) else { return false };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, rounds, &salt, password.as_bytes(), &expected).is_ok()
}

/// Checks `password` for `node`, storing its hash on first use.
pub async fn check_or_store(state: &AppState, node: &str, password: &str) -> Result<(), ApiError> {
    if password.is_empty() {
        return Err(ApiError::bad_request("a node password is required (header k3rs-node-password)"));
    }
    let key = format!("/registry/secrets/{NAMESPACE}/{}", secret_name(node));
    for _ in 0..3 {
        if let Some(secret) = state.get_object(&key).await? {
            let stored = data_field(&secret, "hash").unwrap_or_default();
            let password = password.to_string();
            // Hashing is CPU work: keep it off the async threads.
            let ok = tokio::task::spawn_blocking(move || verify(&password, &stored)).await.unwrap_or(false);
            return if ok { Ok(()) } else { Err(ApiError::forbidden(REJECTED.replace("<node>", node))) };
        }
        let pw = password.to_string();
        let hashed = tokio::task::spawn_blocking(move || hash(&pw))
            .await
            .map_err(|e| ApiError::internal(format!("hashing the node password: {e}")))?;
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": secret_name(node), "namespace": NAMESPACE},
            "immutable": true,
            "data": {"hash": STANDARD.encode(hashed)},
        });
        match crate::bootstrap::ensure(state, "", "secrets", &key, secret).await {
            Ok(true) => {
                tracing::info!(node, "stored the node password of a new node");
                return Ok(());
            }
            // Someone registered the name meanwhile: check against theirs.
            Ok(false) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::internal("the node password Secret kept changing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let h = hash("machine-1");
        assert!(h.starts_with("pbkdf2-sha256$"));
        assert!(verify("machine-1", &h));
        assert!(!verify("machine-2", &h));
        assert!(!verify("machine-1", "garbage"));
        assert_ne!(hash("machine-1"), h, "salted");
    }
}
