//! Embedded migrations, applied in order, each in one transaction with its version bump.

use rusqlite::Connection;

use outpost_store::{Applied, Migration, StoreError, StoreResult, check_applied, migration};

pub const CENTRAL: &[Migration] = &[
    migration!("central", "sqlite", 1, "0001_init"),
    migration!("central", "sqlite", 2, "0002_roles"),
    migration!("central", "sqlite", 3, "0003_refresh_successor"),
    migration!("central", "sqlite", 4, "0004_tenant_read_only"),
    migration!("central", "sqlite", 5, "0005_schedule_manage"),
    migration!("central", "sqlite", 6, "0006_transport_roles"),
    migration!("central", "sqlite", 7, "0007_board"),
];

pub const TENANT: &[Migration] = &[
    migration!("tenant", "sqlite", 1, "0001_init"),
    migration!("tenant", "sqlite", 2, "0002_sync"),
    migration!("tenant", "sqlite", 3, "0003_history_client_time"),
    migration!("tenant", "sqlite", 4, "0004_audit_user_index"),
    migration!("tenant", "sqlite", 5, "0005_schedule"),
    migration!("tenant", "sqlite", 6, "0006_patient_provenance"),
    migration!("tenant", "sqlite", 7, "0007_transport"),
    migration!("tenant", "sqlite", 8, "0008_unit_shifts"),
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
    let has_checksums: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum'",
            [],
            |row| row.get(0),
        )
        .map_err(StoreError::backend)?;
    if !has_checksums {
        conn.execute_batch("ALTER TABLE schema_migrations ADD COLUMN checksum TEXT")
            .map_err(StoreError::backend)?;
    }
    let applied: Vec<Applied> = conn
        .prepare("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| {
                Ok(Applied {
                    version: row.get(0)?,
                    checksum: row.get(1)?,
                })
            })?
            .collect()
        })
        .map_err(StoreError::backend)?;
    for (version, checksum) in check_applied(&applied, migrations)? {
        conn.execute(
            "UPDATE schema_migrations SET checksum = ?1 WHERE version = ?2",
            rusqlite::params![checksum, version],
        )
        .map_err(StoreError::backend)?;
    }
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
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
            rusqlite::params![migration.version, migration.name, migration.checksum()],
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

#[cfg(test)]
mod tests {
    use super::*;

    fn checksums(conn: &Connection) -> Vec<Option<String>> {
        conn.prepare("SELECT checksum FROM schema_migrations ORDER BY version")
            .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect())
            .expect("checksums")
    }

    #[test]
    fn an_edited_migration_is_refused_and_older_records_get_their_checksums() {
        let mut conn = Connection::open_in_memory().expect("memory");
        apply(&mut conn, TENANT).expect("migrate");
        let expected: Vec<Option<String>> = TENANT.iter().map(|m| Some(m.checksum())).collect();
        assert_eq!(checksums(&conn), expected);
        // A file migrated before checksums were recorded gets them at its next opening.
        conn.execute_batch("UPDATE schema_migrations SET checksum = NULL")
            .expect("clear");
        apply(&mut conn, TENANT).expect("migrate again");
        assert_eq!(checksums(&conn), expected);
        // An applied migration whose SQL is not this build's: refused, by name.
        conn.execute_batch("UPDATE schema_migrations SET checksum = 'other SQL' WHERE version = 3")
            .expect("edit");
        assert!(matches!(
            apply(&mut conn, TENANT),
            Err(StoreError::MigrationEdited {
                version: 3,
                name: "0003_history_client_time"
            })
        ));
    }

    #[test]
    fn a_file_of_a_build_without_checksums_gains_the_column() {
        let mut conn = Connection::open_in_memory().expect("memory");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                 applied_at TEXT NOT NULL DEFAULT 'then')",
        )
        .expect("old table");
        apply(&mut conn, CENTRAL).expect("migrate");
        assert!(checksums(&conn).iter().all(Option::is_some));
    }
}
