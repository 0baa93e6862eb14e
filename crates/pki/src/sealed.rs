//! Data sealed with a key derived from a passphrase (the join token's secret): how a server
//! hands its CAs and signing keys to a server that joins with the same token. Only a holder of
//! the token can open the box, and tampering is detected.
//!
//! Format (then base64): `salt (16) || nonce (12) || AES-256-GCM ciphertext and tag`. The key is
//! PBKDF2-HMAC-SHA256 of the passphrase over the salt.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{PkiError, Result};

const SALT_LEN: usize = 16;
/// PBKDF2 rounds: slows down guessing a short token offline, yet takes milliseconds per join.
const ROUNDS: u32 = 100_000;

fn derive_key(passphrase: &str, salt: &[u8]) -> LessSafeKey {
    let mut key = [0u8; 32];
    let rounds = NonZeroU32::new(ROUNDS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, passphrase.as_bytes(), &mut key);
    // A 32-byte key is always valid for AES-256-GCM.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key).expect("32-byte AES-256 key"))
}

/// Encrypts `plaintext` for holders of `passphrase`; returns base64 text.
pub fn seal(passphrase: &str, plaintext: &[u8]) -> Result<String> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| PkiError::Unsupported("no randomness available".into()))?;
    rng.fill(&mut nonce).map_err(|_| PkiError::Unsupported("no randomness available".into()))?;
    let key = derive_key(passphrase, &salt);
    let mut data = plaintext.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| PkiError::Unsupported("encryption failed".into()))?;
    let mut out = Vec::with_capacity(SALT_LEN + NONCE_LEN + data.len());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&data);
    Ok(STANDARD.encode(out))
}

/// Decrypts what [`seal`] produced; fails for another passphrase or altered data.
pub fn open(passphrase: &str, sealed: &str) -> Result<Vec<u8>> {
    let wrong = || {
        PkiError::InvalidToken("the sealed data cannot be opened with this token (wrong token or damaged data)".into())
    };
    let bytes = STANDARD.decode(sealed.trim()).map_err(|_| wrong())?;
    if bytes.len() < SALT_LEN + NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(wrong());
    }
    let (salt, rest) = bytes.split_at(SALT_LEN);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
    let key = derive_key(passphrase, salt);
    let mut data = ciphertext.to_vec();
    let plain = key.open_in_place(nonce, Aad::empty(), &mut data).map_err(|_| wrong())?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let sealed = seal("s3cret", b"the CA keys").unwrap();
        assert!(!sealed.contains("the CA keys"));
        assert_eq!(open("s3cret", &sealed).unwrap(), b"the CA keys");
        assert!(open("other", &sealed).is_err());
        assert!(open("s3cret", "AAAA").is_err());
        // Two seals of the same data differ (fresh salt and nonce).
        assert_ne!(seal("s3cret", b"x").unwrap(), seal("s3cret", b"x").unwrap());
    }
}
