//! The client core end to end: a real hub over HTTP, real SQLCipher caches, the real OS keyring.

mod common;

use std::sync::Arc;

use chrono::Duration;
use serde_json::{Map, Value, json};

use common::{FakeClock, Hub, PASSWORD, client, no_progress};
use outpost_client::{Backoff, ClientError, Resolution, SystemClock};
use outpost_domain::audit::Actor;
use outpost_domain::clock::Clock;
use outpost_domain::patient::PatientFields;
use outpost_domain::{Role, TenantKind};
use outpost_store::Store;

fn changes(value: Value) -> Map<String, Value> {
    value.as_object().expect("object").clone()
}

fn new_patient(mrn: &str, given: &str, family: &str) -> PatientFields {
    serde_json::from_value(json!({
        "mrn": mrn, "given_name": given, "family_name": family, "birth_date": "1975-05-05",
        "sex": "female", "bmi": 26.0
    }))
    .expect("fields")
}

#[tokio::test]
async fn offline_work_lands_on_the_hub_with_history_and_audit() {
    let mut hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let seeded = hub.patients(&clinic, "OF", 50).await;
    let email = hub.user(&clinic, Role::TenantAdmin).await;
    let doctor = hub.user(&clinic, Role::Doctor).await;
    let home = tempfile::tempdir().expect("home");
    let mut c = client(home.path(), Arc::new(SystemClock));
    c.login(&hub.url(), None, &doctor, PASSWORD)
        .await
        .expect("login");
    let report = c.sync(&mut no_progress()).await.expect("first sync");
    assert_eq!(report.mirrored_rows, 100, "50 patients and 50 versions");

    hub.pause().await;
    // Offline: read, create, edit, delete.
    let found = c.search(&seeded[0].fields.family_name, 50).expect("search");
    assert!(found.iter().any(|p| p.id == seeded[0].id));
    c.show(seeded[1].id).expect("show");
    // The first keystroke: patients with a name starting with that letter, in name order.
    let letter: String = seeded[0].fields.family_name.chars().take(1).collect();
    let letter = letter.to_lowercase();
    let first = c.search(&letter, 50).expect("one letter");
    assert!(first.iter().any(|p| p.id == seeded[0].id));
    assert!(first.iter().all(|p| {
        p.fields.family_name.to_lowercase().starts_with(&letter)
            || p.fields.given_name.to_lowercase().starts_with(&letter)
    }));
    let names: Vec<_> = first
        .iter()
        .map(|p| {
            (
                p.fields.family_name.to_lowercase(),
                p.fields.given_name.to_lowercase(),
            )
        })
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "sorted: {names:?}");
    let created = c
        .add(new_patient("OFF-1", "Ophelia", "Offline"))
        .expect("add");
    c.edit(created.id, &changes(json!({"phone": "+1 555 0123"})))
        .expect("edit new");
    c.edit(
        seeded[1].id,
        &changes(json!({"address": "9 Offline Way", "bmi": 31.5})),
    )
    .expect("edit");
    assert_eq!(
        c.status().expect("status").pending_ops,
        3,
        "every change is an op of its own: the create, its edit, the other edit"
    );
    assert!(matches!(
        c.sync(&mut no_progress()).await,
        Err(ClientError::Offline(_))
    ));
    assert_eq!(
        c.status().expect("status").pending_ops,
        3,
        "nothing lost while offline"
    );
    drop(c);

    // A restarted client unlocks offline and keeps working.
    let mut c = client(home.path(), Arc::new(SystemClock));
    c.unlock(PASSWORD).expect("offline unlock");
    let second = c.add(new_patient("OFF-2", "Otto", "Offline")).expect("add");
    hub.resume().await;
    let report = c.sync(&mut no_progress()).await.expect("sync");
    assert_eq!(report.applied, 4, "{report:?}");
    assert!(report.audit_uploaded >= 2);
    assert_eq!(c.status().expect("status").pending_ops, 0);

    // The deletion needs patient.delete: the tenant admin does it offline on its own client.
    let admin_home = tempfile::tempdir().expect("home");
    let mut admin = client(admin_home.path(), Arc::new(SystemClock));
    admin
        .login(&hub.url(), None, &email, PASSWORD)
        .await
        .expect("login");
    admin.sync(&mut no_progress()).await.expect("mirror");
    hub.pause().await;
    admin.delete(second.id).expect("delete offline");
    hub.resume().await;
    assert_eq!(
        admin.sync(&mut no_progress()).await.expect("sync").applied,
        1
    );
    c.sync(&mut no_progress()).await.expect("pull the delete");
    assert!(matches!(c.show(second.id), Err(ClientError::NotFound)));

    // The hub's records and versions equal the client's.
    let store = hub.store().tenant(clinic.id).await.expect("store");
    let actor = Actor::system(chrono::Utc::now());
    for id in [created.id, seeded[1].id] {
        let on_hub = store
            .patient(id, &actor)
            .await
            .expect("read")
            .expect("exists");
        let local = c.show(id).expect("local");
        assert_eq!(on_hub, local.patient, "record {id}");
        let hub_history = store
            .patient_history(id, &actor)
            .await
            .expect("h")
            .expect("h");
        assert_eq!(hub_history, c.history(id).expect("local history"));
    }
    let mut created_on_hub = store
        .patient(created.id, &actor)
        .await
        .expect("r")
        .expect("e");
    assert_eq!(
        created_on_hub.fields.phone.take().as_deref(),
        Some("+1 555 0123")
    );
    assert!(
        store.patient(second.id, &actor).await.expect("r").is_none(),
        "deleted on the hub"
    );

    // The hub's chain holds the offline reads and writes, with the device and both clocks.
    let report = store
        .patient_report(seeded[1].id, &actor)
        .await
        .expect("r")
        .expect("r");
    let offline_read = report
        .accesses
        .iter()
        .find(|e| e.event.action == "patient.read" && e.event.details["offline"] == true)
        .expect("offline read in the hub chain");
    assert!(offline_read.event.device_id.is_some());
    assert!(offline_read.event.details["client_time"].is_string());
    let sync_write = report
        .accesses
        .iter()
        .find(|e| e.event.action == "patient.update" && e.event.details["via"] == "sync")
        .expect("offline write in the hub chain");
    assert!(sync_write.event.details["client_time"].is_string());
    assert!(store.verify_audit().await.expect("verify").valid);
    hub.pause().await;
}

