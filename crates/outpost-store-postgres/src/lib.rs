//! The PostgreSQL backend of the hub: a central database plus one database per tenant, placed
//! on any of several PostgreSQL servers (DESIGN.md, "Tenancy and databases").
//!
//! Every connection goes through the [`router::Router`]: per-database pools under one global
//! cap. Writers of one database take turns under an advisory lock ([`sql::begin`]), so the
//! audit chain and the change feed stay in order even with several hub instances on the same
//! databases. A tenant's location (`<server>/<database>`) is recorded in the central registry
//! next to a data key sealed under the master key (tenant backups take keys derived from the
//! master key itself: see `outpost_store::backup`).

pub mod admin;
mod audit;
mod board;
mod central;
mod constraints;
mod copy;
pub mod grants;
mod history;
pub mod migrate;
mod moving;
mod records;
pub mod router;
mod sql;
mod status;
mod sync;
mod tenant;
#[cfg(feature = "testsuite")]
pub mod testing;
pub mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_postgres::Config;

use outpost_domain::TenantId;
use outpost_domain::audit::AuditEvent;
use outpost_domain::tenant::{NewTenant, Tenant};
use uuid::Uuid;

use outpost_store::backup::Batch;
use outpost_store::keys::{self, MasterKey};
use outpost_store::{
    Announcement, CentralStore, Store, StoreError, StoreGauges, StoreResult, TenantStore,
};

pub use central::PgCentral;
pub use router::{Router, RouterLimits, Target};
pub use tenant::PgTenant;
use tls::Transport;
/// PostgreSQL connection settings (parsed from a URL or `key=value` string).
pub use tokio_postgres::Config as PgConfig;

use crate::central::read_tenant;
use crate::sql::{begin, col, unique_as};
use outpost_store::columns::TENANT;

/// The channel, on the central database, that carries change announcements between hub
/// instances: `<tenant id>:<cursor>`.
const CHANGES_CHANNEL: &str = "outpost_changes";
/// The first word of a board announcement on [`CHANGES_CHANNEL`] (`board:<entry>:<hospital>`).
const BOARD: &str = "board";

/// The router's name for the central database's server (not a name an operator can give).
const CENTRAL_SERVER: &str = "(central)";

/// How the hub reaches its databases.
pub struct PgOptions {
    /// The central database (`postgres://…/outpost`), also the owner of what it creates.
    pub central: Config,
    /// Servers tenant databases are placed on, by name. Empty: the central database's server,
    /// named `main`.
    pub servers: Vec<(String, Config)>,
    /// A role the hub switches to on every connection, without UPDATE/DELETE on audit rows.
    pub runtime_role: Option<String>,
    pub limits: RouterLimits,
    /// PEM certificates of the authority that signs the database servers' certificates: with
    /// it every connection requires TLS and checks the server; without it connections are
    /// plain (servers on a private network).
    pub tls_ca_file: Option<std::path::PathBuf>,
}

/// PostgreSQL errors as store errors (the source is kept; messages carry no record values,
/// since parameters are never part of them).
pub(crate) trait OrBackend<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> OrBackend<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(StoreError::backend)
    }
}

/// The PostgreSQL store: the central database plus the tenant databases it registers.
pub struct PostgresStore {
    router: Arc<Router>,
    central: PgCentral,
    master: MasterKey,
    /// Tenant databases are named `<prefix><tenant id without dashes>`.
    prefix: String,
    runtime_role: Option<String>,
    /// Shared with the listener, which forgets a tenant another instance moved.
    open_tenants: Arc<OpenTenants>,
}

