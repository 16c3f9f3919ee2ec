//! The cache key, wrapped by a key derived from the user's password (Argon2id) with an AEAD
//! (XChaCha20-Poly1305). Unlocking offline is unwrapping; a wrong password fails the AEAD
//! check before the cache file is ever touched.

use argon2::{Algorithm, Argon2, Params, Version};
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

/// A wrapped key as kept in the keyring (base64 fields), with how it was wrapped, so that a
/// later default (stronger Argon2 parameters) never strands a cache that still holds unsynced
/// work: each entry is unwrapped with the parameters it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub salt: String,
    pub nonce: String,
    pub sealed: String,
    /// `None`: an entry from before the format named its parameters (Argon2id v19,
    /// m=19456 KiB, t=2, p=1, XChaCha20-Poly1305); rewritten with them at its next unlock.
    #[serde(default)]
    pub kdf: Option<KdfParams>,
}

/// How the key that wraps the cache key is derived from the password, and sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// `argon2id`.
    pub algorithm: KdfAlgorithm,
    /// Argon2 version (19 = 0x13).
    pub version: u32,
    /// Memory, KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// `xchacha20poly1305`.
    pub aead: Sealing,
}

/// The password-to-key derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KdfAlgorithm {
    Argon2id,
}

/// The authenticated cipher that seals the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sealing {
    Xchacha20poly1305,
}

impl KdfParams {
    /// What new entries are wrapped with: the argon2 crate's recommended parameters.
    pub fn current() -> Self {
        let params = Params::default();
        Self {
            algorithm: KdfAlgorithm::Argon2id,
            version: Version::V0x13.into(),
            m_cost: params.m_cost(),
            t_cost: params.t_cost(),
            p_cost: params.p_cost(),
            aead: Sealing::Xchacha20poly1305,
        }
    }

    /// The parameters of entries written before they were recorded.
    pub fn legacy() -> Self {
        Self {
            algorithm: KdfAlgorithm::Argon2id,
            version: 0x13,
            m_cost: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
            aead: Sealing::Xchacha20poly1305,
        }
    }
}

impl WrappedKey {
    /// The parameters this entry was wrapped with.
    pub fn params(&self) -> KdfParams {
        self.kdf.unwrap_or_else(KdfParams::legacy)
    }

    /// Whether the entry should be wrapped again (it names no parameters, or older ones).
    pub fn outdated(&self) -> bool {
        self.kdf != Some(KdfParams::current())
    }
}

/// A fresh random key.
pub fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut_slice());
    key
}

/// The most an entry may ask of the key derivation (1 GiB, 16 passes, 16 lanes): a damaged or
/// planted entry must not make the app allocate without bound.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;

fn derive(password: &str, salt: &[u8], kdf: KdfParams) -> ClientResult<Key> {
    let failed = |e: argon2::Error| ClientError::Corrupt(format!("key derivation: {e}"));
    if kdf.m_cost > MAX_M_COST_KIB || kdf.t_cost > MAX_T_COST || kdf.p_cost > MAX_P_COST {
        return Err(ClientError::Corrupt(
            "the keyring entry asks for key derivation parameters beyond the supported bounds"
                .into(),
        ));
    }
    let params = Params::new(kdf.m_cost, kdf.t_cost, kdf.p_cost, Some(32)).map_err(failed)?;
    let version = Version::try_from(kdf.version).map_err(failed)?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, version, params)
        .hash_password_into(password.as_bytes(), salt, out.as_mut_slice())
        .map_err(failed)?;
    Ok(out)
}

/// Wraps `key` under `password`, bound to `context` (the profile id).
pub fn wrap(password: &str, key: &Key, context: &str) -> ClientResult<WrappedKey> {
    wrap_with(password, key, context, KdfParams::current())
}

/// [`wrap`] with the given derivation parameters.
fn wrap_with(password: &str, key: &Key, context: &str, kdf: KdfParams) -> ClientResult<WrappedKey> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let kek = derive(password, &salt, kdf)?;
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
        kdf: Some(kdf),
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
    let kek = derive(password, &salt, wrapped.params())?;
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

    #[test]
    fn an_entry_unwraps_with_the_parameters_it_names() {
        let key = random_key();
        let wrapped = wrap("correct horse battery", &key, "p").expect("wrap");
        assert_eq!(wrapped.kdf, Some(KdfParams::current()));
        assert!(!wrapped.outdated());
        // An entry made with other (lighter) parameters than today's still opens.
        let lighter = KdfParams {
            m_cost: 8 * 1024,
            t_cost: 1,
            ..KdfParams::current()
        };
        let old = wrap_with("correct horse battery", &key, "p", lighter).expect("wrap");
        assert!(old.outdated());
        assert_eq!(
            *unwrap("correct horse battery", &old, "p").expect("unwrap"),
            *key
        );
    }

    #[test]
    fn an_entry_asking_for_unbounded_work_is_refused_before_deriving() {
        let key = random_key();
        let mut wrapped = wrap("correct horse battery", &key, "p").expect("wrap");
        wrapped.kdf = Some(KdfParams {
            m_cost: u32::MAX,
            ..KdfParams::current()
        });
        let err = unwrap("correct horse battery", &wrapped, "p").expect_err("refused");
        assert!(err.to_string().contains("bounds"), "{err}");
    }

    #[test]
    fn an_entry_from_before_the_format_named_its_parameters_still_opens() {
        // The JSON of an entry written by earlier builds: no `kdf` member.
        let key = random_key();
        let mut wrapped = wrap("correct horse battery", &key, "p").expect("wrap");
        wrapped.kdf = None;
        let json = serde_json::to_value(&wrapped).expect("json");
        let mut legacy = json.as_object().expect("object").clone();
        legacy.remove("kdf");
        let read: WrappedKey =
            serde_json::from_value(serde_json::Value::Object(legacy)).expect("read");
        assert!(read.outdated());
        assert_eq!(read.params(), KdfParams::legacy());
        assert_eq!(
            *unwrap("correct horse battery", &read, "p").expect("unwrap"),
            *key
        );
    }
}