#[tokio::test]
async fn each_offline_edit_reaches_the_hub_as_a_version_of_its_own() {
    let mut hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let seeded = hub.patients(&clinic, "ED", 5).await;
    let doctor = hub.user(&clinic, Role::Doctor).await;
    let home = tempfile::tempdir().expect("home");
    let clock = FakeClock::starting_now();
    let mut c = client(home.path(), Arc::new(clock.clone()));
    c.login(&hub.url(), None, &doctor, PASSWORD)
        .await
        .expect("login");
    c.sync(&mut no_progress()).await.expect("mirror");
    let id = seeded[0].id;

    hub.pause().await;
    let phones = ["+1 555 0001", "+1 555 0002", "+1 555 0003"];
    let mut device_times = Vec::new();
    for phone in phones {
        clock.advance(Duration::minutes(7));
        device_times.push(clock.now());
        c.edit(id, &changes(json!({ "phone": phone })))
            .expect("edit offline");
    }
    assert_eq!(c.status().expect("status").pending_ops, 3);
    hub.resume().await;
    let report = c.sync(&mut no_progress()).await.expect("sync");
    assert_eq!(report.applied, 3, "{report:?}");

    let store = hub.store().tenant(clinic.id).await.expect("store");
    let actor = Actor::system(chrono::Utc::now());
    let history = store
        .patient_history(id, &actor)
        .await
        .expect("history")
        .expect("exists");
    assert_eq!(
        history.iter().map(|h| h.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    for ((entry, phone), at) in history[1..].iter().zip(phones).zip(&device_times) {
        assert_eq!(
            entry.changes["phone"].new,
            json!(phone),
            "version {}",
            entry.version
        );
        assert_eq!(
            entry.client_time.as_ref(),
            Some(at),
            "version {}",
            entry.version
        );
    }
    assert_eq!(history[2].changes["phone"].old, json!(phones[0]));
    let report = store
        .patient_report(id, &actor)
        .await
        .expect("report")
        .expect("exists");
    let updates: Vec<_> = report
        .accesses
        .iter()
        .filter(|e| e.event.action == "patient.update" && e.event.details["via"] == "sync")
        .collect();
    assert_eq!(updates.len(), 3, "one audit event per offline edit");
    for ((event, phone), at) in updates.iter().zip(phones).zip(&device_times) {
        assert_eq!(event.event.details["changes"]["phone"]["new"], json!(phone));
        assert_eq!(event.event.details["client_time"], json!(at));
    }
    assert!(store.verify_audit().await.expect("verify").valid);
    assert_eq!(c.history(id).expect("local history"), history);
    hub.pause().await;
}

#[tokio::test]
async fn two_clients_merge_different_fields_and_resolve_the_same_field_both_ways() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let seeded = hub.patients(&clinic, "TW", 5).await;
    let id = seeded[0].id;
    let (a_home, b_home) = (
        tempfile::tempdir().expect("a"),
        tempfile::tempdir().expect("b"),
    );
    let mut a = mirrored(&hub, &clinic, Role::Doctor, a_home.path()).await;
    let mut b = mirrored(&hub, &clinic, Role::Nurse, b_home.path()).await;

    // Different fields: merged.
    a.edit(id, &changes(json!({"phone": "+1 555 1111"})))
        .expect("a edit");
    b.edit(id, &changes(json!({"address": "2 Merge Rd"})))
        .expect("b edit");
    a.sync(&mut no_progress()).await.expect("a sync");
    let report = b.sync(&mut no_progress()).await.expect("b sync");
    assert_eq!(report.merged, 1, "{report:?}");
    a.sync(&mut no_progress()).await.expect("a pull");
    let (pa, pb) = (
        a.show(id).expect("a").patient,
        b.show(id).expect("b").patient,
    );
    assert_eq!(pa, pb);
    assert_eq!(pa.fields.phone.as_deref(), Some("+1 555 1111"));
    assert_eq!(pa.fields.address.as_deref(), Some("2 Merge Rd"));

    // The same field, resolved once with "keep mine" and once with "take theirs".
    for (round, resolution) in [(1, Resolution::KeepMine), (2, Resolution::TakeTheirs)] {
        let theirs = format!("+1 555 200{round}");
        let mine = format!("+1 555 300{round}");
        a.edit(id, &changes(json!({"phone": theirs})))
            .expect("a edit");
        b.edit(id, &changes(json!({"phone": mine})))
            .expect("b edit");
        a.sync(&mut no_progress()).await.expect("a sync");
        let report = b.sync(&mut no_progress()).await.expect("b sync");
        assert_eq!(report.conflicts, 1, "round {round}: {report:?}");
        let conflicts = b.conflicts().expect("conflicts");
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].fields, ["phone"]);
        assert_eq!(
            conflicts[0]
                .theirs
                .as_ref()
                .and_then(|p| p.text("phone").map(str::to_owned)),
            Some(theirs.clone())
        );
        assert_eq!(
            conflicts[0]
                .mine
                .as_ref()
                .and_then(|p| p.text("phone").map(str::to_owned)),
            Some(mine.clone())
        );
        assert!(
            b.edit(id, &changes(json!({"phone": "1"}))).is_err(),
            "edits wait for the resolution"
        );
        b.resolve(id.into(), &resolution).expect("resolve");
        b.sync(&mut no_progress()).await.expect("b sync resolution");
        a.sync(&mut no_progress()).await.expect("a pull");
        assert!(b.conflicts().expect("none").is_empty());
        let expected = if resolution == Resolution::KeepMine {
            &mine
        } else {
            &theirs
        };
        let (pa, pb) = (
            a.show(id).expect("a").patient,
            b.show(id).expect("b").patient,
        );
        assert_eq!(pa, pb, "round {round}: both clients agree");
        assert_eq!(pa.fields.phone.as_ref(), Some(expected));
        let store = hub.store().tenant(clinic.id).await.expect("store");
        let on_hub = store
            .patient(id, &Actor::system(chrono::Utc::now()))
            .await
            .expect("r")
            .expect("e");
        assert_eq!(on_hub, pa, "round {round}: hub agrees");
    }
}

