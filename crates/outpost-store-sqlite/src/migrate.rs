//! Embedded migrations, applied in order, each in one transaction with its version bump.

use rusqlite::Connection;

use outpost_store::{Migration, StoreError, StoreResult, migration};

pub const CENTRAL: &[Migration] = &[
    migration!("central", "sqlite", 1, "0001_init"),
    migration!("central", "sqlite", 2, "0002_roles"),
    migration!("central", "sqlite", 3, "0003_refresh_successor"),
    migration!("central", "sqlite", 4, "0004_tenant_read_only"),
];

pub const TENANT: &[Migration] = &[
    migration!("tenant", "sqlite", 1, "0001_init"),
    migration!("tenant", "sqlite", 2, "0002_sync"),
    migration!("tenant", "sqlite", 3, "0003_history_client_time"),
    migration!("tenant", "sqlite", 4, "0004_audit_user_index"),
];

/// Brings a database up to the newest migration; refuses a schema newer than this build.
pub fn apply(conn: &mut Connection, migrations: &[Migration]) -> StoreResult<i64> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         )",
    )
    .map_err(StoreError::backend)?;
    let current = schema_version(conn)?;
    let known = migrations.last().map_or(0, |m| m.version);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for migration in migrations.iter().filter(|m| m.version > current) {
        let tx = conn.transaction().map_err(StoreError::backend)?;
        tx.execute_batch(migration.sql)
            .map_err(StoreError::backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)",
            rusqlite::params![migration.version, migration.name],
        )
        .map_err(StoreError::backend)?;
        tx.commit().map_err(StoreError::backend)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(known)
}

/// The newest applied migration (0 for an empty database).
pub fn schema_version(conn: &Connection) -> StoreResult<i64> {
    conn.query_row(
        "SELECT ifnull(max(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )
    .map_err(StoreError::backend)
}
