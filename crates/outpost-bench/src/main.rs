//! `outpost-bench`: in one run, (a) the raw SQLCipher insert rate of the cache's patient row
//! shape on this machine — the ceiling (and, with appointments, of the cache's record row
//! shape); (b) the first mirror of a generated tenant from an embedded hub (its own process,
//! SQLCipher backend) over loopback HTTP into a fresh client cache, against (a); (c) pushing
//! offline edits; (d) local search latency; (e) with `--appointments`, the local day view of
//! every practitioner. Prints a table. Needs an OS keyring (run it with `scripts/bench.sh`,
//! which provides one).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use outpost_client::{Client, ClientOptions, Home, SystemClock};
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::Patient;
use outpost_domain::sync::{Entity, Op, OpAction, OpRules, SCHEMA_VERSION};
use outpost_domain::tenant::NewTenant;
use outpost_domain::{OpId, PatientId, Permission, RecordId, Role, TenantKind};
use outpost_hub::accounts::{ExistingEmail, NewAccount, add_member};
use outpost_hub::{HubConfig, HubState};
use outpost_store::Store;
use outpost_store_sqlite::SqliteStore;

#[derive(Parser)]
#[command(about = "Outpost benchmarks: mirror, push and search against the SQLCipher ceiling")]
struct Args {
    /// Patients in the generated tenant.
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
    /// Versions per patient (1 = created only); rows mirrored = patients × (1 + versions).
    #[arg(long, default_value_t = 4)]
    versions: usize,
    /// Offline edits pushed in (c).
    #[arg(long, default_value_t = 10_000)]
    edits: usize,
    /// Searches timed in (d).
    #[arg(long, default_value_t = 2_000)]
    searches: usize,
    /// Appointments in the generated tenant (0: patients only, comparable with earlier runs).
    #[arg(long, default_value_t = 0)]
    appointments: usize,
    /// Practitioners the appointments are spread over.
    #[arg(long, default_value_t = 50)]
    practitioners: usize,
    /// Day views timed in (e).
    #[arg(long, default_value_t = 500)]
    day_views: usize,
    /// Internal: run as the hub process with its data in this directory.
    #[arg(long, hide = true)]
    serve_hub: Option<PathBuf>,
}

const EMAIL: &str = "bench@bench.example";
/// The generator's seed, shared by the hub process (which stores the patients) and the
/// benchmark (which searches their names).
const SEED: u64 = 42;

const PASSWORD: &str = "benchmark password 1";