impl PostgresStore {
    /// Connects, creating the central database if its server has none of that name, and
    /// brings it to the newest schema.
    pub async fn open(options: PgOptions, master: MasterKey) -> StoreResult<Self> {
        let central_db = options
            .central
            .get_dbname()
            .ok_or_else(|| StoreError::Corrupt("the database URL names no database".into()))?
            .to_owned();
        let mut servers: HashMap<String, Config> = options.servers.into_iter().collect();
        if servers.is_empty() {
            servers.insert("main".into(), options.central.clone());
        }
        if servers.contains_key(CENTRAL_SERVER) {
            return Err(StoreError::Corrupt(format!(
                "`{CENTRAL_SERVER}` is reserved; name the server otherwise"
            )));
        }
        servers.insert(CENTRAL_SERVER.into(), options.central);
        let transport = match &options.tls_ca_file {
            Some(ca_file) => Transport::tls_from_ca_file(ca_file)?,
            None => Transport::Plain,
        };
        let router = Router::new(
            servers,
            options.runtime_role.clone(),
            options.limits,
            transport,
        );
        let target = Target {
            server: CENTRAL_SERVER.into(),
            database: central_db.clone(),
        };
        admin::ensure_database_on(&router, CENTRAL_SERVER, &central_db).await?;
        admin::migrate_database(
            &router,
            &target,
            migrate::CENTRAL,
            options.runtime_role.as_deref(),
        )
        .await?;
        Ok(Self {
            central: PgCentral {
                router: router.clone(),
                target,
            },
            router,
            master,
            prefix: format!("{central_db}_"),
            runtime_role: options.runtime_role,
            open_tenants: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The router, for status pages and benchmarks (open connections, limits).
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The database a tenant's requests are served from, as the server itself names it
    /// (`current_database()` on a routed connection).
    pub async fn routed_database(&self, id: TenantId) -> StoreResult<String> {
        let tenant = self.pg_tenant(id).await?;
        let conn = tenant.conn().await?;
        let row = conn
            .query_one("SELECT current_database()", &[])
            .await
            .db()?;
        col(&row, 0)
    }

    /// Drops every tenant database this store created and the central database. For tests
    /// and for tearing down a deployment; audited nowhere, since nothing remains.
    pub async fn destroy(self) -> StoreResult<()> {
        for (server, database) in self.locations().await? {
            admin::drop_database_on(&self.router, &server, &database).await?;
        }
        let central = self.central.target.clone();
        admin::drop_database_on(&self.router, &central.server, &central.database).await
    }

    async fn locations(&self) -> StoreResult<Vec<(String, String)>> {
        let conn = self.central.conn().await?;
        let rows = conn.query("SELECT location FROM tenants", &[]).await.db()?;
        rows.iter()
            .map(|row| parse_location(col::<&str>(row, 0)?))
            .collect()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Arc<PgTenant>>> {
        self.open_tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells every instance (this one included) that `id`'s database moved, so that they open
    /// it again from the registry.
    async fn announce_move(&self, id: TenantId) -> StoreResult<()> {
        forget(&self.open_tenants, id);
        let conn = self.central.conn().await?;
        conn.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANGES_CHANNEL, &format!("{id}:{MOVED}")],
        )
        .await
        .db()
        .map(drop)
    }

    /// A tenant's handle, its schema brought up to date when first opened.
    async fn pg_tenant(&self, id: TenantId) -> StoreResult<Arc<PgTenant>> {
        if let Some(open) = self.cache().get(&id) {
            return Ok(open.clone());
        }
        let conn = self.central.conn().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {TENANT}, location FROM tenants WHERE id = $1"),
                &[&id.as_uuid()],
            )
            .await
            .db()?
            .ok_or(StoreError::NotFound)?;
        drop(conn);
        let tenant = read_tenant(&row)?;
        let (server, database) = parse_location(col::<&str>(&row, 7)?)?;
        let target = Target { server, database };
        // As the embedded backend does on opening a file: a hub that was upgraded brings
        // each tenant's schema up to date before serving it.
        self.migrate(&target).await?;
        let opened = Arc::new(PgTenant {
            router: self.router.clone(),
            target,
            tenant_id: id,
            slug: tenant.slug,
            open_tenants: Arc::downgrade(&self.open_tenants),
        });
        Ok(self.cache().entry(id).or_insert(opened).clone())
    }

    /// Brings a tenant database to the newest schema (as the owner) and grants the runtime
    /// role what it needs on it.
    async fn migrate(&self, target: &Target) -> StoreResult<i64> {
        admin::migrate_database(
            &self.router,
            target,
            migrate::TENANT,
            self.runtime_role.as_deref(),
        )
        .await
    }

    /// The server a new tenant goes to: the one holding the fewest tenants.
    async fn placement(&self) -> StoreResult<String> {
        let names: Vec<String> = self
            .router
            .server_names()
            .into_iter()
            .filter(|n| n != CENTRAL_SERVER)
            .collect();
        let mut counts: HashMap<String, usize> = names.iter().map(|n| (n.clone(), 0)).collect();
        for (server, _) in self.locations().await? {
            if let Some(count) = counts.get_mut(&server) {
                *count += 1;
            }
        }
        names
            .into_iter()
            .min_by_key(|n| (counts.get(n).copied().unwrap_or(0), n.clone()))
            .ok_or_else(|| StoreError::Corrupt("no database server configured".into()))
    }
}

/// The announcement of a tenant whose database moved: `<tenant id>:moved`.
const MOVED: &str = "moved";

fn parse_move(payload: &str) -> Option<TenantId> {
    let (tenant, what) = payload.split_once(':')?;
    (what == MOVED).then(|| tenant.parse().ok())?
}

/// The open tenant handles of a store.
pub(crate) type OpenTenants = Mutex<HashMap<TenantId, Arc<PgTenant>>>;

/// Drops a tenant's open handle, so that the next request reads its location again.
fn forget(open: &OpenTenants, id: TenantId) {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&id);
}

/// `<tenant id>:<cursor>` as published on the changes channel.
fn parse_announcement(payload: &str) -> Option<Announcement> {
    let (first, rest) = payload.split_once(':')?;
    if first == BOARD {
        let (entry, hospital) = rest.split_once(':')?;
        return Some(Announcement::Board {
            entry: entry.parse().ok()?,
            hospital: hospital.parse().ok()?,
        });
    }
    Some(Announcement::Changes(
        first.parse().ok()?,
        rest.parse().ok()?,
    ))
}

/// `<server>/<database>` as recorded in the registry.
fn parse_location(location: &str) -> StoreResult<(String, String)> {
    location
        .split_once('/')
        .map(|(s, d)| (s.to_owned(), d.to_owned()))
        .ok_or_else(|| StoreError::Corrupt("tenant location is not <server>/<database>".into()))
}

#[async_trait]
impl Store for PostgresStore {
    fn central(&self) -> &dyn CentralStore {
        &self.central
    }

