//! The hub's master key and the keys derived from or sealed under it, shared by the backends.
//!
//! One secret lives on disk: the master key file (32 random bytes, hex, mode 0600). The
//! central file's key is derived from it (HKDF-SHA256); each tenant file has its own random
//! key, sealed with XChaCha20-Poly1305 under a derived wrapping key and bound to the tenant
//! id, and stored in the central registry. Stealing a tenant file alone, or the central file
//! alone, yields nothing. Backup files take a key derived from the master key and their own salt.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{StoreError, StoreResult};
use outpost_domain::TenantId;

/// A 256-bit key that is wiped from memory when dropped.
pub type Key = Zeroizing<[u8; 32]>;

const NONCE_LEN: usize = 24;

/// The hub's master key.
pub struct MasterKey(Key);

impl MasterKey {
    /// Reads the key file, refusing one that others could read.
    pub fn load(path: &Path) -> StoreResult<Self> {
        let mode = fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(StoreError::Corrupt(format!(
                "master key file {} is readable by group or others (mode {:o}); chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
        let text = Zeroizing::new(fs::read_to_string(path)?);
        let bytes = Zeroizing::new(
            hex::decode(text.trim())
                .map_err(|_| StoreError::Corrupt("master key file is not hex".into()))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != key.len() {
            return Err(StoreError::Corrupt(
                "master key file does not hold 32 bytes".into(),
            ));
        }
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    /// Creates a new random key file (mode 0600); fails if the file exists.
    pub fn create(path: &Path) -> StoreResult<Self> {
        let key = random_key();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let text = Zeroizing::new(hex::encode(*key));
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        Ok(Self(key))
    }

    /// The key of `central.db`.
    pub fn central_key(&self) -> Key {
        self.derive(b"outpost central.db")
    }

    /// Seals a tenant's file key, bound to the tenant id.
    pub fn wrap(&self, tenant: TenantId, key: &Key) -> StoreResult<Vec<u8>> {
        let cipher = self.wrapping_cipher();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: key.as_slice(),
                    aad: tenant.as_uuid().as_bytes(),
                },
            )
            .map_err(|_| StoreError::Corrupt("cannot seal tenant key".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed tenant key; fails if it was sealed for another tenant or altered.
    pub fn unwrap(&self, tenant: TenantId, sealed: &[u8]) -> StoreResult<Key> {
        if sealed.len() <= NONCE_LEN {
            return Err(StoreError::WrongKey);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let plain = Zeroizing::new(
            self.wrapping_cipher()
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: body,
                        aad: tenant.as_uuid().as_bytes(),
                    },
                )
                .map_err(|_| StoreError::WrongKey)?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if plain.len() != key.len() {
            return Err(StoreError::WrongKey);
        }
        key.copy_from_slice(&plain);
        Ok(key)
    }

    /// The key of one backup file, from its random salt: every file has its own key, and only
    /// a hub holding this master key can read it.
    pub fn backup_key(&self, salt: &[u8]) -> Key {
        let mut info = b"outpost tenant backup ".to_vec();
        info.extend_from_slice(salt);
        self.derive(&info)
    }

    fn wrapping_cipher(&self) -> XChaCha20Poly1305 {
        let key = self.derive(b"outpost tenant key wrapping");
        XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(key.as_slice()))
    }

    fn derive(&self, info: &[u8]) -> Key {
        let hk = Hkdf::<Sha256>::new(Some(b"outpost hub v1"), self.0.as_slice());
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        if hk.expand(info, out.as_mut_slice()).is_err() {
            unreachable!("HKDF output length is fixed and valid");
        }
        out
    }
}

/// 32 bytes from the operating system's random generator.
pub fn random_key() -> Key {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(key.as_mut_slice());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_for_its_tenant() {
        let dir = tempfile::tempdir().expect("tempdir");
        let master = MasterKey::create(&dir.path().join("master.key")).expect("create");
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let key = random_key();
        let sealed = master.wrap(a, &key).expect("wrap");
        assert_eq!(*master.unwrap(a, &sealed).expect("unwrap"), *key);
        assert!(master.unwrap(b, &sealed).is_err());
    }

    #[test]
    fn a_world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("master.key");
        MasterKey::create(&path).expect("create");
        assert!(MasterKey::load(&path).is_ok());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(MasterKey::load(&path).is_err());
    }
}