/// (a): rows of the cache's patient shape into a fresh SQLCipher file, one transaction,
/// prepared statement, WAL.
fn raw_insert_rate(
    dir: &Path,
    rows: &[(String, String, String, String, String, String)],
) -> Result<f64> {
    let conn = rusqlite::Connection::open(dir.join("raw.db"))?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", "ab".repeat(32)))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE patients (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, data TEXT NOT NULL,
           version INTEGER NOT NULL, hub_version INTEGER, deleted INTEGER NOT NULL DEFAULT 0,
           conflict INTEGER NOT NULL DEFAULT 0, hub_data TEXT, given_name TEXT NOT NULL,
           family_name TEXT NOT NULL, mrn TEXT NOT NULL, phone TEXT, sort_key TEXT NOT NULL);",
    )?;
    let started = Instant::now();
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO patients (id, data, version, hub_version, given_name, family_name, mrn, phone, sort_key) \
             VALUES (?1, ?2, 1, 1, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for (id, data, given, family, mrn, phone) in rows {
            stmt.execute(rusqlite::params![
                id,
                data,
                given,
                family,
                mrn,
                phone,
                format!("{family}{given}{id}")
            ])?;
        }
    }
    tx.commit()?;
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// The hub's side, in its own process as in production: SQLCipher's memory security is a
/// process-wide switch that can only be turned on, so a hub sharing the client's process
/// would pay for the client's setting.
async fn serve_hub(data: PathBuf, args: &Args) -> Result<()> {
    let today = chrono::Utc::now().date_naive();
    eprintln!("generating {} patients …", args.patients);
    let fields = outpost_hub::demo::patients(SEED, "BN", args.patients, today);
    let store = Arc::new(SqliteStore::create(&data, &data.join("master.key"))?);
    let actor = Actor::system(chrono::Utc::now());
    let tenant = store
        .provision_tenant(
            &NewTenant {
                slug: "bench".into(),
                name: "Bench".into(),
                kind: TenantKind::Clinic,
            },
            actor.event("tenant.create", Outcome::Success),
        )
        .await?;
    let tenant_store = store.tenant(tenant.id).await?;
    let mut tenant_actor = actor.clone();
    tenant_actor.tenant_id = Some(tenant.id);
    let mut created = Vec::with_capacity(args.patients);
    for chunk in fields.chunks(10_000) {
        created.extend(
            tenant_store
                .create_patients(chunk.to_vec(), &tenant_actor)
                .await?,
        );
    }
    eprintln!(
        "adding {} more versions per patient …",
        args.versions.saturating_sub(1)
    );
    let rules = OpRules {
        permissions: [
            Permission::PatientRead,
            Permission::PatientReadClinical,
            Permission::PatientWrite,
        ]
        .into(),
        user: None,
        today,
    };
    for version in 1..args.versions {
        let ops: Vec<Op> = created
            .iter()
            .map(|p| Op {
                op_id: OpId::generate(),
                entity: Entity::Patient,
                record_id: p.id.into(),
                action: OpAction::Update,
                base_version: Some(version as i64),
                fields: json!({"phone": format!("+1 555 {version:03} {:04}", p.fields.mrn.len())})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                client_time: chrono::Utc::now(),
                schema_version: SCHEMA_VERSION,
            })
            .collect();
        for chunk in ops.chunks(5_000) {
            tenant_store
                .apply_ops(chunk.to_vec(), rules.clone(), &tenant_actor)
                .await?;
        }
    }
    if args.appointments > 0 {
        eprintln!(
            "booking {} appointments with {} practitioners …",
            args.appointments, args.practitioners
        );
        let patients: Vec<PatientId> = created.iter().map(|p| p.id).collect();
        let (practitioners, appointments) =
            schedule(args.practitioners, args.appointments, &patients);
        tenant_store
            .create_records(Entity::Practitioner, practitioners, &tenant_actor)
            .await?;
        for chunk in appointments.chunks(10_000) {
            tenant_store
                .create_records(Entity::Appointment, chunk.to_vec(), &tenant_actor)
                .await?;
        }
    }
    add_member(
        store.as_ref(),
        &outpost_hub::passwords::PasswordWork::start(1, 1),
        Some(&tenant),
        NewAccount {
            email: EMAIL.into(),
            full_name: "Bench".into(),
            role: Role::Doctor,
            password: PASSWORD.into(),
        },
        ExistingEmail::Refuse,
        &actor,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let state = HubState::load(
        store.clone(),
        HubConfig {
            data_dir: data.clone(),
            ..HubConfig::default()
        },
        Arc::new(SystemClock),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("ready http://{}", listener.local_addr()?);
    // Serves until the parent closes our standard input (or exits).
    let parent_gone = async {
        let _ = tokio::task::spawn_blocking(|| {
            std::io::copy(&mut std::io::stdin(), &mut std::io::sink())
        })
        .await;
    };
    outpost_hub::serve(listener, state, parent_gone).await?;
    Ok(())
}

/// The first day of the generated schedule.
fn first_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2027, 1, 4).unwrap_or_default()
}

/// Half-hour slots a practitioner works a day (every day, around the clock in UTC, so that
/// every generated slot is bookable).
const SLOTS_PER_DAY: usize = 48;

/// `count` practitioners, and `appointments` bookings spread over them day after day: the
/// records as the hub creates them.
#[allow(clippy::type_complexity, reason = "two lists of (id, fields)")]
fn schedule(
    count: usize,
    appointments: usize,
    patients: &[PatientId],
) -> (
    Vec<(RecordId, Map<String, Value>)>,
    Vec<(RecordId, Map<String, Value>)>,
) {
    let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| json!({"day": day, "start": "00:00", "end": "24:00"}))
        .collect();
    let practitioners: Vec<(RecordId, Map<String, Value>)> = (0..count)
        .map(|n| {
            let fields = json!({"name": format!("Dr Bench {n:03}"), "time_zone": "UTC", "working_hours": hours});
            (RecordId::generate(), fields.as_object().cloned().unwrap_or_default())
        })
        .collect();
    let start = first_day()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let bookings = (0..appointments)
        .map(|n| {
            let practitioner = &practitioners[n % count].0;
            let slot = n / count;
            let at = start + chrono::Duration::minutes(30 * slot as i64);
            let fields = json!({
                "patient_id": patients[n % patients.len()],
                "practitioner_id": practitioner,
                "start": at,
                "end": at + chrono::Duration::minutes(30),
                "reason": "check-up",
            });
            (
                RecordId::generate(),
                fields.as_object().cloned().unwrap_or_default(),
            )
        })
        .collect();
    (practitioners, bookings)
}

