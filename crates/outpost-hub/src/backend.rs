//! Opening the store the configuration names: the embedded backend over a data directory, or
//! PostgreSQL when `database_url` is set.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;

use outpost_store::keys::MasterKey;
use outpost_store::{Store, StoreError};
use outpost_store_postgres::{PgConfig, PgOptions, PostgresStore, RouterLimits};
use outpost_store_sqlite::SqliteStore;

use crate::config::{DatabaseUrl, HubConfig};
use crate::state::HubError;

/// The fewest connections a hub instance works with.
const MIN_CONNECTIONS: usize = 4;

/// Whether a command expects an existing hub or makes a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `serve`, `tenant`, `user`…: the hub must exist.
    Existing,
    /// `init`, `demo`: there must be no hub yet.
    Create,
}

/// The store the configuration names.
pub async fn open(config: &HubConfig, mode: Mode) -> Result<Arc<dyn Store>, HubError> {
    match &config.database_url {
        None => open_embedded(config, mode).map(|s| s as Arc<dyn Store>),
        Some(url) => open_postgres(config, url, mode)
            .await
            .map(|s| s as Arc<dyn Store>),
    }
}

fn open_embedded(config: &HubConfig, mode: Mode) -> Result<Arc<SqliteStore>, HubError> {
    let dir = &config.data_dir;
    let store = match (mode, SqliteStore::exists(dir)) {
        (Mode::Existing, false) => {
            return Err(HubError::Setup(format!(
                "no hub in {}: run `outpost-hub init` first",
                dir.display()
            )));
        }
        (Mode::Create, true) => {
            return Err(HubError::Setup(format!(
                "{} already holds a hub",
                dir.display()
            )));
        }
        (Mode::Existing, true) => SqliteStore::open(dir, &config.master_key_path())?,
        (Mode::Create, false) => SqliteStore::create(dir, &config.master_key_path())?,
    };
    Ok(Arc::new(store))
}

fn parse(url: &DatabaseUrl, what: &str) -> Result<PgConfig, HubError> {
    // The parser's message does not repeat the URL (which may hold a password).
    url.0
        .parse()
        .map_err(|e| HubError::Setup(format!("{what} is not a PostgreSQL URL: {e}")))
}

/// The PostgreSQL options the configuration describes.
pub fn postgres_options(config: &HubConfig, url: &DatabaseUrl) -> Result<PgOptions, HubError> {
    let servers = config
        .database_servers
        .iter()
        .map(|s| {
            Ok((
                s.name.clone(),
                parse(&s.url, &format!("server {}", s.name))?,
            ))
        })
        .collect::<Result<Vec<_>, HubError>>()?;
    // The listener holds one connection for good and a snapshot stream two at once.
    if config.database_max_connections < MIN_CONNECTIONS {
        return Err(HubError::Setup(format!(
            "database_max_connections must be at least {MIN_CONNECTIONS}"
        )));
    }
    Ok(PgOptions {
        central: parse(url, "database_url")?,
        servers,
        runtime_role: config.database_runtime_role.clone(),
        limits: RouterLimits {
            cap: config.database_max_connections,
            idle_timeout: Duration::from_secs(config.database_idle_timeout_secs),
            ..RouterLimits::default()
        },
        tls_ca_file: config.database_tls_ca_file.clone(),
    })
}

async fn open_postgres(
    config: &HubConfig,
    url: &DatabaseUrl,
    mode: Mode,
) -> Result<Arc<PostgresStore>, HubError> {
    let options = postgres_options(config, url)?;
    let key_file = config.master_key_path();
    let master = match (mode, key_file.exists()) {
        (Mode::Create, false) => {
            if let Some(parent) = key_file.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(StoreError::from)?;
            }
            MasterKey::create(&key_file)?
        }
        (_, true) => MasterKey::load(&key_file)?,
        (Mode::Existing, false) => {
            return Err(HubError::Setup(format!(
                "no master key at {}: run `outpost-hub init` first",
                key_file.display()
            )));
        }
    };
    let store = PostgresStore::open(options, master).await?;
    if mode == Mode::Create {
        let central = outpost_store::Store::central(&store);
        if !central.tenants().await?.is_empty() || !central.members(None).await?.is_empty() {
            return Err(HubError::Setup(
                "the central database already holds a hub".into(),
            ));
        }
    }
    Ok(Arc::new(store))
}