#[tokio::test]
async fn the_cache_is_ciphertext_passwords_and_grants_are_enforced_and_revocation_wipes() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let seeded = hub.patients(&clinic, "EN", 30).await;
    let known = seeded[3].fields.family_name.clone();
    let email = hub.user(&clinic, Role::Nurse).await;
    let home = tempfile::tempdir().expect("home");
    let clock = FakeClock::starting_now();
    let mut c = client(home.path(), Arc::new(clock.clone()));
    let profile = c
        .login(&hub.url(), None, &email, PASSWORD)
        .await
        .expect("login");
    c.sync(&mut no_progress()).await.expect("mirror");
    c.add(new_patient("EN-NEW", "Quenelda", "Zanzibarova"))
        .expect("add");
    c.search("zanzi", 5).expect("search");

    let db = home
        .path()
        .join("caches")
        .join(format!("{}.db", profile.id));
    let files: Vec<_> = ["", "-wal", "-shm"]
        .iter()
        .map(|s| std::path::PathBuf::from(format!("{}{s}", db.display())))
        .filter(|p| p.exists())
        .collect();
    assert!(files.len() >= 2, "db and wal exist: {files:?}");
    for file in &files {
        let bytes = std::fs::read(file).expect("read");
        for needle in [
            known.as_bytes(),
            b"Zanzibarova",
            b"Quenelda",
            b"SQLite format 3",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds plaintext",
                file.display()
            );
        }
    }
    let raw = rusqlite::Connection::open(&db).expect("open");
    assert!(
        raw.query_row("SELECT count(*) FROM sqlite_master", [], |r| r
            .get::<_, i64>(0))
            .is_err(),
        "unreadable without the key"
    );
    drop(raw);

    // A wrong password is refused offline without touching the cache.
    c.lock();
    let before = std::fs::metadata(&db)
        .expect("meta")
        .modified()
        .expect("mtime");
    assert!(matches!(
        c.unlock("not the password at all"),
        Err(ClientError::WrongPassword)
    ));
    assert_eq!(
        std::fs::metadata(&db)
            .expect("meta")
            .modified()
            .expect("mtime"),
        before
    );
    c.unlock(PASSWORD).expect("right password");

    // Idle lock drops the key; the grant bounds offline unlock (72 h).
    clock.advance(Duration::minutes(11));
    assert!(matches!(c.search("a", 1), Err(ClientError::Locked)));
    clock.advance(Duration::hours(71));
    c.unlock(PASSWORD).expect("within 72 h");
    clock.advance(Duration::hours(2));
    c.lock();
    assert!(matches!(
        c.unlock(PASSWORD),
        Err(ClientError::OfflineGrantExpired)
    ));

    // Revocation: the next contact wipes keyring entry and files.
    let mut fresh = client(home.path(), Arc::new(SystemClock));
    fresh
        .login(&hub.url(), None, &email, PASSWORD)
        .await
        .expect("login again");
    let user = hub
        .store()
        .central()
        .user_by_email(&email)
        .await
        .expect("q")
        .expect("user");
    let device = hub
        .store()
        .central()
        .devices_of(user.id)
        .await
        .expect("devices")[0]
        .id;
    let event = Actor::system(chrono::Utc::now())
        .event("device.revoke", outpost_domain::audit::Outcome::Success);
    hub.store()
        .central()
        .revoke_device(device, chrono::Utc::now(), event)
        .await
        .expect("revoke");
    fresh.lock();
    fresh
        .unlock(PASSWORD)
        .expect("offline unlock still works until contact");
    let outcome = fresh.sync(&mut no_progress()).await;
    assert!(
        matches!(outcome, Err(ClientError::DeviceRevoked)),
        "{outcome:?}"
    );
    for file in &files {
        assert!(!file.exists(), "{} survived the wipe", file.display());
    }
    assert!(matches!(
        keyring::Entry::new("outpost", &profile.id)
            .expect("entry")
            .get_password(),
        Err(keyring::Error::NoEntry)
    ));
    assert!(matches!(
        fresh.unlock(PASSWORD),
        Err(ClientError::NotSignedIn)
    ));
    assert!(matches!(
        client(home.path(), Arc::new(SystemClock))
            .login(&hub.url(), None, &email, PASSWORD)
            .await,
        Err(ClientError::DeviceRevoked)
    ));
}

