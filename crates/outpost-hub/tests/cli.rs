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

/// A file in the public stroke data set's layout: 5,110 rows like the set's (201 `N/A` BMIs,
/// 249 strokes, every category present), then five malformed rows at known lines.
fn stroke_csv(path: &Path) -> Vec<(u64, &'static str)> {
    use std::fmt::Write as _;
    let mut text = String::from(
        "id,gender,age,hypertension,heart_disease,ever_married,work_type,Residence_type,avg_glucose_level,bmi,smoking_status,stroke\n",
    );
    let works = [
        "Private",
        "Self-employed",
        "Govt_job",
        "children",
        "Never_worked",
    ];
    let smoking = ["never smoked", "formerly smoked", "smokes", "Unknown"];
    for n in 0..5110u32 {
        let id = 9000 + n * 7;
        let age = if n % 97 == 0 {
            0.08 + f64::from(n % 5) * 0.16
        } else {
            f64::from(1 + n % 82)
        };
        let bmi = if n % 25 == 3 && n < 25 * 201 {
            "N/A".to_owned()
        } else {
            format!("{:.1}", 18.0 + f64::from(n % 250) / 10.0)
        };
        let _ = writeln!(
            text,
            "{id},{},{age},{},{},{},{},{},{:.2},{bmi},{},{}",
            ["Male", "Female", "Other"][if n == 17 { 2 } else { (n % 2) as usize }],
            u32::from(n % 10 == 0),
            u32::from(n % 18 == 0),
            if n % 3 == 0 { "No" } else { "Yes" },
            works[(n % 5) as usize],
            if n % 2 == 0 { "Urban" } else { "Rural" },
            55.0 + f64::from(n % 220),
            smoking[(n % 4) as usize],
            u32::from(n < 249),
        );
    }
    // Lines 5112.. (the header is line 1): the reasons the report must give.
    text.push_str("99001,Male,fifty,0,0,Yes,Private,Urban,100.00,25.0,smokes,0\n");
    text.push_str("99002,Female,40,0,0,Yes,Astronaut,Urban,100.00,25.0,smokes,0\n");
    text.push_str("99003,Female,40,0,0,Yes,Private,Urban,100.00\n");
    text.push_str("99004,Female,40,2,0,Yes,Private,Urban,100.00,25.0,smokes,0\n");
    text.push_str("99005,Female,40,0,0,Yes,Private,Urban,100.00,400.0,smokes,0\n");
    std::fs::write(path, text).expect("csv");
    vec![
        (5112, "age"),
        (5113, "work_type"),
        (5114, ""),
        (5115, "hypertension"),
        (5116, "bmi"),
    ]
}

#[test]
fn the_stroke_data_set_imports_row_by_row_with_a_report_and_a_second_run_skips_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Place::new(&dir.path().join("hub"));
    ok(&hub(
        &data,
        &[
            "init",
            "--admin-email",
            "ops@example.org",
            "--password-stdin",
        ],
        Some("operator password 1\n"),
    ));
    ok(&hub(
        &data,
        &[
            "tenant", "create", "--slug", "clinic", "--name", "Clinic", "--kind", "clinic",
        ],
        None,
    ));
    let file = dir.path().join("healthcare-dataset-stroke-data.csv");
    let malformed = stroke_csv(&file);
    let file = file.display().to_string();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "--tenant",
            "clinic",
            "--kind",
            "patient",
            "--format",
            "stroke-dataset",
            "--json",
            &file,
        ];
        args.extend_from_slice(extra);
        serde_json::from_str::<serde_json::Value>(&ok(&hub(&data, &args, None))).expect("report")
    };

    // A dry run checks every row and writes nothing.
    let dry = import(&["--dry-run"]);
    assert_eq!(
        (
            dry["rows"].as_u64(),
            dry["imported"].as_u64(),
            dry["skipped"].as_u64()
        ),
        (Some(5115), Some(5110), Some(0))
    );
    let again = import(&["--dry-run"]);
    assert_eq!(again["imported"], 5110, "the dry run wrote nothing");

    let report = import(&[]);
    assert_eq!(
        (report["imported"].as_u64(), report["skipped"].as_u64()),
        (Some(5110), Some(0)),
        "{report}"
    );
    let rejected: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().expect("line"),
                r["column"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(u64, String)> = malformed
        .iter()
        .map(|(l, c)| (*l, (*c).to_owned()))
        .collect();
    assert_eq!(rejected, expected, "{report}");
    assert!(
        report["rejected"]
            .as_array()
            .expect("rejected")
            .iter()
            .all(|r| !r["reason"].as_str().unwrap_or("").contains("fifty")),
        "reasons never echo values"
    );

    // The records: 5,110 patients, pseudonyms and estimated birth dates marked as such.
    runtime().block_on(async {
        let mut config = outpost_hub::HubConfig {
            data_dir: data.data.clone(),
            ..outpost_hub::HubConfig::default()
        };
        config.database_url = data
            .database
            .as_ref()
            .map(|name| outpost_hub::config::DatabaseUrl(pg::url(name)));
        let store = outpost_hub::backend::open(&config, outpost_hub::backend::Mode::Existing)
            .await
            .expect("store");
        let tenant = store
            .central()
            .tenant_by_slug("clinic")
            .await
            .expect("central")
            .expect("clinic");
        let db = store.tenant(tenant.id).await.expect("tenant");
        let actor = outpost_domain::audit::Actor::system(chrono::Utc::now());
        let mut count = 0;
        let mut query = outpost_store::RecordQuery {
            limit: 500,
            ..Default::default()
        };
        loop {
            let page = db
                .list_records(outpost_domain::Entity::Patient, &query, &actor)
                .await
                .expect("page");
            count += page.items.len();
            match page.next_cursor {
                Some(cursor) => query.after = Some(serde_json::from_str(&cursor).expect("cursor")),
                None => break,
            }
        }
        assert_eq!(count, 5110);
        let found = db
            .search_patients(
                &outpost_store::PatientQuery {
                    q: Some("STROKE-9021".into()),
                    limit: 5,
                    after: None,
                },
                &actor,
            )
            .await
            .expect("search");
        let patient = &found.items[0].fields;
        assert_eq!(patient.mrn, "STROKE-9021");
        assert_eq!(
            (patient.name_is_pseudonym, patient.birth_date_estimated),
            (Some(true), Some(true))
        );
        assert_eq!(patient.bmi, None, "N/A stays absent");
        assert_eq!(patient.stroke, Some(true));
        assert_eq!(
            patient.smoking_status,
            Some(outpost_domain::patient::SmokingStatus::Unknown)
        );
    });

    // A second run finds every row already imported and writes nothing.
    let rerun = import(&[]);
    assert_eq!(
        (rerun["imported"].as_u64(), rerun["skipped"].as_u64()),
        (Some(0), Some(5110)),
        "{rerun}"
    );
    assert!(ok(&hub(&data, &["audit", "verify"], None)).contains("clinic: ok"));
}

