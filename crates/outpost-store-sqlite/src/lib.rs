//! The hub's embedded backend: a data directory holding `central.db` and
//! `tenants/<tenant-id>.db`, every file SQLCipher-encrypted.
//!
//! Keys: see [`keys`]. The central file's key derives from the master key; each tenant file
//! has its own random key, sealed under the master key in the central registry, so a tenant
//! file can be backed up, restored or deleted without touching any other tenant.

mod audit;
mod board;
mod central;
mod checkpoint;
mod conn;
mod constraints;
mod copy;
mod history;
mod migrate;
mod records;
mod sql;
mod status;
mod sync;
mod tenant;

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use outpost_domain::TenantId;
use outpost_domain::audit::AuditEvent;
use outpost_domain::tenant::{NewTenant, Tenant};
use outpost_store::backup::Batch;
use outpost_store::{CentralStore, Store, StoreError, StoreGauges, StoreResult, TenantStore};

pub use central::SqliteCentral;
pub use conn::open_encrypted;
pub use outpost_store::keys::{self, MasterKey};
pub use tenant::SqliteTenant;

use crate::central::read_tenant;
use crate::conn::{Db, open_writer};
use crate::sql::{OrBackend, ts, unique_as};
use outpost_store::columns::TENANT;

/// The file name of the central database inside the data directory.
pub const CENTRAL_FILE: &str = "central.db";
/// The folder of tenant databases inside the data directory.
pub const TENANTS_DIR: &str = "tenants";

/// The embedded store over one data directory.
pub struct SqliteStore {
    data_dir: PathBuf,
    master: MasterKey,
    central: SqliteCentral,
    open_tenants: Mutex<HashMap<TenantId, Arc<SqliteTenant>>>,
}