#[tokio::test]
async fn a_front_desk_cache_never_holds_clinical_fields() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    hub.patients(&clinic, "FD", 40).await;
    let home = tempfile::tempdir().expect("home");
    let mut desk = mirrored(&hub, &clinic, Role::FrontDesk, home.path()).await;
    // A clinical change made on the hub arrives without its clinical part.
    let doctor_home = tempfile::tempdir().expect("home");
    let mut doctor = mirrored(&hub, &clinic, Role::Doctor, doctor_home.path()).await;
    let target = doctor.search("", 1).expect("one")[0].id;
    doctor
        .edit(
            target,
            &changes(json!({"stroke": true, "phone": "+1 555 4242"})),
        )
        .expect("edit");
    doctor.sync(&mut no_progress()).await.expect("push");
    desk.sync(&mut no_progress()).await.expect("pull");
    let all = desk.search("", 1000).expect("all");
    assert_eq!(all.len(), 40);
    for p in &all {
        let json = serde_json::to_value(&p.fields).expect("json");
        for field in outpost_domain::patient::clinical_fields() {
            assert!(
                json.get(field).is_none(),
                "{field} in the front desk's cache"
            );
        }
        for entry in desk.history(p.id).expect("history") {
            assert!(
                !outpost_domain::patient::touches_clinical(entry.changes.keys()),
                "clinical change in history"
            );
        }
    }
    assert_eq!(
        desk.show(target)
            .expect("show")
            .patient
            .fields
            .phone
            .as_deref(),
        Some("+1 555 4242")
    );
    assert!(matches!(
        desk.edit(target, &changes(json!({"bmi": 20.0}))),
        Err(ClientError::Forbidden(_))
    ));
}

