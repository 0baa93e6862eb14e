//! The encryption configuration file (`<data-dir>/server/cred/encryption-config.json`), in
//! upstream's `EncryptionConfiguration` format: Secrets use the `aesgcm` provider whose first
//! key encrypts new writes; older keys still decrypt; `identity` reads what was stored before
//! encryption was turned on.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde_json::{Value, json};

/// One named AES-256 key.
#[derive(Clone, PartialEq, Eq)]
pub struct NamedKey {
    pub name: String,
    pub secret: [u8; 32],
}

impl std::fmt::Debug for NamedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedKey").field("name", &self.name).finish_non_exhaustive()
    }
}

impl NamedKey {
    /// A fresh random key named after the current time, as K3s names its keys.
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        // Names go into the stored prefix `k8s:enc:aesgcm:v1:<name>:`, so they hold no colon.
        // A random tail keeps keys made in the same second apart.
        let tail: u16 = rand::random();
        NamedKey { name: format!("aesgcm-{}-{tail:04x}", jiff::Timestamp::now().strftime("%Y%m%d%H%M%S")), secret }
    }
}

/// The keys, the write key first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionConfig {
    pub keys: Vec<NamedKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl EncryptionConfig {
    /// Reads the file, `None` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<EncryptionConfig>, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ConfigError::Io { op: "reading", path: path.display().to_string(), source }),
        };
        let invalid = |reason: String| ConfigError::Invalid { path: path.display().to_string(), reason };
        let doc: Value = serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        Self::from_document(&doc).map_err(invalid).map(Some)
    }

    fn from_document(doc: &Value) -> Result<EncryptionConfig, String> {
        if doc.get("kind").and_then(Value::as_str) != Some("EncryptionConfiguration") {
            return Err("kind must be EncryptionConfiguration".into());
        }
        let secrets = doc
            .get("resources")
            .and_then(Value::as_array)
            .and_then(|rs| {
                rs.iter().find(|r| {
                    r.get("resources").and_then(Value::as_array).is_some_and(|l| l.iter().any(|x| x == "secrets"))
                })
            })
            .ok_or("no entry for secrets under resources")?;
        let providers = secrets.get("providers").and_then(Value::as_array).ok_or("no providers for secrets")?;
        let mut keys = Vec::new();
        for p in providers {
            if let Some(list) = p.pointer("/aesgcm/keys").and_then(Value::as_array) {
                for k in list {
                    let name = k
                        .get("name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty() && !n.contains(':'))
                        .ok_or("every key needs a name without ':'")?;
                    let secret = k
                        .get("secret")
                        .and_then(Value::as_str)
                        .and_then(|s| STANDARD.decode(s).ok())
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| format!("key {name:?}: secret must be 32 bytes, base64"))?;
                    keys.push(NamedKey { name: name.to_string(), secret });
                }
            } else if p.get("identity").is_none() {
                return Err("only the aesgcm and identity providers are supported".into());
            }
        }
        if keys.is_empty() {
            return Err("no aesgcm key".into());
        }
        Ok(EncryptionConfig { keys })
    }

    fn to_document(&self) -> Value {
        let keys: Vec<Value> =
            self.keys.iter().map(|k| json!({"name": k.name, "secret": STANDARD.encode(k.secret)})).collect();
        json!({
            "kind": "EncryptionConfiguration",
            "apiVersion": "apiserver.config.k8s.io/v1",
            "resources": [{"resources": ["secrets"], "providers": [{"aesgcm": {"keys": keys}}, {"identity": {}}]}],
        })
    }

    /// Writes the file (mode 0600, atomically).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |op, source| ConfigError::Io { op, path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("creating the directory of", e))?;
        }
        let text = serde_json::to_string_pretty(&self.to_document()).unwrap_or_default();
        k3rs_pki::write_file_atomic(path, text.as_bytes(), k3rs_pki::PRIVATE_KEY_MODE)
            .map_err(|e| ConfigError::Invalid { path: path.display().to_string(), reason: e.to_string() })
    }

    /// A configuration with one new key.
    pub fn generate() -> Self {
        EncryptionConfig { keys: vec![NamedKey::generate()] }
    }

    /// Puts a new key first (it encrypts from now on); the old ones stay to decrypt.
    pub fn with_new_primary(&self) -> Self {
        let mut keys = vec![NamedKey::generate()];
        while self.keys.iter().any(|k| k.name == keys[0].name) {
            keys[0] = NamedKey::generate();
        }
        keys.extend(self.keys.iter().cloned());
        EncryptionConfig { keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_config_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cred/encryption-config.json");
        assert!(EncryptionConfig::load(&path).unwrap().is_none());
        let config = EncryptionConfig::generate().with_new_primary();
        config.save(&path).unwrap();
        let loaded = EncryptionConfig::load(&path).unwrap().unwrap();
        assert_eq!(loaded, config);
        assert_eq!(loaded.keys.len(), 2);
        assert_ne!(loaded.keys[0].name, loaded.keys[1].name);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn broken_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"{"kind":"EncryptionConfiguration","resources":[]}"#).unwrap();
        assert!(EncryptionConfig::load(&path).is_err());
        std::fs::write(&path, "nope").unwrap();
        assert!(EncryptionConfig::load(&path).is_err());
    }
}
