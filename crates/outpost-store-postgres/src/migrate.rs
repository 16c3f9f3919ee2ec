//! Embedded migrations, applied in order, each in one transaction with its version row.
//!
//! Several hub instances may start at once against the same database: each migrates under a
//! transaction-level advisory lock, so one applies and the others find nothing left to do.

use tokio_postgres::Client;

use outpost_store::{Applied, Migration, StoreError, StoreResult, check_applied, migration};

use crate::OrBackend;

/// The central database's migrations.
pub const CENTRAL: &[Migration] = &[
    migration!("central", "postgres", 1, "0001_init"),
    migration!("central", "postgres", 2, "0002_roles"),
    migration!("central", "postgres", 3, "0003_refresh_successor"),
    migration!("central", "postgres", 4, "0004_tenant_read_only"),
    migration!("central", "postgres", 5, "0005_schedule_manage"),
    migration!("central", "postgres", 6, "0006_transport_roles"),
    migration!("central", "postgres", 7, "0007_board"),
];

/// Every tenant database's migrations.
pub const TENANT: &[Migration] = &[
    migration!("tenant", "postgres", 1, "0001_init"),
    migration!("tenant", "postgres", 2, "0002_sync"),
    migration!("tenant", "postgres", 3, "0003_history_client_time"),
    migration!("tenant", "postgres", 4, "0004_audit_user_index"),
    migration!("tenant", "postgres", 5, "0005_schedule"),
    migration!("tenant", "postgres", 6, "0006_patient_provenance"),
    migration!("tenant", "postgres", 7, "0007_transport"),
    migration!("tenant", "postgres", 8, "0008_unit_shifts"),
];

/// The advisory lock that serialises migrations of a database ("outpost" in ASCII).
const MIGRATION_LOCK: i64 = 0x006f_7574_706f_7374;

/// Applies the migrations the database does not have yet; returns its schema version.
/// A database migrated by a newer program is refused rather than used.
pub async fn run(client: &mut Client, migrations: &[Migration]) -> StoreResult<i64> {
    let fresh: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NULL", &[])
        .await
        .db()?
        .get(0);
    if fresh {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version    bigint PRIMARY KEY,
                     name       text NOT NULL,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await
            .db()?;
    }
    check_checksums(client, migrations).await?;
    let known = migrations.last().map_or(0, |m| m.version);
    let mut current = 0;
    for migration in migrations {
        let tx = client.transaction().await.db()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .db()?;
        current = version(&tx).await?;
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        if migration.version <= current {
            continue;
        }
        tx.batch_execute(migration.sql).await.db()?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &migration.checksum()],
        )
        .await
        .db()?;
        tx.commit().await.db()?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        current = migration.version;
    }
    Ok(current)
}

/// Refuses a database whose applied migrations differ from this build's, and records the
/// checksums of those applied before checksums were (under the migration lock).
async fn check_checksums(client: &mut Client, migrations: &[Migration]) -> StoreResult<()> {
    let tx = client.transaction().await.db()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .db()?;
    tx.batch_execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
        .await
        .db()?;
    let applied: Vec<Applied> = tx
        .query(
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .db()?
        .iter()
        .map(|row| Applied {
            version: row.get(0),
            checksum: row.get(1),
        })
        .collect();
    for (version, checksum) in check_applied(&applied, migrations)? {
        tx.execute(
            "UPDATE schema_migrations SET checksum = $1 WHERE version = $2",
            &[&checksum, &version],
        )
        .await
        .db()?;
    }
    tx.commit().await.db()
}

/// The schema version of the database the client is connected to (0 when never migrated).
pub async fn version(client: &impl tokio_postgres::GenericClient) -> StoreResult<i64> {
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .db()?;
    Ok(row.get(0))
}
