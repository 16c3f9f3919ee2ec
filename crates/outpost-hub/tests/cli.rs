//! The `outpost-hub` binary as an operator uses it: init, tenants, users, demo, serve, SIGTERM.
//! On the embedded backend, or on PostgreSQL with `OUTPOST_TEST_BACKEND=postgres` (fresh
//! databases per test, dropped afterwards).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use outpost_store_postgres::testing as pg;

/// Where a test's hub keeps its data: a data directory, and a central database on PostgreSQL.
struct Place {
    data: PathBuf,
    database: Option<String>,
}

impl Place {
    fn new(data: &Path) -> Self {
        let database = match std::env::var("OUTPOST_TEST_BACKEND").as_deref() {
            Ok("postgres") => Some(pg::unique_name()),
            _ => None,
        };
        Self {
            data: data.to_path_buf(),
            database,
        }
    }

    /// The arguments that point a command at this place.
    fn args(&self) -> Vec<String> {
        let mut args = vec!["--data-dir".to_owned(), self.data.display().to_string()];
        if let Some(name) = &self.database {
            args.push("--database-url".to_owned());
            args.push(pg::url(name));
        }
        args
    }

    /// How many tenant databases exist.
    fn tenant_databases(&self) -> usize {
        match &self.database {
            None => std::fs::read_dir(self.data.join("tenants"))
                .expect("dir")
                .count(),
            Some(name) => runtime().block_on(pg::databases(&format!("{name}_"))).len(),
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some(name) = &self.database {
            runtime().block_on(pg::cleanup(name));
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

fn hub(place: &Place, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outpost-hub"))
        .args(args)
        .args(place.args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_operator_sets_up_a_hub_and_serves_it_until_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Place::new(&dir.path().join("hub"));
    let out = ok(&hub(
        &data,
        &[
            "init",
            "--admin-email",
            "Ops@Example.org",
            "--password-stdin",
        ],
        Some("operator password 1\n"),
    ));
    assert!(out.contains("Platform admin: ops@example.org"));
    assert!(!out.contains("operator password 1"));
    let mode = std::fs::metadata(data.data.join("master.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    if data.database.is_none() {
        let mode = std::fs::metadata(data.data.join("central.db"))
            .expect("db")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !hub(
            &data,
            &["init", "--admin-email", "x@example.org", "--password-stdin"],
            Some("operator password 2\n")
        )
        .status
        .success()
    );

    ok(&hub(
        &data,
        &[
            "tenant",
            "create",
            "--slug",
            "north",
            "--name",
            "North Clinic",
            "--kind",
            "clinic",
        ],
        None,
    ));
    assert!(
        !hub(
            &data,
            &[
                "tenant", "create", "--slug", "north", "--name", "Again", "--kind", "clinic"
            ],
            None
        )
        .status
        .success()
    );
    assert!(
        !hub(
            &data,
            &[
                "tenant",
                "create",
                "--slug",
                "x1",
                "--name",
                "Bad",
                "--kind",
                "spaceport"
            ],
            None
        )
        .status
        .success()
    );
    assert!(ok(&hub(&data, &["tenant", "list"], None)).contains("north"));
    ok(&hub(
        &data,
        &[
            "user",
            "add",
            "--tenant",
            "north",
            "--email",
            "desk@example.org",
            "--role",
            "front_desk",
            "--password-stdin",
        ],
        Some("front desk password\n"),
    ));
    assert!(
        !hub(
            &data,
            &[
                "user",
                "add",
                "--tenant",
                "north",
                "--email",
                "crew@example.org",
                "--role",
                "ems_crew",
                "--password-stdin"
            ],
            Some("ems crew password 1\n")
        )
        .status
        .success()
    );
    assert!(
        ok(&hub(&data, &["user", "list", "--tenant", "north"], None)).contains("desk@example.org")
    );

    // Served with JSON logs and metrics on an address of their own; the log of the run is
    // scanned for what must never be in it.
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = data.data.join("hub.toml");
    std::fs::write(
        &config,
        format!("log_format = \"json\"\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n"),
    )
    .expect("config");
    let log = data.data.join("hub.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_outpost-hub"))
        .args(["--config", config.to_str().expect("path")])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(data.args())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("serve");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (status, secrets, metrics) = runtime.block_on(async {
        let http = common::http_client();
        let login: serde_json::Value = http
            .post(format!("{url}/v1/auth/login"))
            .json(&serde_json::json!({"email": "desk@example.org", "password": "front desk password"}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = login["access_token"].as_str().expect("token").to_owned();
        let created = http
            .post(format!("{url}/v1/patients"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"mrn": "LOG-1", "given_name": "Augusta",
                "family_name": "Lovelace", "birth_date": "1980-12-10"}))
            .send()
            .await
            .expect("create")
            .status();
        assert_eq!(created, reqwest::StatusCode::CREATED);
        let status = http
            .get(format!("{url}/v1/patients?q=Lovelace"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("patients")
            .status();
        let metrics = http
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        let secrets = vec![
            token,
            login["refresh_token"].as_str().expect("refresh").to_owned(),
            "front desk password".to_owned(),
            "Lovelace".to_owned(),
            "Augusta".to_owned(),
        ];
        (status, secrets, metrics)
    });
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        metrics.contains("outpost_http_requests_total{")
            && metrics.contains("route=\"/v1/patients\""),
        "{metrics}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(
        server.wait().expect("wait").success(),
        "graceful exit on SIGTERM"
    );
    let log = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .collect();
    let access: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["target"] == "outpost_hub::access")
        .collect();
    assert!(
        access.iter().any(|l| l["fields"]["route"] == "/v1/patients"
            && l["fields"]["status"] == 200
            && l["span"]["request_id"].is_string()),
        "{log}"
    );
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "the log holds {secret}");
    }

    ok(&hub(
        &data,
        &["user", "disable", "--email", "desk@example.org"],
        None,
    ));
    let verify = ok(&hub(&data, &["audit", "verify"], None));
    assert!(
        verify.contains("central: ok") && verify.contains("north: ok"),
        "{verify}"
    );
    assert!(
        !hub(&data, &["tenant", "delete", "--slug", "north"], None)
            .status
            .success(),
        "needs --yes"
    );
    ok(&hub(
        &data,
        &["tenant", "delete", "--slug", "north", "--yes"],
        None,
    ));
    assert_eq!(data.tenant_databases(), 0);
    assert!(ok(&hub(&data, &["audit", "verify"], None)).contains("central: ok"));
}

#[test]
fn the_demo_prints_one_login_per_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Place::new(&dir.path().join("demo"));
    let out = ok(&hub(
        &data,
        &["demo", "--no-serve", "--patients", "40"],
        None,
    ));
    for role in [
        "platform_admin",
        "tenant_admin",
        "doctor",
        "nurse",
        "front_desk",
        "ems_dispatcher",
        "ems_crew",
        "transport_coordinator",
        "auditor",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(role)),
            "{role} missing:\n{out}"
        );
    }
    let tenants = ok(&hub(&data, &["tenant", "list"], None));
    for slug in [
        "northside-clinic",
        "st-mary-hospital",
        "metro-ems",
        "regional-transport",
    ] {
        assert!(tenants.contains(slug));
    }
    // The clinic's chain holds the 40 patients' creations and its schedule's changes, and
    // verifies.
    let verified = ok(&hub(&data, &["audit", "verify"], None));
    let events: u64 = verified
        .split("northside-clinic: ok (")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no verified clinic chain in:\n{verified}"));
    assert!(events > 40, "{verified}");
}

#[test]
fn config_default_prints_a_documented_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ok(&hub(&Place::new(dir.path()), &["config", "default"], None));
    assert!(out.contains("body_limit_bytes = 1048576"));
}