/// An agency's units and its shift rota load from CSV like any kind: a shift overlapping
/// another of its unit and one ending before it starts are rejected by line (the reason,
/// never the values), a shift naming no unit too, and a second run skips what loaded.
#[test]
fn an_agencys_units_and_shift_rota_import_with_overlaps_rejected_by_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = Place::new(&dir.path().join("hub"));
    ok(&hub(
        &data,
        &[
            "init",
            "--admin-email",
            "ops@example.org",
            "--password-stdin",
        ],
        Some("operator password 1\n"),
    ));
    ok(&hub(
        &data,
        &[
            "tenant",
            "create",
            "--slug",
            "medics",
            "--name",
            "Medics",
            "--kind",
            "ems_agency",
        ],
        None,
    ));
    let (medic1, medic2) = (
        "01a24e2e-ee16-774f-82c3-3c592d0affe3",
        "01a24e2e-ee16-774f-82c3-3c553fbd257d",
    );
    let units = dir.path().join("units.csv");
    std::fs::write(
        &units,
        format!("id,call_sign,level\n{medic1},Medic 1,ALS\n{medic2},Medic 2,BLS\n"),
    )
    .expect("units");
    let rota = dir.path().join("rota.csv");
    std::fs::write(
        &rota,
        format!(
            "unit_id,start,end,notes\n\
             {medic1},2026-12-20T07:00:00Z,2026-12-20T19:00:00Z,day\n\
             {medic1},2026-12-20T19:00:00Z,2026-12-21T07:00:00Z,night\n\
             {medic1},2026-12-20T18:00:00Z,2026-12-20T22:00:00Z,overlap\n\
             {medic2},2026-12-20T07:00:00Z,2026-12-19T19:00:00Z,backwards\n\
             01a24e2e-0000-7000-8000-000000000000,2026-12-20T07:00:00Z,2026-12-20T19:00:00Z,\n\
             {medic2},2026-12-20T07:00:00Z,2026-12-20T19:00:00Z,\n"
        ),
    )
    .expect("rota");
    let import = |kind: &str, file: &Path| {
        let file = file.display().to_string();
        let args = [
            "import", "--tenant", "medics", "--kind", kind, "--json", &file,
        ];
        serde_json::from_str::<serde_json::Value>(&ok(&hub(&data, &args, None))).expect("report")
    };
    assert_eq!(import("unit", &units)["imported"], 2);
    let report = import("unit_shift", &rota);
    assert_eq!(
        (report["imported"].as_u64(), report["skipped"].as_u64()),
        (Some(3), Some(0)),
        "{report}"
    );
    let rejected: Vec<(u64, &str, &str)> = report["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().expect("line"),
                r["column"].as_str().unwrap_or(""),
                r["reason"].as_str().expect("reason"),
            )
        })
        .collect();
    assert_eq!(
        rejected.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(4, ""), (5, "end"), (6, "")],
        "{report}"
    );
    assert!(rejected[0].2.contains("slot_taken"), "{report}");
    assert!(rejected[2].2.contains("names no unit"), "{report}");
    assert!(
        rejected.iter().all(|r| !r.2.contains("2026-12")),
        "reasons never echo values"
    );
    let again = import("unit_shift", &rota);
    assert_eq!(
        (again["imported"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(3)),
        "{again}"
    );
}
