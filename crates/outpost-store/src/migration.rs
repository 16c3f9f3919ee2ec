//! Embedded migrations, shared by the backends: each backend lists its own SQL files from
//! `migrations/<tree>/<backend>/`, under the same names.

use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};

/// A migration: its version, name and SQL.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// The SHA-256 of its SQL, recorded with it when applied.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// What a database records of a migration it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    /// `None` for migrations applied before checksums were recorded.
    pub checksum: Option<String>,
}

/// Checks what a database applied against this build's migrations. A migration whose SQL
/// changed since it was applied is refused: the database was built by other SQL than this
/// build would run, and an applied migration must never be edited (add a new one). Returns
/// the migrations applied before checksums were recorded, with the checksum to record now.
pub fn check_applied(
    applied: &[Applied],
    migrations: &[Migration],
) -> StoreResult<Vec<(i64, String)>> {
    let mut unrecorded = Vec::new();
    for record in applied {
        let Some(migration) = migrations.iter().find(|m| m.version == record.version) else {
            continue;
        };
        let checksum = migration.checksum();
        match &record.checksum {
            Some(recorded) if *recorded != checksum => {
                return Err(StoreError::MigrationEdited {
                    version: migration.version,
                    name: migration.name,
                });
            }
            Some(_) => {}
            None => unrecorded.push((migration.version, checksum)),
        }
    }
    Ok(unrecorded)
}

/// `migration!("central", "sqlite", 1, "0001_init")`: the file
/// `migrations/central/sqlite/0001_init.sql`, embedded at build time, as a [`Migration`].
/// Used from `crates/<backend>/src/`, which the path is relative to.
#[macro_export]
macro_rules! migration {
    ($tree:literal, $backend:literal, $version:literal, $name:literal) => {
        $crate::Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                "../../../migrations/",
                $tree,
                "/",
                $backend,
                "/",
                $name,
                ".sql"
            )),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIGRATIONS: &[Migration] = &[
        Migration {
            version: 1,
            name: "0001_init",
            sql: "CREATE TABLE a (x int);",
        },
        Migration {
            version: 2,
            name: "0002_more",
            sql: "CREATE TABLE b (y int);",
        },
    ];

    fn applied(version: i64, checksum: Option<String>) -> Applied {
        Applied { version, checksum }
    }

    #[test]
    fn an_edited_applied_migration_is_refused_and_unrecorded_ones_get_their_checksum() {
        let one = MIGRATIONS[0].checksum();
        assert_eq!(one.len(), 64);
        assert_eq!(
            check_applied(
                &[applied(1, Some(one.clone())), applied(2, None)],
                MIGRATIONS
            )
            .expect("fine"),
            vec![(2, MIGRATIONS[1].checksum())]
        );
        let edited =
            check_applied(&[applied(1, Some("0".repeat(64)))], MIGRATIONS).expect_err("edited");
        assert!(edited.to_string().contains("0001_init"), "{edited}");
        // Newer migrations than this build knows are the schema-version check's business.
        assert!(check_applied(&[applied(3, Some(one))], MIGRATIONS).is_ok());
    }
}
