//! Secrets encryption at rest (`--secrets-encryption`): Secret values are sealed with
//! AES-GCM before they reach the datastore, so reading the database (or an etcd-level read)
//! shows ciphertext; the API server decrypts on read.
//!
//! The keys live in `<data-dir>/server/cred/encryption-config.json`. Once the file exists,
//! its keys are used to read even if the flag is later dropped (stored Secrets stay readable);
//! the flag decides whether new writes are encrypted. `rotate-keys` puts a new key first and
//! rewrites every Secret with it.

mod cipher;
pub mod config;
pub mod endpoints;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use cipher::{CipherError, SecretsCipher};
pub use config::{ConfigError, EncryptionConfig};

/// The store prefix whose values are encrypted.
pub const ENCRYPTED_PREFIX: &str = "/registry/secrets/";

/// The encryption state of a server: whether writes are encrypted, and the keys.
pub struct SecretsEncryption {
    config_path: PathBuf,
    enabled: bool,
    cipher: RwLock<Option<Arc<SecretsCipher>>>,
}

/// What `k3rs secrets-encrypt status` reports.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionStatus {
    pub enabled: bool,
    pub provider: &'static str,
    /// The key new writes use.
    pub active_key: Option<String>,
    /// Every key, the active one first.
    pub keys: Vec<String>,
}

impl SecretsEncryption {
    /// No encryption and no keys (tests, or servers that never turned it on).
    pub fn disabled() -> Self {
        SecretsEncryption { config_path: PathBuf::new(), enabled: false, cipher: RwLock::new(None) }
    }

    /// Loads the keys at `config_path`, creating a first key when `enabled` and none exist.
    /// Blocking file I/O: call at start, off the async runtime's threads.
    pub fn open(config_path: &Path, enabled: bool) -> Result<Self, ConfigError> {
        let config = match EncryptionConfig::load(config_path)? {
            Some(c) => Some(c),
            None if enabled => {
                let c = EncryptionConfig::generate();
                c.save(config_path)?;
                tracing::info!(path = %config_path.display(), "created the secrets encryption key");
                Some(c)
            }
            None => None,
        };
        Ok(SecretsEncryption {
            config_path: config_path.to_path_buf(),
            enabled,
            cipher: RwLock::new(config.map(|c| Arc::new(SecretsCipher::new(&c)))),
        })
    }

    fn cipher(&self) -> Option<Arc<SecretsCipher>> {
        self.cipher.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The key file, when this server has one configured.
    pub fn config_path(&self) -> Option<&Path> {
        (!self.config_path.as_os_str().is_empty() && self.config_path.exists()).then_some(self.config_path.as_path())
    }

    /// The stored form of `plain` at `key`.
    pub fn seal(&self, key: &str, plain: Vec<u8>) -> Result<Vec<u8>, CipherError> {
        if !self.enabled || !key.starts_with(ENCRYPTED_PREFIX) {
            return Ok(plain);
        }
        match self.cipher() {
            Some(c) => c.encrypt(key, &plain),
            None => Ok(plain),
        }
    }

    /// The plaintext of the stored value at `key`.
    pub fn open_value(&self, key: &str, stored: &[u8]) -> Result<Vec<u8>, CipherError> {
        match self.cipher() {
            Some(c) if key.starts_with(ENCRYPTED_PREFIX) => c.decrypt(key, stored),
            _ => match SecretsCipher::key_name_of(stored) {
                Some(name) => Err(CipherError::UnknownKey(name)),
                None => Ok(stored.to_vec()),
            },
        }
    }

    pub fn status(&self) -> EncryptionStatus {
        let keys = EncryptionConfig::load(&self.config_path)
            .ok()
            .flatten()
            .map(|c| c.keys.into_iter().map(|k| k.name).collect::<Vec<_>>())
            .unwrap_or_default();
        EncryptionStatus {
            enabled: self.enabled,
            provider: if self.enabled { "aesgcm" } else { "identity" },
            active_key: self.cipher().map(|c| c.write_key_name().to_string()),
            keys,
        }
    }

    /// Makes a new key the write key and saves the configuration. Blocking file I/O.
    /// The caller rewrites the stored Secrets afterwards.
    pub fn rotate(&self) -> Result<String, ConfigError> {
        let current = EncryptionConfig::load(&self.config_path)?.unwrap_or_else(|| EncryptionConfig { keys: vec![] });
        let next = current.with_new_primary();
        next.save(&self.config_path)?;
        let name = next.keys[0].name.clone();
        *self.cipher.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(SecretsCipher::new(&next)));
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_secrets_are_sealed_and_only_when_enabled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.json");
        let on = SecretsEncryption::open(&path, true).unwrap();
        let sealed = on.seal("/registry/secrets/ns/a", b"{}".to_vec()).unwrap();
        assert!(sealed.starts_with(b"k8s:enc:aesgcm:v1:"));
        assert_eq!(on.seal("/registry/configmaps/ns/a", b"{}".to_vec()).unwrap(), b"{}");
        assert_eq!(on.open_value("/registry/secrets/ns/a", &sealed).unwrap(), b"{}");

        // Turning the flag off keeps old ciphertext readable and stops encrypting.
        let off = SecretsEncryption::open(&path, false).unwrap();
        assert_eq!(off.open_value("/registry/secrets/ns/a", &sealed).unwrap(), b"{}");
        assert_eq!(off.seal("/registry/secrets/ns/a", b"{}".to_vec()).unwrap(), b"{}");
        // Without keys, ciphertext is an error rather than garbage.
        assert!(SecretsEncryption::disabled().open_value("/registry/secrets/ns/a", &sealed).is_err());
    }

    #[test]
    fn rotation_switches_the_write_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.json");
        let enc = SecretsEncryption::open(&path, true).unwrap();
        let before = enc.status();
        let old = enc.seal("/registry/secrets/ns/a", b"1".to_vec()).unwrap();
        let new_key = enc.rotate().unwrap();
        let status = enc.status();
        assert_eq!(status.active_key.as_deref(), Some(new_key.as_str()));
        assert_eq!(status.keys.len(), 2);
        assert_ne!(before.active_key, status.active_key);
        assert_eq!(enc.open_value("/registry/secrets/ns/a", &old).unwrap(), b"1");
        let fresh = enc.seal("/registry/secrets/ns/a", b"1".to_vec()).unwrap();
        assert_eq!(SecretsCipher::key_name_of(&fresh), Some(new_key));
    }
}
