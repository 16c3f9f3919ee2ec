//! The `outpost` binary pushing a large outbox is killed (SIGKILL) at random points, over and
//! over, and restarted: in the end nothing is lost and nothing is applied twice.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;

use rand::Rng;
use serde_json::json;

use common::{Hub, PASSWORD, client, no_progress, outpost, spawn_with_password};
use outpost_client::SystemClock;
use outpost_domain::audit::Actor;
use outpost_domain::patient::{Patient, PatientFields};
use outpost_domain::{Role, TenantKind};
use outpost_store::{PatientQuery, Store};

const SEEDED: usize = 800;
const CREATED: usize = 1500;
const KILLS: usize = 24;

/// Queues one round of work: `CREATED` new patients and an edit of every seeded one (its phone
/// becomes the round's number).
fn fill_outbox(c: &mut outpost_client::Client, seeded: &[Patient], round: usize) {
    for i in 0..CREATED {
        let fields: PatientFields = serde_json::from_value(json!({
            "mrn": format!("NEW-{round}-{i:05}"), "given_name": "Crash",
            "family_name": format!("Test{i}"), "birth_date": "1970-01-01"
        }))
        .expect("fields");
        c.add(fields).expect("add");
    }
    for p in seeded {
        let changes = json!({ "phone": phone(round) });
        c.edit(p.id, changes.as_object().expect("map"))
            .expect("edit");
    }
}

fn phone(round: usize) -> String {
    format!("+1 555 {round:04}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_sync_at_random_points_loses_nothing_and_doubles_nothing() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let seeded = hub.patients(&clinic, "CR", SEEDED).await;
    let email = hub.user(&clinic, Role::Doctor).await;
    let home = tempfile::tempdir().expect("home");
    let mut rounds = 1;
    {
        let mut c = client(home.path(), Arc::new(SystemClock));
        c.login(&hub.url(), None, &email, PASSWORD)
            .await
            .expect("login");
        c.sync(&mut no_progress()).await.expect("mirror");
        fill_outbox(&mut c, &seeded, rounds);
        assert_eq!(
            c.status().expect("status").pending_ops as usize,
            CREATED + SEEDED
        );
    }

    // A sync that ends before its kill has emptied the outbox, and how soon it ended depends
    // on the machine: the next kills come no later than that, and a new round of work is
    // queued, so that every kill finds a push to interrupt.
    let mut rng = rand::thread_rng();
    let mut killed_mid_run = 0;
    let mut window = 400;
    for _ in 0..KILLS {
        let mut child = spawn_with_password(outpost(home.path()).arg("sync"), false);
        let delay = rng.gen_range(20..window);
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        if child.try_wait().expect("try_wait").is_none() {
            killed_mid_run += 1;
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        } else {
            window = delay.max(40);
            rounds += 1;
            let mut c = client(home.path(), Arc::new(SystemClock));
            c.unlock(PASSWORD).expect("unlock");
            fill_outbox(&mut c, &seeded, rounds);
        }
    }
    eprintln!(
        "{killed_mid_run} of {KILLS} kills landed while the sync was running, {rounds} rounds of work"
    );
    assert!(
        killed_mid_run >= KILLS / 2,
        "kills must land mid-run ({killed_mid_run} of {KILLS})"
    );

    // Finish without interruption.
    for _ in 0..3 {
        let out = spawn_with_password(outpost(home.path()).args(["--json", "sync"]), true)
            .wait_with_output()
            .expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut c = client(home.path(), Arc::new(SystemClock));
    c.unlock(PASSWORD).expect("unlock");
    let status = c.status().expect("status");
    assert_eq!(status.pending_ops, 0, "nothing left behind");
    assert_eq!(status.conflicts, 0, "no op conflicted with itself");

    let store = hub.store().tenant(clinic.id).await.expect("store");
    let actor = Actor::system(chrono::Utc::now());
    let all = store
        .search_patients(
            &PatientQuery {
                q: None,
                limit: 1_000_000,
                after: None,
            },
            &actor,
        )
        .await
        .expect("all");
    assert_eq!(
        all.items.len(),
        SEEDED + CREATED * rounds,
        "every create landed exactly once"
    );
    let mut mrns: Vec<_> = all.items.iter().map(|p| p.fields.mrn.clone()).collect();
    mrns.sort();
    mrns.dedup();
    assert_eq!(mrns.len(), SEEDED + CREATED * rounds);
    for p in &all.items {
        let history = store
            .patient_history(p.id, &actor)
            .await
            .expect("h")
            .expect("h");
        let expected = if p.fields.mrn.starts_with("NEW-") {
            1
        } else {
            1 + rounds
        };
        assert_eq!(
            history.len(),
            expected,
            "{} has {} versions",
            p.fields.mrn,
            history.len()
        );
        assert_eq!(p.version, expected as i64);
        if !p.fields.mrn.starts_with("NEW-") {
            assert_eq!(p.fields.phone, Some(phone(rounds)));
        }
    }
    assert!(store.verify_audit().await.expect("verify").valid);
}

// Multi-threaded: the child's blocking wait must not stall the in-process hub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_the_client_fails_closed() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let email = hub.user(&clinic, Role::Nurse).await;
    let home = tempfile::tempdir().expect("home");
    let mut child = outpost(home.path())
        .args([
            "--json",
            "login",
            "--hub",
            &hub.url(),
            "--email",
            &email,
            "--password-stdin",
        ])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("pw");
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error: serde_json::Value =
        serde_json::from_str(stderr.lines().last().unwrap_or_default()).expect("json error");
    assert_eq!(error["error"]["code"], "no_keyring", "{stderr}");
    let written = walk(home.path());
    assert!(
        written
            .iter()
            .all(|p| p.file_name().is_some_and(|n| n == "device-id")),
        "only the (non-secret) device id may be written: {written:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}
