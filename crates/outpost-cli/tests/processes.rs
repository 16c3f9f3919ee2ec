//! The `outpost` binary as people run it next to the desktop app: several processes writing
//! one cache at once, and a keyring that stops answering.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Hub, PASSWORD, client, no_progress, outpost, spawn_with_password};
use outpost_client::SystemClock;
use outpost_domain::{Role, TenantKind};

/// Runs `cmd --password-stdin` to its end, feeding it the password.
fn run_with_password(mut cmd: Command) -> Output {
    spawn_with_password(&mut cmd, true)
        .wait_with_output()
        .expect("outpost")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_processes_writing_one_cache_at_once_all_succeed() {
    const PROCESSES: usize = 6;
    const EACH: usize = 12;
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    hub.patients(&clinic, "PR", 200).await;
    let doctor = hub.user(&clinic, Role::Doctor).await;
    let home = tempfile::tempdir().expect("home");
    {
        let mut c = client(home.path(), Arc::new(SystemClock));
        c.login(&hub.url(), None, &doctor, PASSWORD)
            .await
            .expect("login");
        c.sync(&mut no_progress()).await.expect("mirror");
    }
    // Six writers side by side, each running one `outpost patient add` after another, so that
    // six processes hold the cache open and write to it at every moment.
    let writers: Vec<_> = (0..PROCESSES)
        .map(|w| {
            let home = home.path().to_path_buf();
            std::thread::spawn(move || {
                (0..EACH)
                    .map(|i| {
                        let mut cmd = outpost(&home);
                        cmd.args([
                            "--json",
                            "patient",
                            "add",
                            "--mrn",
                            &format!("PROC-{w}-{i}"),
                            "--given-name",
                            "Concurrent",
                            "--family-name",
                            &format!("Writer{w}"),
                            "--birth-date",
                            "1980-02-02",
                        ]);
                        run_with_password(cmd)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut failures = Vec::new();
    for writer in writers {
        for output in writer.join().expect("writer") {
            if !output.status.success() {
                failures.push(String::from_utf8_lossy(&output.stderr).into_owned());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} writes failed: {failures:?}",
        failures.len()
    );

    let mut c = client(home.path(), Arc::new(SystemClock));
    c.unlock(PASSWORD).expect("unlock");
    assert_eq!(
        c.status().expect("status").pending_ops as usize,
        PROCESSES * EACH
    );
    let found = c.search("Concurrent", 500).expect("search");
    assert_eq!(found.len(), PROCESSES * EACH);
    let report = c.sync(&mut no_progress()).await.expect("sync");
    assert_eq!(report.applied, PROCESSES * EACH, "{report:?}");
}

/// A Secret Service of the test's own on a private bus: a real gnome-keyring-daemon, which the
/// test then freezes (SIGSTOP), as a daemon stuck while restarting would be.
struct FrozenKeyring {
    bus: std::process::Child,
    daemon: std::process::Child,
    address: String,
    _data: tempfile::TempDir,
}

impl FrozenKeyring {
    fn start() -> Self {
        let data = tempfile::tempdir().expect("keyring data");
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon (package dbus)");
        let mut address = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(bus.stdout.as_mut().expect("stdout")),
            &mut address,
        )
        .expect("bus address");
        let address = address.trim().to_owned();
        let mut daemon = Command::new("gnome-keyring-daemon")
            .args(["--unlock", "--components=secrets", "--foreground"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_DATA_HOME", data.path())
            .env("XDG_RUNTIME_DIR", data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (package gnome-keyring)");
        daemon
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"test-keyring")
            .expect("unlock password");
        let keyring = Self {
            bus,
            daemon,
            address,
            _data: data,
        };
        // Wait until the daemon serves the Secret Service on the bus, then freeze it.
        let started = Instant::now();
        while !keyring.serving() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "gnome-keyring-daemon never took the Secret Service's name"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let stopped = Command::new("kill")
            .args(["-STOP", &keyring.daemon.id().to_string()])
            .status()
            .expect("kill");
        assert!(stopped.success());
        keyring
    }

    fn serving(&self) -> bool {
        Command::new("dbus-send")
            .args([
                &format!("--bus={}", self.address),
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
    }
}

impl Drop for FrozenKeyring {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

#[tokio::test]
async fn a_keyring_that_does_not_answer_gives_a_clear_error_within_seconds() {
    let hub = Hub::start().await;
    let clinic = hub.tenant("clinic", TenantKind::Clinic).await;
    let nurse = hub.user(&clinic, Role::Nurse).await;
    let keyring = FrozenKeyring::start();
    let home = tempfile::tempdir().expect("home");
    let mut cmd = outpost(home.path());
    cmd.args(["--json", "login", "--hub", &hub.url(), "--email", &nurse])
        .env("DBUS_SESSION_BUS_ADDRESS", &keyring.address)
        .env("OUTPOST_KEYRING_TIMEOUT_SECS", "2");
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || run_with_password(cmd))
        .await
        .expect("join");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let error: serde_json::Value = serde_json::from_str(stderr.trim()).expect("json error");
    assert_eq!(error["error"]["code"], "keyring_timeout", "{stderr}");
    let message = error["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("did not answer") && message.contains("Unlock it"),
        "{message}"
    );
    assert!(
        client(home.path(), Arc::new(SystemClock))
            .profile()
            .is_none(),
        "no sign-in is half set up"
    );
}