/// (a) for the cache's record row shape: appointments as the cache keeps them.
fn raw_record_rate(dir: &Path, rows: &[(String, String, String, String)]) -> Result<f64> {
    let conn = rusqlite::Connection::open(dir.join("raw-records.db"))?;
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", "cd".repeat(32)))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE records (entity TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
           version INTEGER NOT NULL, hub_version INTEGER, deleted INTEGER NOT NULL DEFAULT 0,
           conflict INTEGER NOT NULL DEFAULT 0, hub_data TEXT, group_key TEXT,
           sort_key TEXT NOT NULL, PRIMARY KEY (entity, id)) WITHOUT ROWID;
         CREATE INDEX records_order ON records (entity, sort_key);
         CREATE INDEX records_group ON records (entity, group_key, sort_key);",
    )?;
    let started = Instant::now();
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO records (entity, id, data, version, hub_version, group_key, sort_key) \
             VALUES ('appointment', ?1, ?2, 1, 1, ?3, ?4)",
        )?;
        for (id, data, group, sort) in rows {
            stmt.execute(rusqlite::params![id, data, group, sort])?;
        }
    }
    tx.commit()?;
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64())
}

/// Starts the hub process and waits for its address.
fn start_hub(dir: &Path, args: &Args) -> Result<(std::process::Child, String)> {
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--serve-hub")
        .arg(dir)
        .args(["--patients", &args.patients.to_string()])
        .args(["--versions", &args.versions.to_string()])
        .args(["--appointments", &args.appointments.to_string()])
        .args(["--practitioners", &args.practitioners.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("hub stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("ready ")
        .with_context(|| format!("the hub process did not start: {line:?}"))?
        .to_string();
    Ok((child, url))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(data) = args.serve_hub.clone() {
        return serve_hub(data, &args).await;
    }
    let dir = tempfile::tempdir()?;
    let (mut hub, url) = start_hub(&dir.path().join("hub"), &args)?;
    let today = chrono::Utc::now().date_naive();
    let fields = outpost_hub::demo::patients(SEED, "BN", args.patients, today);

    // --- (a) the ceiling ---
    eprintln!("(a) raw SQLCipher inserts …");
    let now = chrono::Utc::now();
    let rows: Vec<_> = fields
        .iter()
        .map(|f| {
            let p = Patient {
                id: PatientId::generate(),
                fields: f.clone(),
                version: 1,
                created_at: now,
                updated_at: now,
                updated_by: None,
            };
            (
                p.id.to_string(),
                serde_json::to_string(&p).unwrap_or_default(),
                f.given_name.clone(),
                f.family_name.clone(),
                f.mrn.clone(),
                f.phone.clone().unwrap_or_default(),
            )
        })
        .collect();
    let ceiling = raw_insert_rate(dir.path(), &rows)?;
    let record_ceiling = if args.appointments > 0 {
        let ids: Vec<PatientId> = (0..args.patients).map(|_| PatientId::generate()).collect();
        let (_, bookings) = schedule(args.practitioners, args.appointments, &ids);
        let record_rows: Vec<_> = bookings
            .iter()
            .map(|(id, fields)| {
                let record = json!({"id": id, "version": 1, "created_at": now, "updated_at": now, "updated_by": null});
                let mut data = fields.clone();
                data.extend(record.as_object().cloned().unwrap_or_default());
                (
                    id.to_string(),
                    Value::Object(data).to_string(),
                    fields["practitioner_id"].as_str().unwrap_or_default().to_owned(),
                    format!("{}\u{1f}{id}", fields["start"].as_str().unwrap_or_default()),
                )
            })
            .collect();
        Some(raw_record_rate(dir.path(), &record_rows)?)
    } else {
        None
    };

    // --- (b) first mirror ---
    let home = dir.path().join("client");
    let mut client = Client::new(ClientOptions {
        home: Home::new(&home),
        idle_timeout: chrono::Duration::hours(1),
        clock: Arc::new(SystemClock),
        device_name: Some("bench".into()),
    })?;
    client
        .login(&url, None, EMAIL, PASSWORD)
        .await
        .context("login (is a keyring available?)")?;
    eprintln!("(b) first mirror …");
    let started = Instant::now();
    let report = client.sync(&mut |_| {}).await?;
    let mirror_secs = started.elapsed().as_secs_f64();
    let mirrored = report.mirrored_rows as f64;
    let mirror_rate = mirrored / mirror_secs;

    // --- (c) pushing offline edits ---
    let edited = client.search("", args.edits.min(args.patients) as u32)?;
    for p in &edited {
        let mut change = Map::new();
        change.insert(
            "address".into(),
            Value::String(format!("{} Bench Rd", p.fields.mrn)),
        );
        client.edit(p.id, &change)?;
    }
    eprintln!("(c) pushing {} offline edits …", edited.len());
    let started = Instant::now();
    let pushed = client.sync(&mut |_| {}).await?;
    let push_secs = started.elapsed().as_secs_f64();
    let push_rate = pushed.pushed as f64 / pushed.push_seconds;

    // --- (d) local search ---
    eprintln!("(d) {} local searches …", args.searches);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut latencies = Vec::with_capacity(args.searches);
    for _ in 0..args.searches {
        let p = &fields[rng.gen_range(0..fields.len())];
        let name = if rng.r#gen() {
            &p.family_name
        } else {
            &p.given_name
        };
        let len = rng.gen_range(1..=name.chars().count().min(4));
        let prefix: String = name.chars().take(len).collect();
        let started = Instant::now();
        client.search(&prefix, 50)?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.50), percentile(&latencies, 0.99));

    // --- (e) the day view of every practitioner ---
    let mut day_views = Vec::with_capacity(args.day_views);
    let mut per_day = 0;
    if args.appointments > 0 {
        eprintln!("(e) {} day views …", args.day_views);
        let days = (args.appointments / args.practitioners / SLOTS_PER_DAY).max(1) as i64;
        for _ in 0..args.day_views {
            let day = first_day() + chrono::Duration::days(rng.gen_range(0..days));
            let from = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            let started = Instant::now();
            per_day = client
                .appointments(from, from + chrono::Duration::days(1), None)?
                .len();
            day_views.push(started.elapsed());
        }
        day_views.sort();
    }

    drop(hub.stdin.take());
    hub.wait()?;

    // With appointments, the ceiling of the whole mirror weighs each shape by its rows.
    let schedule_rows = (args.appointments * 2 + args.practitioners * 2) as f64;
    let patient_rows = mirrored
        - if args.appointments > 0 {
            schedule_rows
        } else {
            0.0
        };
    let blended = match record_ceiling {
        Some(records) => mirrored / (patient_rows / ceiling + schedule_rows / records),
        None => ceiling,
    };
    let ratio = mirror_rate / blended;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!();
    println!("| measure | result | target | met |");
    println!("|---|---|---|---|");
    println!(
        "| (a) raw SQLCipher insert, patient row shape ({} rows) | {:.0} rows/s | ceiling | – |",
        rows.len(),
        ceiling
    );
    if let Some(records) = record_ceiling {
        println!(
            "| (a′) raw SQLCipher insert, record row shape ({} appointments) | {:.0} rows/s; with (a), weighted by the rows of each shape: {:.0} rows/s | ceiling | – |",
            args.appointments, records, blended
        );
    }
    println!(
        "| (b) first mirror over loopback HTTP ({} rows: {} patients + versions{}) | {:.0} rows/s in {:.2} s = {:.0}% of the ceiling | ≥ 25% of the ceiling | {} |",
        mirrored,
        args.patients,
        if args.appointments > 0 {
            format!(
                ", {} practitioners and {} appointments + versions",
                args.practitioners, args.appointments
            )
        } else {
            String::new()
        },
        mirror_rate,
        mirror_secs,
        ratio * 100.0,
        if ratio >= 0.25 { "yes" } else { "NO" }
    );
    println!(
        "| (c) push {} offline edits | {:.0} ops/s ({:.2} s; the whole sync with the pull of the same changes back: {:.2} s) | ≥ 5,000 ops/s | {} |",
        pushed.pushed,
        push_rate,
        pushed.push_seconds,
        push_secs,
        if push_rate >= 5000.0 { "yes" } else { "NO" }
    );
    println!(
        "| (d) local search over {} patients ({} queries, 1–4 letter prefixes, 50 results) | p50 {:.2} ms, p99 {:.2} ms | p99 < 5 ms | {} |",
        args.patients,
        args.searches,
        ms(p50),
        ms(p99),
        if ms(p99) < 5.0 { "yes" } else { "NO" }
    );
    if !day_views.is_empty() {
        let (d50, d99) = (percentile(&day_views, 0.50), percentile(&day_views, 0.99));
        println!(
            "| (e) local day view of all {} practitioners ({} days, {} appointments a day) | p50 {:.2} ms, p99 {:.2} ms | p99 < 50 ms | {} |",
            args.practitioners,
            args.day_views,
            per_day,
            ms(d50),
            ms(d99),
            if ms(d99) < 50.0 { "yes" } else { "NO" }
        );
    }
    Ok(())
}
