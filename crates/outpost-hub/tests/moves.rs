//! Moving a tenant to another PostgreSQL server from the command line while the hub serves it.
//! Always on PostgreSQL: the embedded backend has one data directory.
//!
//! The spare server is `OUTPOST_TEST_POSTGRES_SECOND` (a second cluster, as `.ci/run` starts
//! one) when set, else the test server again under another name.

mod common;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use common::{Backend, TestHub, patient_body};
use outpost_domain::audit::Outcome;
use outpost_domain::{Role, TenantKind};
use outpost_hub::HubConfig;
use outpost_hub::config::{DatabaseServer, DatabaseUrl};
use outpost_store_postgres::testing::{connect, unique_name, url};

fn spare_url() -> String {
    std::env::var("OUTPOST_TEST_POSTGRES_SECOND").unwrap_or_else(|_| url("postgres"))
}

#[tokio::test]
async fn a_tenant_moved_from_the_command_line_is_served_from_its_new_server() {
    let name = unique_name();
    let config = HubConfig {
        database_servers: vec![
            DatabaseServer {
                name: "main".into(),
                url: DatabaseUrl(url("postgres")),
            },
            DatabaseServer {
                name: "spare".into(),
                url: DatabaseUrl(spare_url()),
            },
        ],
        ..HubConfig::default()
    };
    let hub = TestHub::start_on(Backend::Postgres(name.clone()), config).await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    for i in 0..3 {
        let body = patient_body(&format!("MV-{i}"), "Mira", &format!("Wanderer{i}"));
        assert_eq!(
            hub.post("/v1/patients", &doctor, body).await.0,
            StatusCode::CREATED
        );
    }

    // While read-only (as during a move), reads are served and changes refused with 503.
    let central = connect(&name).await;
    let set_read_only = |on: bool| {
        let central = &central;
        async move {
            central
                .execute(
                    "UPDATE tenants SET read_only = $1 WHERE id = $2",
                    &[&on, &clinic.id.as_uuid()],
                )
                .await
                .expect("read_only");
        }
    };
    set_read_only(true).await;
    assert_eq!(hub.get("/v1/patients", &doctor).await.0, StatusCode::OK);
    let (status, body) = hub
        .post(
            "/v1/patients",
            &doctor,
            patient_body("MV-X", "Mira", "Late"),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, _) = hub
        .post(
            "/v1/sync/push",
            &doctor,
            json!({ "schema_version": 1, "ops": [], "audit": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    set_read_only(false).await;

    let config_file = hub.dir.path().join("hub.toml");
    std::fs::write(
        &config_file,
        format!(
            "[[database_servers]]\nname = \"main\"\nurl = \"{}\"\n\n\
             [[database_servers]]\nname = \"spare\"\nurl = \"{}\"\n",
            url("postgres"),
            spare_url()
        ),
    )
    .expect("config");
    let config_arg = config_file.display().to_string();
    let out = hub.command(&[
        "--config",
        &config_arg,
        "tenant",
        "move",
        "--slug",
        "clinic",
        "--server",
        "spare",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Moved clinic to spare/"), "{stdout}");
    let location: String = central
        .query_one(
            "SELECT location FROM tenants WHERE id = $1",
            &[&clinic.id.as_uuid()],
        )
        .await
        .expect("registry")
        .get(0);
    assert!(location.starts_with("spare/"), "{location}");

    // The running hub heard of the move (LISTEN/NOTIFY) and serves the new database; a request
    // in the instant before it heard may fail, so wait for the first answer.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (status, page) = hub.get("/v1/patients", &doctor).await;
        if status == StatusCode::OK {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "not served after the move: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(page["items"].as_array().expect("items").len(), 3);
    let (status, created) = hub
        .post(
            "/v1/patients",
            &doctor,
            patient_body("MV-3", "Mira", "Arrived"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let tenant = hub.store.tenant(clinic.id).await.expect("tenant");
    assert!(tenant.verify_audit().await.expect("verify").valid);
    assert_eq!(tenant.cursor().await.expect("cursor"), 4);
    drop(tenant);

    // And back through the API, which platform admins only may call.
    let path = format!("/v1/tenants/{}/move", clinic.id);
    let admin = hub.signed_in(Some(&clinic), Role::TenantAdmin).await;
    let (status, _) = hub.post(&path, &admin, json!({ "server": "main" })).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let (status, moved) = hub
        .post(&path, &platform, json!({ "server": "main" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert!(
        moved["location"]
            .as_str()
            .expect("location")
            .starts_with("main/"),
        "{moved}"
    );
    assert_eq!(moved["tenant"]["read_only"], false);
    let (status, page) = hub.get("/v1/patients", &doctor).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().expect("items").len(), 4);

    let event = hub.actor().event("tenant.delete", Outcome::Success);
    hub.store
        .delete_tenant(clinic.id, event)
        .await
        .expect("delete (drops the database on the spare server)");
    hub.stop().await;
}
