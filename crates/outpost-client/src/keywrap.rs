//! The cache key, wrapped by a key derived from the user's password (Argon2id) with an AEAD
//! (XChaCha20-Poly1305). Unlocking offline is unwrapping; a wrong password fails the AEAD
//! check before the cache file is ever touched.

use argon2::Argon2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{ClientError, ClientResult};

/// A 256-bit key wiped from memory on drop.
pub type Key = Zeroizing<[u8; 32]>;

/// A wrapped key as kept in the keyring (base64 fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub salt: String,
    pub nonce: String,
    pub sealed: String,
}

/// A fresh random key.
pub fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut_slice());
    key
}

fn derive(password: &str, salt: &[u8]) -> ClientResult<Key> {
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::default()
        .hash_password_into(password.as_bytes(), salt, out.as_mut_slice())
        .map_err(|e| ClientError::Corrupt(format!("key derivation: {e}")))?;
    Ok(out)
}

/// Wraps `key` under `password`, bound to `context` (the profile id).
pub fn wrap(password: &str, key: &Key, context: &str) -> ClientResult<WrappedKey> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let kek = derive(password, &salt)?;
    let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(kek.as_slice()));
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: key.as_slice(),
                aad: context.as_bytes(),
            },
        )
        .map_err(|_| ClientError::Corrupt("cannot wrap the cache key".into()))?;
    Ok(WrappedKey {
        salt: STANDARD.encode(salt),
        nonce: STANDARD.encode(nonce),
        sealed: STANDARD.encode(sealed),
    })
}

/// Unwraps a key; `WrongPassword` when the password (or context) does not match.
pub fn unwrap(password: &str, wrapped: &WrappedKey, context: &str) -> ClientResult<Key> {
    let decode = |s: &str| {
        STANDARD
            .decode(s)
            .map_err(|_| ClientError::Corrupt("wrapped key".into()))
    };
    let (salt, nonce, sealed) = (
        decode(&wrapped.salt)?,
        decode(&wrapped.nonce)?,
        decode(&wrapped.sealed)?,
    );
    if nonce.len() != 24 {
        return Err(ClientError::Corrupt("wrapped key nonce".into()));
    }
    let kek = derive(password, &salt)?;
    let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(kek.as_slice()));
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| ClientError::WrongPassword)?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return Err(ClientError::Corrupt("wrapped key length".into()));
    }
    key.copy_from_slice(&plain);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_password_and_context_unwrap() {
        let key = random_key();
        let wrapped = wrap("correct horse battery", &key, "profile-a").expect("wrap");
        assert_eq!(
            *unwrap("correct horse battery", &wrapped, "profile-a").expect("unwrap"),
            *key
        );
        assert!(matches!(
            unwrap("wrong horse battery", &wrapped, "profile-a"),
            Err(ClientError::WrongPassword)
        ));
        assert!(matches!(
            unwrap("correct horse battery", &wrapped, "profile-b"),
            Err(ClientError::WrongPassword)
        ));
    }
}
