//! TLS to PostgreSQL: with an authority configured every connection the hub opens is
//! encrypted and the server is checked; a server the authority did not sign, or reached by a
//! name its certificate does not hold, is refused.
//!
//! The authority here is the test server's own certificate: Debian's PostgreSQL serves TLS
//! (`ssl = on`) with a self-signed certificate for `localhost`, which the test reads from the
//! server's `ssl_cert_file`.

use std::process::Command;

use chrono::Utc;

use outpost_domain::TenantKind;
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::tenant::NewTenant;
use outpost_store::Store;
use outpost_store::keys::MasterKey;
use outpost_store_postgres::testing::{cleanup, connect, server_config, unique_name};
use outpost_store_postgres::{PgConfig, PgOptions, PostgresStore, RouterLimits, Target};

/// The test server's settings, reached as `host` (a name or an address), with database `name`.
fn reached_as(host: &str, name: &str) -> PgConfig {
    let server = server_config();
    let mut config = PgConfig::new();
    config
        .host(host)
        .port(server.get_ports().first().copied().unwrap_or(5432))
        .user(server.get_user().unwrap_or("postgres"))
        .dbname(name);
    if let Some(password) = server.get_password() {
        config.password(password);
    }
    config
}

fn options(central: PgConfig, ca_file: &std::path::Path) -> PgOptions {
    PgOptions {
        central,
        servers: Vec::new(),
        runtime_role: None,
        limits: RouterLimits::default(),
        tls_ca_file: Some(ca_file.to_path_buf()),
    }
}

#[tokio::test]
async fn with_an_authority_every_connection_is_tls_and_a_wrong_server_is_refused() {
    let admin = connect("postgres").await;
    let ssl: String = admin.query_one("SHOW ssl", &[]).await.expect("ssl").get(0);
    assert_eq!(
        ssl, "on",
        "the test server must serve TLS (Debian's default, with its localhost certificate)"
    );
    let cert_file: String = admin
        .query_one("SHOW ssl_cert_file", &[])
        .await
        .expect("ssl_cert_file")
        .get(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::copy(&cert_file, &ca).expect("the server's certificate is readable");
    let name = unique_name();

    let master = MasterKey::create(&dir.path().join("master.key")).expect("master key");
    let store = PostgresStore::open(options(reached_as("localhost", &name), &ca), master)
        .await
        .expect("a store over TLS");
    let actor = Actor::system(Utc::now());
    let tenant = store
        .provision_tenant(
            &NewTenant {
                slug: "tls-clinic".into(),
                name: "TLS clinic".into(),
                kind: TenantKind::Clinic,
            },
            actor.event("tenant.create", Outcome::Success),
        )
        .await
        .expect("provision over TLS");
    let tenant_db = store.routed_database(tenant.id).await.expect("routed");
    for target in [
        Target {
            server: "main".into(),
            database: tenant_db,
        },
        Target {
            server: "(central)".into(),
            database: name.clone(),
        },
    ] {
        let conn = store.router().get(&target).await.expect("connection");
        let encrypted: bool = conn
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .expect("pg_stat_ssl")
            .get(0);
        assert!(encrypted, "{} is reached over TLS", target.database);
    }
    drop(store);

    // The same server reached by an address its certificate does not name: refused.
    let master = MasterKey::load(&dir.path().join("master.key")).expect("master key");
    let by_address =
        PostgresStore::open(options(reached_as("127.0.0.1", &name), &ca), master).await;
    assert!(
        by_address.is_err(),
        "a name outside the certificate is refused"
    );

    // An authority that did not sign the server's certificate: refused.
    let foreign = dir.path().join("foreign.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(dir.path().join("foreign.key"))
        .arg("-out")
        .arg(&foreign)
        .output()
        .expect("openssl");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let master = MasterKey::load(&dir.path().join("master.key")).expect("master key");
    let foreign_ca =
        PostgresStore::open(options(reached_as("localhost", &name), &foreign), master).await;
    assert!(
        foreign_ca.is_err(),
        "a server another authority signed is refused"
    );

    cleanup(&name).await;
}
