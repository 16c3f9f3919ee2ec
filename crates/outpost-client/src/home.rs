//! Where the client keeps its files: profiles (no secrets), this installation's device id,
//! and the encrypted caches. `OUTPOST_HOME` overrides the platform data directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use outpost_domain::auth::LoginResponse;
use outpost_domain::{DeviceId, Permission, Role, TenantId, TenantKind, UserId};

use crate::error::{ClientError, ClientResult};
use crate::transport::HubAddress;

/// Who is signed in where, remembered between runs. Holds nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Profile {
    pub id: String,
    pub hub: String,
    pub tenant: String,
    pub tenant_id: TenantId,
    /// What the tenant is (a hospital, an EMS agency…): which board screens the user gets.
    /// Profiles saved before it was kept have none until the next online sign-in.
    #[serde(default)]
    pub tenant_kind: Option<TenantKind>,
    pub email: String,
    pub user_id: UserId,
    pub full_name: String,
    pub role: Role,
    pub permissions: Vec<Permission>,
    /// The PEM file of the authority that signs the hub's certificate, when the system does not
    /// trust it.
    #[serde(default)]
    pub ca_file: Option<String>,
}

impl Profile {
    /// The profile of a successful login (one per hub, tenant and user).
    pub fn from_login(address: &HubAddress, login: &LoginResponse) -> ClientResult<Self> {
        let hub = address.url.as_str();
        let tenant = login.tenant.as_ref().ok_or_else(|| {
            ClientError::InvalidInput(
                "the desktop client works within a tenant; sign in with one".into(),
            )
        })?;
        Ok(Self {
            id: profile_id(hub, &tenant.slug, &login.user.email),
            hub: hub.to_owned(),
            tenant: tenant.slug.clone(),
            tenant_id: tenant.id,
            tenant_kind: Some(tenant.kind),
            email: login.user.email.clone(),
            user_id: login.user.id,
            full_name: login.user.full_name.clone(),
            role: login.role,
            permissions: login.permissions.clone(),
            ca_file: address.ca_file.as_ref().map(|p| p.display().to_string()),
        })
    }

    /// Where this profile's hub is, and what its certificate is trusted through.
    pub fn address(&self) -> HubAddress {
        HubAddress::new(&self.hub).with_ca_file(self.ca_file.as_ref().map(PathBuf::from))
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// A stable file-system-safe id for (hub, tenant, user).
pub fn profile_id(hub: &str, tenant: &str, email: &str) -> String {
    let digest = Sha256::digest(format!(
        "{}|{tenant}|{}",
        hub.trim_end_matches('/'),
        email.to_lowercase()
    ));
    hex::encode(&digest[..12])
}

/// The client's directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `OUTPOST_HOME`, else `<platform data dir>/outpost`.
    pub fn from_env() -> ClientResult<Self> {
        if let Some(dir) = std::env::var_os("OUTPOST_HOME") {
            return Ok(Self::new(dir));
        }
        dirs::data_dir()
            .map(|d| Self::new(d.join("outpost")))
            .ok_or_else(|| ClientError::InvalidInput("no data directory: set OUTPOST_HOME".into()))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn ensure(&self, dir: &Path) -> ClientResult<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        Ok(())
    }

    /// The cache file of a profile (its -wal and -shm sit beside it).
    pub fn cache_path(&self, profile: &str) -> PathBuf {
        self.root.join("caches").join(format!("{profile}.db"))
    }

    /// Ensures the caches directory exists.
    pub fn prepare_caches(&self) -> ClientResult<()> {
        self.ensure(&self.root.join("caches"))
    }

    /// This installation's device id, created on first use.
    pub fn device_id(&self) -> ClientResult<DeviceId> {
        let path = self.root.join("device-id");
        if let Ok(text) = fs::read_to_string(&path) {
            return text
                .trim()
                .parse()
                .map_err(|_| ClientError::Corrupt("device-id".into()));
        }
        self.ensure(&self.root)?;
        let id = DeviceId::generate();
        write_private(&path, id.to_string().as_bytes())?;
        Ok(id)
    }

    /// Remembers `profile` as the current one.
    pub fn save_profile(&self, profile: &Profile) -> ClientResult<()> {
        let dir = self.root.join("profiles");
        self.ensure(&dir)?;
        let json =
            serde_json::to_vec_pretty(profile).map_err(|e| ClientError::Corrupt(e.to_string()))?;
        write_private(&dir.join(format!("{}.json", profile.id)), &json)?;
        write_private(&self.root.join("current-profile"), profile.id.as_bytes())
    }

    /// The current profile, if someone signed in here.
    pub fn current_profile(&self) -> ClientResult<Option<Profile>> {
        let Ok(id) = fs::read_to_string(self.root.join("current-profile")) else {
            return Ok(None);
        };
        let path = self
            .root
            .join("profiles")
            .join(format!("{}.json", id.trim()));
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ClientError::Corrupt(e.to_string())),
            Err(_) => Ok(None),
        }
    }

    /// The CA file last used with `hub` on this computer, remembered so that signing in there
    /// again needs no option.
    pub fn remembered_ca_file(&self, hub: &str) -> Option<PathBuf> {
        let bytes = fs::read(self.root.join("hubs.json")).ok()?;
        let hubs: BTreeMap<String, PathBuf> = serde_json::from_slice(&bytes).ok()?;
        hubs.get(hub).cloned()
    }

    /// Remembers (or, with `None`, forgets) the CA file of `hub`.
    pub fn remember_ca_file(&self, hub: &str, ca_file: Option<&Path>) -> ClientResult<()> {
        let path = self.root.join("hubs.json");
        let mut hubs: BTreeMap<String, PathBuf> = fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        match ca_file {
            Some(file) => hubs.insert(hub.to_owned(), file.to_path_buf()),
            None => hubs.remove(hub),
        };
        self.ensure(&self.root)?;
        let json =
            serde_json::to_vec_pretty(&hubs).map_err(|e| ClientError::Corrupt(e.to_string()))?;
        write_private(&path, &json)
    }

    /// Forgets a profile (after a wipe).
    pub fn remove_profile(&self, profile: &str) -> ClientResult<()> {
        remove_if_present(&self.root.join("profiles").join(format!("{profile}.json")))?;
        if fs::read_to_string(self.root.join("current-profile")).is_ok_and(|c| c.trim() == profile)
        {
            remove_if_present(&self.root.join("current-profile"))?;
        }
        Ok(())
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> ClientResult<()> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(tmp, path)?;
    Ok(())
}

/// Removes a file; a missing one is fine.
pub fn remove_if_present(path: &Path) -> ClientResult<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err.into()),
        _ => Ok(()),
    }
}
