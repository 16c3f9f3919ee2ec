//! `outpost-copy`: how long one large tenant takes to back up, restore and move on
//! PostgreSQL — the time a move keeps the tenant read-only — next to `pg_dump -Fc` and
//! `pg_restore` of the same database in the same run. Drops every database it made.

use std::io::{BufReader, BufWriter};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use clap::Parser;
use serde_json::json;

use outpost_domain::TenantKind;
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::NewTenant;
use outpost_hub::tenant_copies::{restore_backup, write_backup};
use outpost_store::Store;
use outpost_store::keys::MasterKey;
use outpost_store_postgres::admin::{create_database, drop_database};
use outpost_store_postgres::{PgConfig, PgOptions, PostgresStore, RouterLimits};

#[derive(Parser)]
#[command(
    about = "Tenant copy benchmark: backup, restore and move of one large tenant on PostgreSQL"
)]
struct Args {
    /// The server, as a URL whose database part is ignored (pg_dump takes it too).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    server: String,
    /// The server the tenant moves to (default: the same server under another name).
    #[arg(long)]
    second: Option<String>,
    /// Patients in the tenant.
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
}

const GIVEN: [&str; 4] = ["Ada", "Alan", "Grace", "Edsger"];

fn fields(i: usize) -> PatientFields {
    let value = json!({
        "mrn": format!("C-{i:07}"),
        "given_name": GIVEN[i % GIVEN.len()],
        "family_name": format!("Copy{}", i % 977),
        "birth_date": "1975-06-07",
        "phone": format!("+1 555 {:04}", i % 10_000),
        "bmi": 20.0 + (i % 150) as f64 / 10.0,
    });
    serde_json::from_value(value).unwrap_or_else(|e| panic!("generated patient: {e}"))
}

fn options(server: &PgConfig, central: &str, second: &PgConfig) -> PgOptions {
    let mut config = server.clone();
    config.dbname(central);
    PgOptions {
        central: config,
        servers: vec![("a".into(), server.clone()), ("b".into(), second.clone())],
        runtime_role: None,
        limits: RouterLimits::default(),
        tls_ca_file: None,
    }
}

/// `url` with its database replaced by `database`.
fn database_url(url: &str, database: &str) -> Result<String> {
    let (base, _) = url.rsplit_once('/').context("--server is not a URL")?;
    Ok(format!("{base}/{database}"))
}

