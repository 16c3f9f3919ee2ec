//! Embedded migrations, shared by the backends: each backend lists its own SQL files from
//! `migrations/<tree>/<backend>/`, under the same names.

/// A migration: its version, name and SQL.
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
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
