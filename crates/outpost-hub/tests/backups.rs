//! Backup → delete → restore of one tenant from the command line, on the backend the run asks
//! for (`OUTPOST_TEST_BACKEND`).

mod common;

use reqwest::StatusCode;
use serde_json::json;

use common::{TestHub, patient_body};
use outpost_domain::audit::Outcome;
use outpost_domain::{Role, TenantKind};
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
    for plain in ["Quillfeather", "Odile", "BK-0", "555 0111"] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "the backup holds {plain} in plain text"
        );
    }
    let before = exported(hub.store.tenant(clinic.id).await.expect("tenant").as_ref()).await;
    assert_eq!(
        exported_actions(&before).last().map(String::as_str),
        Some("tenant.backup")
    );

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
        assert!(
            hub.store
                .central()
                .tenant(clinic.id)
                .await
                .expect("registry")
                .is_none()
        );
        assert_eq!(hub.tenant_databases().await, 1, "nothing left behind");
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

    let after = exported(hub.store.tenant(clinic.id).await.expect("tenant").as_ref()).await;
    for table in ["patients", "patient_history", "change_feed", "applied_ops"] {
        assert_eq!(before.get(table), after.get(table), "{table} differs");
    }
    assert_eq!(before["patients"].len(), 5);
    assert_eq!(before["patient_history"].len(), 7);
    let (old, new) = (exported_actions(&before), exported_actions(&after));
    assert_eq!(new[..old.len()], old[..]);
    assert_eq!(new[old.len()..], ["tenant.restore"]);
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
    let restore_actions: Vec<String> = hub
        .raw_central_actions()
        .await
        .into_iter()
        .filter(|a| a == "tenant.delete" || a.ends_with(".restore"))
        .collect();
    assert_eq!(
        restore_actions,
        [
            "tenant.delete",
            "tenant.restore",
            "membership.restore",
            "membership.restore"
        ]
    );
    hub.stop().await;
}
