//! AES-256-GCM envelope of stored values, upstream's `aesgcm` format:
//! `k8s:enc:aesgcm:v1:<key name>:` + 12-byte nonce + ciphertext and tag. The store key is the
//! additional authenticated data, so a ciphertext cannot be moved to another object.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::config::EncryptionConfig;

const PREFIX: &[u8] = b"k8s:enc:aesgcm:v1:";

pub struct SecretsCipher {
    /// Write key first.
    keys: Vec<(String, LessSafeKey)>,
    rng: SystemRandom,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("value is encrypted with key {0:?}, which the encryption configuration does not have")]
    UnknownKey(String),
    #[error("value is encrypted but cannot be decrypted (damaged or moved)")]
    Undecryptable,
    #[error("no randomness for a nonce")]
    Random,
}

impl SecretsCipher {
    pub fn new(config: &EncryptionConfig) -> Self {
        let keys = config
            .keys
            .iter()
            .map(|k| {
                // 32 bytes is always a valid AES-256 key.
                let key = UnboundKey::new(&AES_256_GCM, &k.secret).expect("32-byte AES-256 key");
                (k.name.clone(), LessSafeKey::new(key))
            })
            .collect();
        SecretsCipher { keys, rng: SystemRandom::new() }
    }

    /// The name of the key new writes use.
    pub fn write_key_name(&self) -> &str {
        self.keys.first().map(|(n, _)| n.as_str()).unwrap_or("")
    }

    pub fn encrypt(&self, store_key: &str, plain: &[u8]) -> Result<Vec<u8>, CipherError> {
        let Some((name, key)) = self.keys.first() else { return Ok(plain.to_vec()) };
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| CipherError::Random)?;
        let mut data = plain.to_vec();
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(store_key.as_bytes()), &mut data)
            .map_err(|_| CipherError::Random)?;
        let mut out = Vec::with_capacity(PREFIX.len() + name.len() + 1 + NONCE_LEN + data.len());
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// The plaintext of a stored value; values without the prefix were stored in the clear.
    pub fn decrypt(&self, store_key: &str, stored: &[u8]) -> Result<Vec<u8>, CipherError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_vec()) };
        let colon = rest.iter().position(|b| *b == b':').ok_or(CipherError::Undecryptable)?;
        let name = String::from_utf8_lossy(&rest[..colon]).into_owned();
        let body = &rest[colon + 1..];
        let (_, key) = self.keys.iter().find(|(n, _)| *n == name).ok_or(CipherError::UnknownKey(name))?;
        if body.len() < NONCE_LEN {
            return Err(CipherError::Undecryptable);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CipherError::Undecryptable)?;
        let mut data = ciphertext.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(store_key.as_bytes()), &mut data)
            .map_err(|_| CipherError::Undecryptable)?;
        Ok(plain.to_vec())
    }

    /// The name of the key a stored value was encrypted with (`None`: in the clear).
    pub fn key_name_of(stored: &[u8]) -> Option<String> {
        let rest = stored.strip_prefix(PREFIX)?;
        let colon = rest.iter().position(|b| *b == b':')?;
        Some(String::from_utf8_lossy(&rest[..colon]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_bound_to_the_store_key() {
        let config = EncryptionConfig::generate();
        let cipher = SecretsCipher::new(&config);
        let sealed = cipher.encrypt("/registry/secrets/default/a", b"{\"data\":1}").unwrap();
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.windows(8).any(|w| w == b"\"data\":1"));
        assert_eq!(SecretsCipher::key_name_of(&sealed).as_deref(), Some(cipher.write_key_name()));
        assert_eq!(cipher.decrypt("/registry/secrets/default/a", &sealed).unwrap(), b"{\"data\":1}");
        assert_eq!(cipher.decrypt("/registry/secrets/default/b", &sealed), Err(CipherError::Undecryptable));
        // Plain values pass through.
        assert_eq!(cipher.decrypt("/k", b"{}").unwrap(), b"{}");
    }

    #[test]
    fn old_keys_still_decrypt_after_rotation() {
        let config = EncryptionConfig::generate();
        let old = SecretsCipher::new(&config);
        let sealed = old.encrypt("/k", b"x").unwrap();
        let rotated = SecretsCipher::new(&config.with_new_primary());
        assert_ne!(rotated.write_key_name(), old.write_key_name());
        assert_eq!(rotated.decrypt("/k", &sealed).unwrap(), b"x");
        let other = SecretsCipher::new(&EncryptionConfig::generate());
        assert!(matches!(other.decrypt("/k", &sealed), Err(CipherError::UnknownKey(_))));
    }
}
