//! The client reaches a hub served over HTTPS with a certificate that a hospital's own
//! authority signed: given the authority's file it signs in and syncs, and remembers the file
//! for that hub; without it the refusal is `tls_untrusted`, never "offline"; and plain
//! `http://` to another computer is refused before anything is sent.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Hub, PASSWORD, TestAuthority, client, no_progress, outpost, spawn_with_password};
use outpost_client::SystemClock;
use outpost_domain::{Role, TenantKind};

/// Runs `outpost --json ARGS --password-stdin`: whether it succeeded, and its JSON answer (or
/// error) from standard output (or error).
fn run(home: &std::path::Path, args: &[&str]) -> (bool, Value) {
    let out = spawn_with_password(outpost(home).arg("--json").args(args), true)
        .wait_with_output()
        .expect("outpost");
    let text = if out.status.success() {
        out.stdout
    } else {
        out.stderr
    };
    let json = serde_json::from_slice(&text)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&text).into_owned()));
    (out.status.success(), json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_over_https_is_reached_through_the_hospitals_authority_and_refused_without_it() {
    let pki = tempfile::tempdir().expect("pki");
    let authority = TestAuthority::new(pki.path());
    let hub = Hub::start_with_tls(authority.hub_files()).await;
    assert!(hub.url().starts_with("https://"));
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    hub.patients(&clinic, "TL", 20).await;
    let nurse = hub.user(&clinic, Role::Nurse).await;
    let home = tempfile::tempdir().expect("home");
    let url = hub.url();
    let ca = authority.ca_file.display().to_string();

    // Without the authority's file: the certificate is not trusted, and it says so.
    let (ok, answer) = run(home.path(), &["login", "--hub", &url, "--email", &nurse]);
    assert!(!ok);
    assert_eq!(answer["error"]["code"], "tls_untrusted", "{answer}");
    let message = answer["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("not trusted") && message.contains("--ca-file"),
        "{message}"
    );

    // With it: sign in and sync; the file is remembered, so later commands need no option.
    let (ok, answer) = run(
        home.path(),
        &["login", "--hub", &url, "--email", &nurse, "--ca-file", &ca],
    );
    assert!(ok, "{answer}");
    let (ok, report) = run(home.path(), &["sync"]);
    assert!(ok, "{report}");
    assert_eq!(report["mirrored_rows"], 40, "20 patients and 20 versions");
    let (ok, status) = run(home.path(), &["status"]);
    assert!(ok, "{status}");
    assert_eq!(status["online"], true);
    assert_eq!(
        status["profile"]["ca_file"],
        ca.as_str(),
        "remembered with the sign-in"
    );
    let mut c = client(home.path(), Arc::new(SystemClock));
    c.login(&url, None, &nurse, PASSWORD)
        .await
        .expect("signing in again uses the hub's remembered authority");
    c.sync(&mut no_progress()).await.expect("sync");

    // Plain http:// to another computer: refused at once, nothing sent.
    let started = Instant::now();
    let (ok, answer) = run(
        home.path(),
        &[
            "login",
            "--hub",
            "http://10.255.255.1:8080",
            "--email",
            &nurse,
        ],
    );
    assert!(!ok);
    assert_eq!(answer["error"]["code"], "insecure_hub_url", "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    hub_stop(hub).await;
}

async fn hub_stop(mut hub: Hub) {
    hub.pause().await;
}
