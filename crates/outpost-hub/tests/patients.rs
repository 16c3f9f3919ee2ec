//! Patient records: create, read, search, versioned edit, conflict, history, tombstones.

mod common;

use reqwest::StatusCode;
use serde_json::json;

use common::{TestHub, patient_body};
use outpost_domain::{Role, TenantKind};

#[tokio::test]
async fn a_patient_lives_through_edits_a_conflict_and_deletion_with_full_history() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let doctor = hub.signed_in(Some(&clinic), Role::Doctor).await;
    let nurse = hub.signed_in(Some(&clinic), Role::Nurse).await;
    let admin = hub.signed_in(Some(&clinic), Role::TenantAdmin).await;

    let (status, created) = hub
        .post(
            "/v1/patients",
            &doctor,
            patient_body("MRN-7", "Grace", "Hopper"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["version"], 1);
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/patients/{id}");

    let (status, edited) = hub
        .patch(
            &path,
            &doctor,
            json!({"version": 1, "phone": "+1 555 0142", "bmi": null}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["version"], 2);
    assert_eq!(edited["phone"], "+1 555 0142");
    assert!(edited.get("bmi").is_none());

    // The nurse edited version 1 too: stale, refused with the current record, nothing written.
    let (status, conflict) = hub
        .patch(&path, &nurse, json!({"version": 1, "given_name": "Gracie"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["error"]["code"], "version_conflict");
    assert_eq!(conflict["current"]["version"], 2);
    assert_eq!(conflict["current"]["given_name"], "Grace");
    let (_, now) = hub.get(&path, &doctor).await;
    assert_eq!(now["given_name"], "Grace");

    // Duplicate MRN is a conflict of its own.
    let (status, dup) = hub
        .post(
            "/v1/patients",
            &nurse,
            patient_body("MRN-7", "Other", "Person"),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{dup}");
    assert_eq!(dup["error"]["code"], "already_exists");

    let (status, history) = hub.get(&format!("{path}/history"), &doctor).await;
    assert_eq!(status, StatusCode::OK);
    let items = history["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "create");
    assert_eq!(items[0]["changes"]["family_name"]["new"], "Hopper");
    assert_eq!(
        items[1]["changes"]["phone"],
        json!({"old": "+1 555 0100", "new": "+1 555 0142"})
    );
    assert_eq!(
        items[1]["changes"]["bmi"],
        json!({"old": 24.5, "new": null})
    );
    assert!(items[1]["actor_user_id"].is_string());

    let (status, _) = hub
        .call(
            reqwest::Method::DELETE,
            &format!("{path}?version=1"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = hub.delete(&path, &admin).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(hub.get(&path, &doctor).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        hub.patch(&path, &doctor, json!({"version": 3, "phone": "1"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, search) = hub.get("/v1/patients?q=hopper", &doctor).await;
    assert_eq!(search["items"].as_array().expect("items").len(), 0);

    // The tombstone keeps the record, every version and every access for the auditor.
    let auditor = hub.signed_in(Some(&clinic), Role::Auditor).await;
    let (status, report) = hub
        .get(&format!("/v1/reports/patients/{id}"), &auditor)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(report["deleted_at"].is_string());
    let versions: Vec<_> = report["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["action"].clone())
        .collect();
    assert_eq!(
        versions,
        [json!("create"), json!("update"), json!("delete")]
    );
    let accesses: Vec<String> = report["accesses"]
        .as_array()
        .expect("accesses")
        .iter()
        .map(|a| a["action"].as_str().expect("action").to_owned())
        .collect();
    for expected in [
        "patient.create",
        "patient.update",
        "patient.read",
        "patient.history",
        "patient.delete",
    ] {
        assert!(
            accesses.iter().any(|a| a == expected),
            "{expected} missing from {accesses:?}"
        );
    }
    // The MRN of a deleted patient is free again.
    let (status, _) = hub
        .post(
            "/v1/patients",
            &doctor,
            patient_body("MRN-7", "New", "Holder"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    hub.stop().await;
}

#[tokio::test]
async fn search_matches_name_or_mrn_prefixes_case_insensitively_and_pages_with_a_cursor() {
    let hub = TestHub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let desk = hub.signed_in(Some(&clinic), Role::FrontDesk).await;
    let people = [
        ("ZX-001", "Émile", "Zola"),
        ("ZX-002", "Zoe", "Zimmer"),
        ("ZX-003", "Zack", "Zimmermann"),
        ("AB-004", "Anna", "Zorn"),
        ("AB-005", "Otto", "Zeller"),
        ("AB-006", "Ines", "Zuber"),
        ("AB-007", "Karl", "Meyer"),
    ];
    for (mrn, given, family) in people {
        let body = json!({"mrn": mrn, "given_name": given, "family_name": family, "birth_date": "1990-01-01"});
        assert_eq!(
            hub.post("/v1/patients", &desk, body).await.0,
            StatusCode::CREATED
        );
    }
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|p| p["family_name"].as_str().expect("f").to_owned())
            .collect()
    };
    let (_, zim) = hub.get("/v1/patients?q=ZIM", &desk).await;
    assert_eq!(names(&zim), ["Zimmer", "Zimmermann"]);
    let (_, by_given) = hub.get("/v1/patients?q=%C3%A9mi", &desk).await;
    assert_eq!(names(&by_given), ["Zola"]);
    let (_, by_mrn) = hub.get("/v1/patients?q=zx-00", &desk).await;
    assert_eq!(names(&by_mrn).len(), 3);
    let (_, two_words) = hub.get("/v1/patients?q=zack%20zim", &desk).await;
    assert_eq!(names(&two_words), ["Zimmermann"]);
    let (_, none) = hub.get("/v1/patients?q=immer", &desk).await;
    assert!(names(&none).is_empty(), "prefix only, not substring");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/patients?q=z&limit=2&cursor={c}"),
            None => "/v1/patients?q=z&limit=2".into(),
        };
        let (status, page) = hub.get(&path, &desk).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["items"].as_array().expect("items").len() <= 2);
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["Zeller", "Zimmer", "Zimmermann", "Zola", "Zorn", "Zuber"]
    );
    hub.stop().await;
}