#[tokio::test]
async fn a_client_follows_live_announcements() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    hub.patients(&clinic, "LV", 3).await;
    let home = tempfile::tempdir().expect("home");
    let mut c = mirrored(&hub, &clinic, Role::Nurse, home.path()).await;
    let doctor = hub.user(&clinic, Role::Doctor).await;
    let url = hub.url();
    let writer = async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let http = common::http_client();
        let login: Value = http
            .post(format!("{url}/v1/auth/login"))
            .json(&json!({"email": doctor, "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let status = http
            .post(format!("{url}/v1/patients"))
            .bearer_auth(login["access_token"].as_str().expect("token"))
            .json(&json!({"mrn": "LV-NEW", "given_name": "Live", "family_name": "Update", "birth_date": "1990-01-01"}))
            .send()
            .await
            .expect("create")
            .status();
        assert_eq!(status, reqwest::StatusCode::CREATED);
    };
    // The first announcement (the current cursor) comes at once, the second after the write.
    let mut progress = no_progress();
    let mut backoff = Backoff::default();
    let mut engine = c.sync_engine().expect("engine");
    let (synced, ()) = tokio::join!(engine.listen(Some(2), &mut backoff, &mut progress), writer);
    let synced = c.end_sync(engine, synced);
    assert_eq!(synced.expect("listen"), 2);
    assert_eq!(c.status().expect("status").patients, 4);
    let found = c.search("live upd", 5).expect("search");
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn the_client_reads_and_writes_while_its_sync_waits_on_a_slow_hub() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    hub.patients(&clinic, "SL", 3).await;
    let relay = common::Relay::start(hub.addr).await;
    let home = tempfile::tempdir().expect("home");
    let mut c = client(home.path(), Arc::new(SystemClock));
    let email = hub.user(&clinic, Role::Nurse).await;
    c.login(&relay.url(), None, &email, PASSWORD)
        .await
        .expect("login");
    c.sync(&mut no_progress()).await.expect("mirror");
    hub.patients(&clinic, "LATE", 2).await;

    // The next sync has nothing to push: its first request is the pull, whose answer is held.
    relay.hold();
    let mut engine = c.sync_engine().expect("engine");
    let sync = tokio::spawn(async move { engine.sync(&mut no_progress()).await });
    relay.holding().await;
    let found = c.search("sl", 10).expect("search while the pull waits");
    assert_eq!(found.len(), 3);
    let added = c
        .add(new_patient("SLOW-1", "Wanda", "Waiting"))
        .expect("add while the pull waits");
    assert_eq!(c.status().expect("status").pending_ops, 1);
    assert!(!sync.is_finished(), "the pull is still held");

    relay.release();
    let report = sync.await.expect("join").expect("sync");
    assert_eq!(report.pulled, 2);
    assert_eq!(c.search("late", 10).expect("search").len(), 2);
    let report = c.sync(&mut no_progress()).await.expect("push the addition");
    assert_eq!(report.applied, 1);
    let stored = hub
        .store()
        .tenant(clinic.id)
        .await
        .expect("tenant")
        .patient(added.id, &Actor::system(chrono::Utc::now()))
        .await
        .expect("read")
        .expect("on the hub");
    assert_eq!(stored.fields.mrn, "SLOW-1");
}

/// Short waits for tests: the hub comes back within a second.
fn quick_backoff() -> Backoff {
    Backoff::new(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_millis(400),
    )
}

/// A client over `home`, signed in as a new user with `role`, its first mirror done.
async fn mirrored(
    hub: &Hub,
    clinic: &outpost_domain::tenant::Tenant,
    role: Role,
    home: &std::path::Path,
) -> outpost_client::Client {
    let mut c = client(home, Arc::new(SystemClock));
    let email = hub.user(clinic, role).await;
    c.login(&hub.url(), None, &email, PASSWORD)
        .await
        .expect("login");
    c.sync(&mut no_progress()).await.expect("mirror");
    c
}

#[tokio::test]
async fn a_sync_retries_until_the_hub_is_back() {
    let mut hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let seeded = hub.patients(&clinic, "RT", 3).await;
    let home = tempfile::tempdir().expect("home");
    let mut c = mirrored(&hub, &clinic, Role::Nurse, home.path()).await;
    hub.pause().await;
    c.edit(seeded[0].id, &changes(json!({"phone": "+1 555 0100"})))
        .expect("edit offline");
    assert!(!c.hub_reachable().await.expect("probe"), "the hub is away");
    assert_eq!(c.status().expect("status").pending_ops, 1);

    let mut backoff = quick_backoff();
    let mut progress = no_progress();
    let comeback = async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        hub.resume().await;
    };
    let mut engine = c.sync_engine().expect("engine");
    let (report, ()) = tokio::join!(
        engine.sync_retrying(30, &mut backoff, &mut progress),
        comeback
    );
    let report = c.end_sync(engine, report);
    assert_eq!(report.expect("sync once the hub is back").applied, 1);
    assert!(c.hub_reachable().await.expect("probe"));
    assert_eq!(c.status().expect("status").pending_ops, 0);

    // Retries are bounded: with the hub away and none allowed, the error comes at once.
    hub.pause().await;
    let started = std::time::Instant::now();
    let mut engine = c.sync_engine().expect("engine");
    assert!(matches!(
        engine
            .sync_retrying(0, &mut quick_backoff(), &mut no_progress())
            .await,
        Err(ClientError::Offline(_))
    ));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn a_listener_reconnects_and_catches_up_after_the_hub_was_away() {
    let mut hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    hub.patients(&clinic, "RC", 3).await;
    let home = tempfile::tempdir().expect("home");
    let mut c = mirrored(&hub, &clinic, Role::Nurse, home.path()).await;

    let mut backoff = quick_backoff();
    let mut progress = no_progress();
    let outage = async {
        // Connected (one sync on the first announcement), then the hub goes away and a
        // patient is registered on the hub's side while no announcement can reach the client.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        hub.pause().await;
        hub.patients(&clinic, "RC-LATE", 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        hub.resume().await;
    };
    let mut engine = c.sync_engine().expect("engine");
    let (synced, ()) = tokio::join!(engine.listen(Some(2), &mut backoff, &mut progress), outage);
    let synced = c.end_sync(engine, synced);
    assert_eq!(synced.expect("listen"), 2, "one sync before, one after");
    assert_eq!(backoff.failures(), 0, "reset once connected again");
    assert_eq!(c.status().expect("status").patients, 4);
}

#[tokio::test]
async fn a_keyring_entry_from_an_older_build_unlocks_and_is_rewritten_with_its_parameters() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let nurse = hub.user(&clinic, Role::Nurse).await;
    let home = tempfile::tempdir().expect("home");
    let profile = {
        let mut c = client(home.path(), Arc::new(SystemClock));
        c.login(&hub.url(), None, &nurse, PASSWORD)
            .await
            .expect("login")
    };
    // The entry as builds before this format wrote it: no parameters named.
    let entry = keyring::Entry::new("outpost", &profile.id).expect("entry");
    let mut record: Value =
        serde_json::from_str(&entry.get_password().expect("read")).expect("json");
    assert_eq!(record["wrapped_key"]["kdf"]["algorithm"], "argon2id");
    record["wrapped_key"]
        .as_object_mut()
        .expect("wrapped key")
        .remove("kdf");
    entry.set_password(&record.to_string()).expect("write");

    let mut c = client(home.path(), Arc::new(SystemClock));
    c.unlock(PASSWORD).expect("an old entry still unlocks");
    let rewritten: Value =
        serde_json::from_str(&entry.get_password().expect("read")).expect("json");
    let kdf = &rewritten["wrapped_key"]["kdf"];
    assert_eq!(kdf["algorithm"], "argon2id");
    assert_eq!(kdf["m_cost"], 19456);
    assert_eq!(kdf["aead"], "xchacha20poly1305");
    assert_ne!(
        rewritten["wrapped_key"]["salt"], record["wrapped_key"]["salt"],
        "wrapped anew"
    );
    drop(c);
    client(home.path(), Arc::new(SystemClock))
        .unlock(PASSWORD)
        .expect("and unlocks again");
}