    fn board(&self) -> &dyn outpost_store::BoardStore {
        &self.central
    }

    fn gauges(&self) -> StoreGauges {
        StoreGauges {
            tenant_handles_open: self.cache().len(),
            connections: Some(self.router.gauges()),
        }
    }

    async fn tenant(&self, id: TenantId) -> StoreResult<Arc<dyn TenantStore>> {
        Ok(self.pg_tenant(id).await?)
    }

    async fn provision_tenant(&self, new: &NewTenant, audit: AuditEvent) -> StoreResult<Tenant> {
        let tenant = outpost_store::new_tenant(&self.central, new, audit.at).await?;
        let (_, nothing) = mpsc::channel(1);
        self.restore_tenant(&tenant, nothing, audit).await?;
        Ok(tenant)
    }

    async fn restore_tenant(
        &self,
        tenant: &Tenant,
        mut rows: mpsc::Receiver<StoreResult<Batch>>,
        audit: AuditEvent,
    ) -> StoreResult<()> {
        outpost_store::check_unregistered(&self.central, tenant).await?;
        let wrapped = self.master.wrap(tenant.id, &keys::random_key())?;
        let server = self.placement().await?;
        let target = Target {
            server,
            database: format!("{}{}", self.prefix, tenant.id.as_uuid().simple()),
        };
        admin::create_database_on(&self.router, &target.server, &target.database).await?;
        let created = async {
            self.migrate(&target).await?;
            if let Some(first) = rows.recv().await {
                let mut conn = self.router.owner(&target).await?;
                copy::import(&mut conn, &first?).await?;
                while let Some(batch) = rows.recv().await {
                    copy::import(&mut conn, &batch?).await?;
                }
                copy::reset_identities(&*conn).await?;
            }
            let mut conn = self.central.conn().await?;
            let tx = begin(&mut conn).await?;
            tx.execute(
                "INSERT INTO tenants (id, slug, name, kind, status, location, wrapped_key, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &tenant.id.as_uuid(),
                    &tenant.slug,
                    &tenant.name,
                    &tenant.kind.as_str(),
                    &tenant.status.as_str(),
                    &target.location(),
                    &wrapped,
                    &tenant.created_at,
                ],
            )
            .await
            .map_err(unique_as("slug"))?;
            audit::append(&tx, &outpost_store::tenant_audit(audit, tenant.id)).await?;
            tx.commit().await.db()
        }
        .await;
        if let Err(err) = created {
            admin::drop_database_on(&self.router, &target.server, &target.database).await?;
            return Err(err);
        }
        Ok(())
    }

