//! Backup → delete → restore of one tenant from the command line and through the API, on the
//! backend the run asks for (`OUTPOST_TEST_BACKEND`).

mod common;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use serde_json::{Value, json};

use common::{TestHub, patient_body};
use outpost_domain::TenantId;
use outpost_domain::audit::Outcome;
use outpost_domain::{Role, TenantKind};
use outpost_hub::HubConfig;

/// A tenant's rows by table, as [`exported`] reads them.
type Exported = std::collections::BTreeMap<String, Vec<Vec<Value>>>;
use outpost_store::testsuite::{exported, exported_actions};

#[tokio::test]
async fn a_restored_tenant_has_the_same_records_history_and_chain() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    hub.tenant("bystander", TenantKind::Clinic).await;
    let doctor_email = hub.user(Some(&clinic), Role::Doctor).await;
    let doctor = hub.token(&doctor_email).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = patient_body(&format!("BK-{i}"), "Odile", &format!("Quillfeather{i}"));
        let (status, patient) = hub.post("/v1/patients", &doctor, body).await;
        assert_eq!(status, StatusCode::CREATED, "{patient}");
        ids.push(patient["id"].as_str().expect("id").to_owned());
    }
    let first = format!("/v1/patients/{}", ids[0]);
    let (status, _) = hub
        .patch(
            &first,
            &doctor,
            json!({ "version": 1, "phone": "+1 555 0111" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let admin = hub.signed_in(Some(&clinic), Role::TenantAdmin).await;
    let last = format!("/v1/patients/{}", ids[4]);
    assert_eq!(hub.delete(&last, &admin).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        hub.get(&format!("{first}/history"), &doctor).await.0,
        StatusCode::OK
    );

    let file = hub.dir.path().join("clinic.backup");
    let file_arg = file.display().to_string();
    let out = hub.command(&["tenant", "backup", "--slug", "clinic", "--out", &file_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Backed up clinic"), "{stdout}");
    assert!(stdout.contains("5 patients"), "{stdout}");
    let bytes = std::fs::read(&file).expect("backup file");
    let before = hub
        .backed_up(
            clinic.id,
            &bytes,
            &["Quillfeather", "Odile", "BK-0", "555 0111"],
        )
        .await;

    let event = hub.actor().event("tenant.delete", Outcome::Success);
    hub.store
        .delete_tenant(clinic.id, event)
        .await
        .expect("delete");
    assert_eq!(hub.tenant_databases().await, 1);
    assert_eq!(
        hub.get("/v1/patients", &doctor).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A file cut short, or altered, restores nothing.
    let cut = hub.dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).expect("cut");
    let altered = hub.dir.path().join("altered.backup");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x20;
    std::fs::write(&altered, &flipped).expect("altered");
    for bad in [&cut, &altered] {
        let out = hub.command(&["tenant", "restore", "--file", &bad.display().to_string()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("not a usable backup file"), "{stderr}");
        hub.assert_not_restored(clinic.id).await;
    }

    let out = hub.command(&["tenant", "restore", "--file", &file_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Restored clinic"), "{stdout}");
    assert!(stdout.contains("2 members"), "{stdout}");

    hub.assert_restored_as(clinic.id, &before).await;
    assert_eq!(before["patients"].len(), 5);
    assert_eq!(before["patient_history"].len(), 7);
    let chain = hub
        .store
        .tenant(clinic.id)
        .await
        .expect("tenant")
        .verify_audit()
        .await
        .expect("verify");
    assert!(chain.valid, "{chain:?}");

    // The doctor's membership came back: sign in and see the same patients.
    let doctor = hub.token(&doctor_email).await;
    let (status, page) = hub.get("/v1/patients", &doctor).await;
    assert_eq!(status, StatusCode::OK);
    let families: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["family_name"].as_str().expect("family"))
        .collect();
    assert_eq!(
        families,
        [
            "Quillfeather0",
            "Quillfeather1",
            "Quillfeather2",
            "Quillfeather3"
        ]
    );
    let (status, patient) = hub.get(&first, &doctor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patient["phone"], "+1 555 0111");
    assert_eq!(patient["version"], 2);

    let out = hub.command(&["tenant", "restore", "--file", &file_arg]);
    assert!(
        !out.status.success(),
        "a registered tenant is never replaced"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let central = hub.store.central().verify_audit().await.expect("central");
    assert!(central.valid);
    assert_eq!(
        hub.copies_and_deletes().await,
        [
            "tenant.backup",
            "tenant.delete",
            "tenant.restore",
            "membership.restore",
            "membership.restore"
        ]
    );
    hub.stop().await;
}

impl TestHub {
    /// The central chain's backups, deletions and restores, in order.
    async fn copies_and_deletes(&self) -> Vec<String> {
        let actions = self.raw_central_actions().await.into_iter();
        actions
            .filter(|a| a == "tenant.backup" || a == "tenant.delete" || a.ends_with(".restore"))
            .collect()
    }

    /// Checks a backup `file` of tenant `id`: none of `plain` readable in it, and the backup
    /// the last event of the tenant's chain. Answers the tenant's rows as they are now.
    async fn backed_up(&self, id: TenantId, file: &[u8], plain: &[&str]) -> Exported {
        for plain in plain {
            assert!(
                !file.windows(plain.len()).any(|w| w == plain.as_bytes()),
                "the backup holds {plain} in plain text"
            );
        }
        let before = exported(self.store.tenant(id).await.expect("tenant").as_ref()).await;
        assert_eq!(
            exported_actions(&before).last().map(String::as_str),
            Some("tenant.backup")
        );
        before
    }

    /// A failed restore registered nothing and left no database behind (the bystander's is
    /// the only one).
    async fn assert_not_restored(&self, id: TenantId) {
        let registered = self.store.central().tenant(id).await.expect("registry");
        assert!(registered.is_none());
        assert_eq!(self.tenant_databases().await, 1, "nothing left behind");
    }

    /// The restored tenant holds the rows exported `before` it was deleted, and its chain is
    /// the old one plus `tenant.restore`.
    async fn assert_restored_as(&self, id: TenantId, before: &Exported) {
        let after = exported(self.store.tenant(id).await.expect("tenant").as_ref()).await;
        for table in ["patients", "patient_history", "change_feed", "applied_ops"] {
            assert_eq!(before.get(table), after.get(table), "{table} differs");
        }
        let (old, new) = (exported_actions(before), exported_actions(&after));
        assert_eq!(new[..old.len()], old[..]);
        assert_eq!(new[old.len()..], ["tenant.restore"]);
    }

    /// Uploads `file` to `POST /v1/tenants/restore` as `content_type`.
    async fn upload(&self, token: &str, content_type: &str, file: Vec<u8>) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/v1/tenants/restore", self.url))
            .bearer_auth(token)
            .header(CONTENT_TYPE, content_type)
            .body(file)
            .send()
            .await
            .expect("upload");
        let status = resp.status();
        (status, resp.json().await.expect("json answer"))
    }
}

#[tokio::test]
async fn platform_admins_back_up_restore_and_migrate_tenants_through_the_api() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let bystander = hub.tenant("bystander", TenantKind::Clinic).await;
    let doctor_email = hub.user(Some(&clinic), Role::Doctor).await;
    let doctor = hub.token(&doctor_email).await;
    for i in 0..3 {
        let body = patient_body(
            &format!("API-{i}"),
            "Marguerite",
            &format!("Vantongeren{i}"),
        );
        assert_eq!(
            hub.post("/v1/patients", &doctor, body).await.0,
            StatusCode::CREATED
        );
    }
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let outsider = hub.signed_in(Some(&bystander), Role::TenantAdmin).await;

    let backup = format!("/v1/tenants/{}/backup", clinic.id);
    let (status, _) = hub.post(&backup, &outsider, json!({})).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant admin cannot back up"
    );
    let resp = hub
        .http
        .post(format!("{}{backup}", hub.url))
        .bearer_auth(&platform)
        .send()
        .await
        .expect("backup");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/octet-stream");
    assert_eq!(
        resp.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"clinic.outpost-backup\""
    );
    let file = resp.bytes().await.expect("backup bytes").to_vec();
    assert!(file.starts_with(b"OUTPOST-TENANT-BACKUP 1 "));
    let before = hub
        .backed_up(clinic.id, &file, &["Marguerite", "Vantongeren", "API-0"])
        .await;

    let (status, _) = hub
        .delete(&format!("/v1/tenants/{}", clinic.id), &platform)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = hub
        .upload(&platform, "application/json", file.clone())
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let octets = "application/octet-stream";
    let (status, _) = hub.upload(&outsider, octets, file.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant admin cannot restore"
    );
    let (status, body) = hub
        .upload(&platform, octets, file[..file.len() - 20].to_vec())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains("not a usable backup file"), "{message}");
    hub.assert_not_restored(clinic.id).await;

    let (status, restored) = hub.upload(&platform, octets, file.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{restored}");
    assert_eq!(restored["tenant"]["slug"], "clinic");
    assert_eq!(restored["tenant"]["id"], clinic.id.to_string());
    assert_eq!(restored["members"], 1);
    hub.assert_restored_as(clinic.id, &before).await;

    let doctor = hub.token(&doctor_email).await;
    let (status, page) = hub.get("/v1/patients", &doctor).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().expect("items").len(), 3);

    let (status, body) = hub.upload(&platform, octets, file).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "already_exists");

    let (status, _) = hub.post("/v1/tenants/migrate", &outsider, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, report) = hub.post("/v1/tenants/migrate", &platform, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let lines = report["items"].as_array().expect("items");
    let mut slugs: Vec<&str> = lines
        .iter()
        .map(|l| l["slug"].as_str().expect("slug"))
        .collect();
    slugs.sort_unstable();
    assert_eq!(slugs, ["bystander", "clinic"]);
    for line in lines {
        assert!(line["error"].is_null(), "{line}");
        assert!(
            line["schema_version"].as_i64().expect("version") >= 1,
            "{line}"
        );
        assert_eq!(line["schema_version"], lines[0]["schema_version"]);
    }
    hub.break_tenant_database(bystander.id).await;
    let (status, report) = hub.post("/v1/tenants/migrate", &platform, json!({})).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a failing tenant does not stop the others"
    );
    for line in report["items"].as_array().expect("items") {
        if line["slug"] == "bystander" {
            assert!(line["schema_version"].is_null(), "{line}");
            assert!(line["error"].is_string(), "{line}");
        } else {
            assert_eq!(line["schema_version"], lines[0]["schema_version"], "{line}");
        }
    }

    assert_eq!(
        hub.copies_and_deletes().await,
        [
            "tenant.backup",
            "tenant.delete",
            "tenant.restore",
            "membership.restore"
        ]
    );
    hub.stop().await;
}

#[tokio::test]
async fn a_restore_upload_over_the_limit_is_refused() {
    let hub = TestHub::start_with(HubConfig {
        restore_limit_bytes: 1024,
        ..HubConfig::default()
    })
    .await;
    let platform = hub.signed_in(None, Role::PlatformAdmin).await;
    let (status, body) = hub
        .upload(&platform, "application/octet-stream", vec![0u8; 4096])
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert_eq!(hub.tenant_databases().await, 0);
    hub.stop().await;
}
