//! Creating, migrating and dropping databases on a server, for provisioning tenants and for
//! tests. Every connection opened here goes through the router, so it counts under the cap.

use std::sync::Arc;

use tokio_postgres::Client;

use outpost_store::{Migration, StoreResult};

use crate::router::{Router, Target};
use crate::{OrBackend, grants, migrate};

/// `name` as a quoted SQL identifier (database and role names cannot be bound parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Creates an empty database owned by the connected user.
pub async fn create_database(server: &Client, name: &str) -> StoreResult<()> {
    server
        .batch_execute(&format!("CREATE DATABASE {}", quote_ident(name)))
        .await
        .db()
}

/// Drops a database, ending the sessions still connected to it (another hub's idle pool).
pub async fn drop_database(server: &Client, name: &str) -> StoreResult<()> {
    server
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(name)
        ))
        .await
        .db()
}

/// The database every PostgreSQL server has, where databases are created and dropped from.
const MAINTENANCE_DB: &str = "postgres";

fn maintenance(server: &str) -> Target {
    Target {
        server: server.to_owned(),
        database: MAINTENANCE_DB.to_owned(),
    }
}

/// Creates `name` on a configured server unless it exists (the central database at start).
pub async fn ensure_database_on(router: &Arc<Router>, server: &str, name: &str) -> StoreResult<()> {
    let conn = router.owner(&maintenance(server)).await?;
    let exists = conn
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .db()?
        .is_some();
    if !exists {
        create_database(&conn, name).await?;
    }
    Ok(())
}

/// Creates an empty database on a configured server.
pub async fn create_database_on(router: &Arc<Router>, server: &str, name: &str) -> StoreResult<()> {
    let conn = router.owner(&maintenance(server)).await?;
    create_database(&conn, name).await
}

/// Drops a database on a configured server, closing the router's idle connections to it first.
pub async fn drop_database_on(router: &Arc<Router>, server: &str, name: &str) -> StoreResult<()> {
    let target = Target {
        server: server.to_owned(),
        database: name.to_owned(),
    };
    router.close_idle(&target).await;
    let conn = router.owner(&maintenance(server)).await?;
    drop_database(&conn, name).await
}

/// Migrates a database as its owner, then grants the runtime role (when there is one) its
/// privileges on whatever the migrations created. Returns the schema version.
pub async fn migrate_database(
    router: &Arc<Router>,
    target: &Target,
    migrations: &[Migration],
    runtime_role: Option<&str>,
) -> StoreResult<i64> {
    let mut conn = router.owner(target).await?;
    let version = migrate::run(&mut conn, migrations).await?;
    if let Some(role) = runtime_role {
        grants::grant_runtime(&conn, role).await?;
    }
    Ok(version)
}