fn run_tool(program: &str, args: &[&str]) -> Result<f64> {
    let started = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("{program} (install postgresql-client)"))?;
    if !out.status.success() {
        bail!("{program}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(started.elapsed().as_secs_f64())
}

struct Row {
    what: &'static str,
    seconds: f64,
    bytes: Option<u64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let server: PgConfig = args.server.parse().context("--server")?;
    let second: PgConfig = match &args.second {
        Some(url) => url.parse().context("--second")?,
        None => server.clone(),
    };
    let suffix = &outpost_domain::TenantId::generate()
        .as_uuid()
        .simple()
        .to_string()[24..];
    let (source_central, restore_central) = (format!("copy_{suffix}"), format!("copyr_{suffix}"));
    let dir = tempfile::tempdir()?;
    let master_file = dir.path().join("master.key");
    MasterKey::create(&master_file)?;
    let source = Arc::new(
        PostgresStore::open(
            options(&server, &source_central, &second),
            MasterKey::load(&master_file)?,
        )
        .await?,
    );
    let restored = PostgresStore::open(
        options(&server, &restore_central, &second),
        MasterKey::load(&master_file)?,
    )
    .await?;
    let outcome = measure(&args, &source, &restored, &master_file, dir.path()).await;
    for (store, central) in [(&*source, &source_central), (&restored, &restore_central)] {
        for tenant in store.central().tenants().await? {
            let event = Actor::system(Utc::now()).event("tenant.delete", Outcome::Success);
            store.delete_tenant(tenant.id, event).await?;
        }
        let (client, connection) = server.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        drop_database(&client, central).await?;
    }
    outcome
}

async fn measure(
    args: &Args,
    source: &Arc<PostgresStore>,
    restored: &PostgresStore,
    master_file: &std::path::Path,
    dir: &std::path::Path,
) -> Result<()> {
    let actor = Actor::system(Utc::now());
    let tenant = source
        .provision_tenant(
            &NewTenant {
                slug: "big-clinic".into(),
                name: "Big clinic".into(),
                kind: TenantKind::Clinic,
            },
            actor.event("tenant.create", Outcome::Success),
        )
        .await?;
    let store = source.tenant(tenant.id).await?;
    let started = Instant::now();
    for chunk in (0..args.patients).collect::<Vec<_>>().chunks(1000) {
        store
            .create_patients(chunk.iter().map(|&i| fields(i)).collect(), &actor)
            .await?;
    }
    eprintln!(
        "filled {} patients in {:.1} s",
        args.patients,
        started.elapsed().as_secs_f64()
    );
    let database = source.routed_database(tenant.id).await?;
    let mut rows = 0u64;
    let mut results = Vec::new();

    let dump = dir.join("tenant.dump");
    let dump_arg = dump.display().to_string();
    let seconds = run_tool(
        "pg_dump",
        &[
            "-Fc",
            "-f",
            &dump_arg,
            &database_url(&args.server, &database)?,
        ],
    )?;
    results.push(Row {
        what: "pg_dump -Fc (baseline)",
        seconds,
        bytes: Some(std::fs::metadata(&dump)?.len()),
    });
    let scratch = format!("{database}_dump");
    let (client, connection) = args
        .server
        .parse::<PgConfig>()?
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(connection);
    create_database(&client, &scratch).await?;
    let seconds = run_tool(
        "pg_restore",
        &["-d", &database_url(&args.server, &scratch)?, &dump_arg],
    )?;
    drop_database(&client, &scratch).await?;
    results.push(Row {
        what: "pg_restore (baseline)",
        seconds,
        bytes: None,
    });

    let file = dir.join("tenant.backup");
    let master = MasterKey::load(master_file)?;
    let started = Instant::now();
    let out = BufWriter::new(std::fs::File::create(&file)?);
    let (out, summary) = write_backup(
        source.as_ref(),
        &master,
        &tenant,
        out,
        &actor,
        "bench",
        Box::new(|_| {}),
    )
    .await?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    results.push(Row {
        what: "tenant backup (export, encrypt, fsync)",
        seconds: started.elapsed().as_secs_f64(),
        bytes: Some(std::fs::metadata(&file)?.len()),
    });
    rows += summary.rows.values().sum::<u64>();

    let started = Instant::now();
    let input = BufReader::new(std::fs::File::open(&file)?);
    restore_backup(restored, &master, input, &actor, "bench", Box::new(|_| {})).await?;
    results.push(Row {
        what: "tenant restore (decrypt, load, register)",
        seconds: started.elapsed().as_secs_f64(),
        bytes: None,
    });
    drop(store);

    let started = Instant::now();
    source
        .move_tenant(tenant.id, "b", actor.event("tenant.move", Outcome::Success))
        .await?;
    results.push(Row {
        what: "tenant move a → b (read-only for this long)",
        seconds: started.elapsed().as_secs_f64(),
        bytes: None,
    });
    let moved = source.tenant(tenant.id).await?;
    if !moved.verify_audit().await?.valid {
        bail!("the moved chain does not verify");
    }

    println!(
        "\nOne tenant of {} patients, {rows} rows in all (patients, history, change feed, audit)\n",
        args.patients
    );
    println!(
        "| {:<44} | {:>9} | {:>10} | {:>9} |",
        "operation", "seconds", "rows/s", "MB"
    );
    println!("|{:-<46}|{:->11}|{:->12}|{:->11}|", "", "", "", "");
    for row in results {
        println!(
            "| {:<44} | {:>9.2} | {:>10.0} | {:>9} |",
            row.what,
            row.seconds,
            rows as f64 / row.seconds,
            row.bytes
                .map(|b| format!("{:.1}", b as f64 / 1e6))
                .unwrap_or_default()
        );
    }
    Ok(())
}
