//! Fresh stores on a real server for tests (feature `testsuite`): every store gets uniquely
//! named databases, and [`Fresh::cleanup`] drops them whether or not the test passed.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use tokio_postgres::{Config, NoTls};

use outpost_store::keys::MasterKey;

use crate::admin::{drop_database, quote_ident};
use crate::{PgOptions, PostgresStore, RouterLimits};

/// The server tests use: `OUTPOST_TEST_POSTGRES`, by default the machine's on 127.0.0.1:5432
/// as `postgres`.
pub fn server_config() -> Config {
    std::env::var("OUTPOST_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".into())
        .parse()
        .unwrap_or_else(|e| panic!("OUTPOST_TEST_POSTGRES is not a connection string: {e}"))
}

/// A `postgres://` URL of database `name` on the test server (for `--database-url`).
pub fn url(name: &str) -> String {
    let config = server_config();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let password = config
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("postgres://{user}{password}@{host}:{port}/{name}")
}

/// A database name no other test uses (the central database; tenants' start with it).
pub fn unique_name() -> String {
    format!("ot_{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// Options for a fresh central database named `name` on the test server.
pub fn options(name: &str, limits: RouterLimits) -> PgOptions {
    let mut central = server_config();
    central.dbname(name);
    PgOptions {
        central,
        servers: Vec::new(),
        runtime_role: None,
        limits,
        tls_ca_file: None,
    }
}

/// Opens a fresh store (creating the master key file if needed).
pub async fn open(name: &str, master_key: &Path, limits: RouterLimits) -> PostgresStore {
    let master = if master_key.exists() {
        MasterKey::load(master_key)
    } else {
        MasterKey::create(master_key)
    }
    .unwrap_or_else(|e| panic!("master key: {e}"));
    PostgresStore::open(options(name, limits), master)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL store on the test server: {e}"))
}

/// Drops every database whose name starts with `name` (the central and its tenants), ending
/// their sessions.
pub async fn cleanup(name: &str) {
    let client = connect("postgres").await;
    for database in databases(name).await {
        if let Err(err) = drop_database(&client, &database).await {
            panic!("drop {}: {err}", quote_ident(&database));
        }
    }
}

/// A connection to `database` on the test server as its superuser, bypassing the hub (to
/// inspect or tamper with what the hub wrote).
pub async fn connect(database: &str) -> tokio_postgres::Client {
    let mut config = server_config();
    config.dbname(database);
    let (client, connection) = config
        .connect(NoTls)
        .await
        .unwrap_or_else(|e| panic!("test server: {e}"));
    tokio::spawn(connection);
    client
}

/// The database a tenant's registry entry names, under the central database `central`.
pub async fn tenant_database(central: &str, tenant: outpost_domain::TenantId) -> String {
    let client = connect(central).await;
    let row = client
        .query_one(
            "SELECT location FROM tenants WHERE id = $1",
            &[&tenant.as_uuid()],
        )
        .await
        .unwrap_or_else(|e| panic!("registry: {e}"));
    let location: String = row.get(0);
    match location.split_once('/') {
        Some((_, database)) => database.to_owned(),
        None => panic!("tenant location is not <server>/<database>"),
    }
}

/// The databases whose names start with `prefix`.
pub async fn databases(prefix: &str) -> Vec<String> {
    let client = connect("postgres").await;
    client
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname",
            &[&prefix],
        )
        .await
        .unwrap_or_else(|e| panic!("list databases: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Runs `test` on a fresh store and drops its databases afterwards, passing or not.
pub async fn with_fresh<F, Fut>(test: F)
where
    F: FnOnce(Arc<PostgresStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let name = unique_name();
    let store = Arc::new(
        open(
            &name,
            &dir.path().join("master.key"),
            RouterLimits::default(),
        )
        .await,
    );
    let outcome = tokio::spawn(test(store)).await;
    cleanup(&name).await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