    async fn move_tenant(
        &self,
        id: TenantId,
        server: &str,
        audit: AuditEvent,
    ) -> StoreResult<String> {
        moving::move_tenant(self, id, server, audit).await
    }

    async fn migrate_tenant(&self, id: TenantId) -> StoreResult<i64> {
        let tenant = self.pg_tenant(id).await?;
        self.migrate(&tenant.target).await
    }

    async fn publish_changes(&self, tenant: TenantId, cursor: i64) -> StoreResult<()> {
        let conn = self.central.conn().await?;
        conn.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANGES_CHANNEL, &format!("{tenant}:{cursor}")],
        )
        .await
        .db()
        .map(drop)
    }

    async fn publish_board(&self, entry: Uuid, hospital: TenantId) -> StoreResult<()> {
        let conn = self.central.conn().await?;
        conn.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANGES_CHANNEL, &format!("{BOARD}:{entry}:{hospital}")],
        )
        .await
        .db()
        .map(drop)
    }

    async fn change_announcements(&self) -> Option<mpsc::Receiver<Announcement>> {
        let (tx, rx) = mpsc::channel(256);
        let (router, target) = (self.router.clone(), self.central.target.clone());
        let open_tenants = self.open_tenants.clone();
        // Listening before this returns, so that nothing published after start is missed.
        let mut listening = router.listen(&target, CHANGES_CHANNEL).await;
        tokio::spawn(async move {
            // Listens again after a lost connection, until the receiver is dropped; what was
            // published meanwhile reaches clients at their next periodic pull.
            loop {
                match listening {
                    Ok(mut notifications) => {
                        while let Some(n) = notifications.recv().await {
                            if let Some(moved) = parse_move(n.payload()) {
                                forget(&open_tenants, moved);
                            } else if let Some(announcement) = parse_announcement(n.payload())
                                && tx.send(announcement).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot listen for changes"),
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                listening = router.listen(&target, CHANGES_CHANNEL).await;
            }
        });
        Some(rx)
    }

    async fn delete_tenant(&self, id: TenantId, audit: AuditEvent) -> StoreResult<()> {
        let tenant = self.pg_tenant(id).await?;
        self.cache().remove(&id);
        let mut conn = self.central.conn().await?;
        let tx = begin(&mut conn).await?;
        tx.execute(
            "UPDATE sessions SET ended_at = $1, end_reason = 'tenant_deleted' \
             WHERE tenant_id = $2 AND ended_at IS NULL",
            &[&audit.at, &id.as_uuid()],
        )
        .await
        .db()?;
        let removed = tx
            .execute("DELETE FROM tenants WHERE id = $1", &[&id.as_uuid()])
            .await
            .db()?;
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&tx, &audit).await?;
        tx.commit().await.db()?;
        drop(conn);
        admin::drop_database_on(&self.router, &tenant.target.server, &tenant.target.database).await
    }
}
