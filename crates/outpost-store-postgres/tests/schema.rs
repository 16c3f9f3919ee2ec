//! The PostgreSQL schema against a real server (OUTPOST_TEST_POSTGRES, by default the
//! machine's on 127.0.0.1:5432 as `postgres`): every test creates uniquely named databases and
//! roles and drops them.

use std::collections::BTreeSet;
use std::path::Path;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

use outpost_store_postgres::{admin, grants, migrate};

fn server_config() -> Config {
    std::env::var("OUTPOST_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=postgres".into())
        .parse()
        .expect("OUTPOST_TEST_POSTGRES is a PostgreSQL connection string")
}

async fn connect(config: &Config) -> Client {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .expect("PostgreSQL is reachable");
    tokio::spawn(connection);
    client
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// A fresh database, its owner's client, and the server client that drops it.
struct Scratch {
    server: Client,
    name: String,
    owner: Client,
    config: Config,
}

impl Scratch {
    async fn new() -> Self {
        let config = server_config();
        let server = connect(&config).await;
        let name = unique("outpost_test");
        admin::create_database(&server, &name)
            .await
            .expect("create");
        let mut db_config = config.clone();
        db_config.dbname(&name);
        let owner = connect(&db_config).await;
        Self {
            server,
            name,
            owner,
            config: db_config,
        }
    }

    async fn drop(self, roles: &[&str]) {
        drop(self.owner);
        admin::drop_database(&self.server, &self.name)
            .await
            .expect("drop");
        for role in roles {
            self.server
                .batch_execute(&format!("DROP ROLE IF EXISTS {}", admin::quote_ident(role)))
                .await
                .expect("drop role");
        }
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("migrations directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_migration_has_a_twin_of_the_same_name_on_each_backend() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    for (tree, embedded) in [("central", migrate::CENTRAL), ("tenant", migrate::TENANT)] {
        let sqlite = names(&root.join(tree).join("sqlite"));
        let postgres = names(&root.join(tree).join("postgres"));
        assert_eq!(
            sqlite, postgres,
            "migrations/{tree}: sqlite and postgres differ"
        );
        let listed: BTreeSet<String> = embedded.iter().map(|m| format!("{}.sql", m.name)).collect();
        assert_eq!(
            listed, postgres,
            "migrations/{tree}/postgres: files not embedded, or gone"
        );
    }
}

#[tokio::test]
async fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let mut scratch = Scratch::new().await;
    let outcome = async {
        let first = migrate::run(&mut scratch.owner, migrate::TENANT).await?;
        let again = migrate::run(&mut scratch.owner, migrate::TENANT).await?;
        let audit_indexes: BTreeSet<String> = scratch
            .owner
            .query(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'audit_events'",
                &[],
            )
            .await
            .map_err(outpost_store::StoreError::backend)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let central = Scratch::new().await;
        let mut central_owner = central.owner;
        let central_version = migrate::run(&mut central_owner, migrate::CENTRAL).await;
        drop(central_owner);
        admin::drop_database(&central.server, &central.name).await?;
        scratch
            .owner
            .batch_execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")
            .await
            .map_err(outpost_store::StoreError::backend)?;
        let newer = migrate::run(&mut scratch.owner, migrate::TENANT).await;
        Ok::<_, outpost_store::StoreError>((first, again, audit_indexes, central_version, newer))
    }
    .await;
    scratch.drop(&[]).await;
    let (first, again, audit_indexes, central_version, newer) = outcome.expect("migrations");
    assert_eq!((first, again), (8, 8), "applied once, then nothing to do");
    // Migration 0004: a tenant chain indexes entities only for events about users.
    assert!(
        audit_indexes.contains("audit_events_user"),
        "{audit_indexes:?}"
    );
    assert!(
        !audit_indexes.contains("audit_events_entity"),
        "{audit_indexes:?}"
    );
    assert_eq!(central_version.expect("central migrates"), 7);
    assert!(
        matches!(
            newer,
            Err(outpost_store::StoreError::SchemaTooNew {
                found: 99,
                known: 8
            })
        ),
        "{newer:?}"
    );
}

async fn checksums(client: &Client) -> Result<Vec<Option<String>>, outpost_store::StoreError> {
    client
        .query(
            "SELECT checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(outpost_store::StoreError::backend)
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
}

#[tokio::test]
async fn an_edited_migration_is_refused_and_older_records_get_their_checksums() {
    let mut scratch = Scratch::new().await;
    let outcome = async {
        migrate::run(&mut scratch.owner, migrate::TENANT).await?;
        let recorded = checksums(&scratch.owner).await?;
        // A database migrated before checksums were recorded gets them at its next start.
        scratch
            .owner
            .batch_execute("UPDATE schema_migrations SET checksum = NULL")
            .await
            .map_err(outpost_store::StoreError::backend)?;
        migrate::run(&mut scratch.owner, migrate::TENANT).await?;
        let filled = checksums(&scratch.owner).await?;
        // An applied migration whose SQL is not this build's: refused, by name.
        scratch
            .owner
            .batch_execute("UPDATE schema_migrations SET checksum = 'other SQL' WHERE version = 2")
            .await
            .map_err(outpost_store::StoreError::backend)?;
        let edited = migrate::run(&mut scratch.owner, migrate::TENANT).await;
        Ok::<_, outpost_store::StoreError>((recorded, filled, edited))
    }
    .await;
    scratch.drop(&[]).await;
    let (recorded, filled, edited) = outcome.expect("migrations");
    let expected: Vec<Option<String>> =
        migrate::TENANT.iter().map(|m| Some(m.checksum())).collect();
    assert_eq!(recorded, expected);
    assert_eq!(filled, expected);
    assert!(
        matches!(
            edited,
            Err(outpost_store::StoreError::MigrationEdited {
                version: 2,
                name: "0002_sync"
            })
        ),
        "{edited:?}"
    );
}

/// The row every audit statement below targets.
const INSERT_EVENT: &str = "INSERT INTO audit_events (seq, at, action, outcome, details, prev_hash, hash) \
     VALUES ($1, now(), 'patient.read', 'success', '{}', 'prev', 'hash')";

#[tokio::test]
async fn the_hubs_role_cannot_update_delete_or_truncate_audit_rows_and_nor_can_the_owner() {
    let mut scratch = Scratch::new().await;
    let role = unique("outpost_hub_test");
    let outcome = async {
        migrate::run(&mut scratch.owner, migrate::TENANT).await?;
        scratch
            .server
            .batch_execute(&format!("CREATE ROLE {} LOGIN", admin::quote_ident(&role)))
            .await
            .map_err(outpost_store::StoreError::backend)?;
        grants::grant_runtime(&scratch.owner, &role).await?;
        let mut hub_config = scratch.config.clone();
        hub_config.user(&role);
        let hub = connect(&hub_config).await;
        let mut seen = Vec::new();
        seen.push((
            "hub inserts",
            hub.execute(INSERT_EVENT, &[&1i64]).await.map(drop),
        ));
        for (who, client) in [("hub", &hub), ("owner", &scratch.owner)] {
            for statement in [
                "UPDATE audit_events SET action = 'patient.nothing' WHERE seq = 1",
                "DELETE FROM audit_events WHERE seq = 1",
                "TRUNCATE audit_events",
            ] {
                let result = client.batch_execute(statement).await;
                seen.push((
                    if who == "hub" {
                        "hub changes"
                    } else {
                        "owner changes"
                    },
                    result,
                ));
            }
        }
        let count: i64 = scratch
            .owner
            .query_one("SELECT count(*) FROM audit_events", &[])
            .await
            .map_err(outpost_store::StoreError::backend)?
            .get(0);
        Ok::<_, outpost_store::StoreError>((seen, count))
    }
    .await;
    scratch.drop(&[&role]).await;
    let (seen, count) = outcome.expect("setup");
    let mut refused = 0;
    for (what, result) in &seen {
        match *what {
            "hub inserts" => assert!(result.is_ok(), "the hub appends: {result:?}"),
            _ => {
                let err = result.as_ref().expect_err(what);
                assert_eq!(
                    err.code(),
                    Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                    "{what}: {err:?}"
                );
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 6, "three statements refused for each role");
    assert_eq!(count, 1, "the event is still there");
}