impl SqliteStore {
    /// Creates the data directory (mode 0700) and master key file if they do not exist, then
    /// opens the store. Used by `outpost-hub init`.
    pub fn create(data_dir: &Path, master_key_file: &Path) -> StoreResult<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir.join(TENANTS_DIR))?;
        if !master_key_file.exists() {
            MasterKey::create(master_key_file)?;
        }
        Self::open(data_dir, master_key_file)
    }

    /// Opens an existing data directory and brings `central.db` to the newest schema.
    pub fn open(data_dir: &Path, master_key_file: &Path) -> StoreResult<Self> {
        let master = MasterKey::load(master_key_file)?;
        let path = data_dir.join(CENTRAL_FILE);
        let mut conn = open_writer(&path, &master.central_key())?;
        migrate::apply(&mut conn, migrate::CENTRAL)?;
        Ok(Self {
            data_dir: data_dir.to_path_buf(),
            master,
            central: SqliteCentral {
                db: Db::new(conn, path),
            },
            open_tenants: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `dir` already holds a central database.
    pub fn exists(data_dir: &Path) -> bool {
        data_dir.join(CENTRAL_FILE).exists()
    }

    fn tenant_file(&self, id: TenantId) -> PathBuf {
        self.data_dir.join(TENANTS_DIR).join(format!("{id}.db"))
    }

    /// A tenant's open file, migrated when first opened.
    async fn open_tenant(&self, id: TenantId) -> StoreResult<Arc<SqliteTenant>> {
        if let Some(open) = self.cache()?.get(&id) {
            return Ok(open.clone());
        }
        let row: Option<(Tenant, Vec<u8>, String)> = self
            .central
            .db
            .call(move |conn| {
                conn.query_row(
                    &format!("SELECT {TENANT}, wrapped_key, location FROM tenants WHERE id = ?1"),
                    [id.to_string()],
                    |row| Ok((read_tenant(row)?, row.get(7)?, row.get(8)?)),
                )
                .optional()
                .db()
            })
            .await?;
        let (tenant, wrapped, location) = row.ok_or(StoreError::NotFound)?;
        let key = self.master.unwrap(id, &wrapped)?;
        let path = self.data_dir.join(location);
        let slug = tenant.slug.clone();
        let opened = tokio::task::spawn_blocking(move || -> StoreResult<SqliteTenant> {
            let mut conn = open_writer(&path, &key)?;
            migrate::apply(&mut conn, migrate::TENANT)?;
            Ok(SqliteTenant {
                db: Db::new(conn, path),
                key,
                tenant_id: id,
                slug,
            })
        })
        .await
        .map_err(StoreError::backend)??;
        let opened = Arc::new(opened);
        let mut cache = self.cache()?;
        let entry = cache.entry(id).or_insert(opened);
        Ok(entry.clone())
    }

    fn cache(
        &self,
    ) -> StoreResult<std::sync::MutexGuard<'_, HashMap<TenantId, Arc<SqliteTenant>>>> {
        self.open_tenants
            .lock()
            .map_err(|_| StoreError::Corrupt("tenant cache poisoned".into()))
    }
}

fn remove_database_files(path: &Path) -> StoreResult<()> {
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match fs::remove_file(&file) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
            _ => {}
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn central(&self) -> &dyn CentralStore {
        &self.central
    }

    fn board(&self) -> &dyn outpost_store::BoardStore {
        &self.central
    }

    fn gauges(&self) -> StoreGauges {
        StoreGauges {
            tenant_handles_open: self.cache().map_or(0, |cache| cache.len()),
            connections: None,
        }
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Arc<dyn TenantStore>> {
        Ok(self.open_tenant(id).await?)
    }

    async fn migrate_tenant(&self, id: TenantId) -> StoreResult<i64> {
        self.open_tenant(id)
            .await?
            .db
            .call(|conn| migrate::apply(conn, migrate::TENANT))
            .await
    }

    async fn provision_tenant(&self, new: &NewTenant, audit: AuditEvent) -> StoreResult<Tenant> {
        let tenant = outpost_store::new_tenant(&self.central, new, audit.at).await?;
        let (_, nothing) = tokio::sync::mpsc::channel(1);
        self.restore_tenant(&tenant, nothing, audit).await?;
        Ok(tenant)
    }

    async fn restore_tenant(
        &self,
        tenant: &Tenant,
        mut rows: tokio::sync::mpsc::Receiver<StoreResult<Batch>>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        outpost_store::check_unregistered(&self.central, tenant).await?;
        let path = self.tenant_file(tenant.id);
        if path.exists() {
            return Err(StoreError::AlreadyExists("tenant database"));
        }
        let key = keys::random_key();
        let wrapped = self.master.wrap(tenant.id, &key)?;
        let location = format!("{TENANTS_DIR}/{}.db", tenant.id);
        let create_path = path.clone();
        let result = async {
            let mut conn = tokio::task::spawn_blocking(move || -> StoreResult<_> {
                let mut conn = open_writer(&create_path, &key)?;
                migrate::apply(&mut conn, migrate::TENANT)?;
                Ok(conn)
            })
            .await
            .map_err(StoreError::backend)??;
            while let Some(batch) = rows.recv().await {
                let batch = batch?;
                conn = tokio::task::spawn_blocking(move || -> StoreResult<_> {
                    copy::import(&mut conn, &batch)?;
                    Ok(conn)
                })
                .await
                .map_err(StoreError::backend)??;
            }
            drop(conn);
            let registered = tenant.clone();
            self.central
                .db
                .call(move |conn| {
                    let tx = conn.transaction().db()?;
                    tx.execute(
                        "INSERT INTO tenants (id, slug, name, kind, status, location, wrapped_key, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            registered.id.to_string(),
                            registered.slug,
                            registered.name,
                            registered.kind.as_str(),
                            registered.status.as_str(),
                            location,
                            wrapped,
                            ts(registered.created_at)
                        ],
                    )
                    .map_err(unique_as("slug"))?;
                    audit::append(&tx, &outpost_store::tenant_audit(audit, registered.id))?;
                    tx.commit().db()
                })
                .await
        }
        .await;
        if let Err(err) = result {
            remove_database_files(&path)?;
            return Err(err);
        }
        Ok(())
    }

    async fn delete_tenant(&self, id: TenantId, audit: AuditEvent) -> StoreResult<()> {
        let location: Option<String> = self
            .central
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT location FROM tenants WHERE id = ?1",
                    [id.to_string()],
                    |row| row.get(0),
                )
                .optional()
                .db()
            })
            .await?;
        let location = location.ok_or(StoreError::NotFound)?;
        self.cache()?.remove(&id);
        self.central
            .db
            .call(move |conn| {
                let tx = conn.transaction().db()?;
                tx.execute(
                    "UPDATE sessions SET ended_at = ?1, end_reason = 'tenant_deleted' \
                     WHERE tenant_id = ?2 AND ended_at IS NULL",
                    params![ts(audit.at), id.to_string()],
                )
                .db()?;
                tx.execute("DELETE FROM tenants WHERE id = ?1", [id.to_string()])
                    .db()?;
                audit::append(&tx, &audit)?;
                tx.commit().db()
            })
            .await?;
        remove_database_files(&self.data_dir.join(location))
    }
}
