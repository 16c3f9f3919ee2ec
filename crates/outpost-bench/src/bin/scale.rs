//! `outpost-scale`: the PostgreSQL backend with many tenants on one server. Provisions the
//! tenants (time per tenant), then runs the same mixed read/write load twice in one run —
//! every request on one tenant, then every request on a random one of all the tenants — and
//! prints p50/p99, throughput and the peak number of server connections (sampled from
//! `pg_stat_activity`) next to the router's cap. Drops every database it made at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Parser;
use rand::{Rng, SeedableRng};
use serde_json::json;

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::NewTenant;
use outpost_domain::{PatientId, TenantId, TenantKind};
use outpost_store::keys::MasterKey;
use outpost_store::{PatientQuery, Store, WriteOutcome};
use outpost_store_postgres::{PgConfig, PgOptions, PostgresStore, RouterLimits};

#[derive(Parser)]
#[command(
    about = "PostgreSQL scale benchmark: many tenants on one server under one connection cap"
)]
struct Args {
    /// The server, as a connection string whose database part is ignored.
    #[arg(
        long,
        default_value = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
    )]
    server: String,
    /// Tenants to provision.
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    /// Tenants provisioned at once.
    #[arg(long, default_value_t = 4)]
    provision_concurrency: usize,
    /// Patients per tenant.
    #[arg(long, default_value_t = 20)]
    patients: usize,
    /// The router's connection cap.
    #[arg(long, default_value_t = 64)]
    cap: usize,
    /// Requests per load phase.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent clients during the load.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

const GIVEN: &[&str] = &[
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances",
];
const FAMILY: &[&str] = &[
    "Byron", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen",
];

fn fields(i: usize) -> PatientFields {
    let value = json!({
        "mrn": format!("S-{i:06}"),
        "given_name": GIVEN[i % GIVEN.len()],
        "family_name": FAMILY[(i / GIVEN.len()) % FAMILY.len()],
        "birth_date": "1980-05-05",
        "phone": format!("+1 555 {i:04}"),
    });
    serde_json::from_value(value).unwrap_or_else(|e| panic!("generated patient: {e}"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

struct Phase {
    name: String,
    requests: usize,
    seconds: f64,
    p50: f64,
    p99: f64,
    peak: i64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let server: PgConfig = args.server.parse().context("--server")?;
    let name = format!("scale_{}", &uuid_suffix());
    let mut central = server.clone();
    central.dbname(&name);
    let dir = tempfile::tempdir()?;
    let master = MasterKey::create(&dir.path().join("master.key"))?;
    let store = Arc::new(
        PostgresStore::open(
            PgOptions {
                central,
                servers: Vec::new(),
                runtime_role: None,
                limits: RouterLimits {
                    cap: args.cap,
                    ..RouterLimits::default()
                },
                tls_ca_file: None,
            },
            master,
        )
        .await?,
    );
    let outcome = run(&args, &server, &name, store.clone()).await;
    eprintln!("dropping the benchmark's databases…");
    let store = Arc::try_unwrap(store).map_err(|_| anyhow::anyhow!("the store is still in use"))?;
    store.destroy().await?;
    outcome
}

fn uuid_suffix() -> String {
    let mut rng = rand::rngs::StdRng::from_entropy();
    format!("{:08x}", rng.r#gen::<u32>())
}

async fn run(args: &Args, server: &PgConfig, name: &str, store: Arc<PostgresStore>) -> Result<()> {
    // Provisioning, a few at a time, each timed.
    eprintln!("provisioning {} tenants…", args.tenants);
    let started = Instant::now();
    let mut times = Vec::with_capacity(args.tenants);
    let mut tenants: Vec<(TenantId, Vec<PatientId>)> = Vec::with_capacity(args.tenants);
    for chunk in (0..args.tenants)
        .collect::<Vec<_>>()
        .chunks(args.provision_concurrency.max(1))
    {
        let handles: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let (store, patients) = (store.clone(), args.patients);
                tokio::spawn(async move {
                    let actor = Actor::system(Utc::now());
                    let t0 = Instant::now();
                    let tenant = store
                        .provision_tenant(
                            &NewTenant {
                                slug: format!("tenant-{i:04}"),
                                name: format!("Tenant {i}"),
                                kind: TenantKind::Clinic,
                            },
                            actor.event("tenant.create", Outcome::Success),
                        )
                        .await?;
                    let took = t0.elapsed().as_secs_f64() * 1000.0;
                    let created = store
                        .tenant(tenant.id)
                        .await?
                        .create_patients((0..patients).map(fields).collect(), &actor)
                        .await?;
                    anyhow::Ok((took, tenant.id, created.into_iter().map(|p| p.id).collect()))
                })
            })
            .collect();
        for handle in handles {
            let (took, id, patients) = handle.await??;
            times.push(took);
            tenants.push((id, patients));
        }
        if tenants.len().is_multiple_of(100) {
            eprintln!("  {} tenants", tenants.len());
        }
    }
    let provision_secs = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    let tenants = Arc::new(tenants);

    let single = load(args, server, name, &store, &tenants, true).await?;
    let spread = load(args, server, name, &store, &tenants, false).await?;

    println!(
        "PostgreSQL scale benchmark: {} tenants × {} patients on one server, connection cap {}, \
         {} concurrent clients",
        args.tenants, args.patients, args.cap, args.concurrency
    );
    println!();
    println!(
        "Provisioning: {:.1} s in all ({} at a time); per tenant p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        provision_secs,
        args.provision_concurrency,
        percentile(&times, 50.0),
        percentile(&times, 99.0),
        times.last().copied().unwrap_or_default()
    );
    println!();
    println!(
        "| load | requests | throughput (req/s) | p50 (ms) | p99 (ms) | peak connections (cap) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for phase in [&single, &spread] {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} ({}) |",
            phase.name,
            phase.requests,
            phase.requests as f64 / phase.seconds,
            phase.p50,
            phase.p99,
            phase.peak,
            args.cap
        );
    }
    println!();
    println!(
        "p99 over {} tenants / p99 on one tenant: {:.2} (target ≤ 2.00); peak connections ≤ cap: {}",
        args.tenants,
        spread.p99 / single.p99,
        if spread.peak.max(single.peak) <= args.cap as i64 {
            "yes"
        } else {
            "NO"
        }
    );
    Ok(())
}

/// One load phase: `concurrency` clients share `requests` mixed requests (70% searches, 10%
/// reads, 20% read-then-update), on the first tenant only or on a random tenant each.
async fn load(
    args: &Args,
    server: &PgConfig,
    name: &str,
    store: &Arc<PostgresStore>,
    tenants: &Arc<Vec<(TenantId, Vec<PatientId>)>>,
    single: bool,
) -> Result<Phase> {
    let label = if single {
        "one tenant".to_owned()
    } else {
        format!("{} tenants", tenants.len())
    };
    eprintln!("load on {label}…");
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicI64::new(0));
    let monitor = {
        let (stop, peak) = (stop.clone(), peak.clone());
        let (client, connection) = server.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let prefix = name.to_owned();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(row) = client
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE starts_with(datname, $1)",
                        &[&prefix],
                    )
                    .await
                {
                    peak.fetch_max(row.get(0), Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let per_client = args.requests / args.concurrency.max(1);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let (store, tenants) = (store.clone(), tenants.clone());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let (tenant, patients) = if single {
                        &tenants[0]
                    } else {
                        &tenants[rng.gen_range(0..tenants.len())]
                    };
                    let patient = patients[rng.gen_range(0..patients.len())];
                    let kind = rng.gen_range(0..10);
                    let prefix = GIVEN[rng.gen_range(0..GIVEN.len())][..2].to_lowercase();
                    let t0 = Instant::now();
                    request(&store, *tenant, patient, kind, prefix).await?;
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.requests);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    monitor.await?;
    latencies.sort_by(f64::total_cmp);
    Ok(Phase {
        name: label,
        requests: latencies.len(),
        seconds,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        peak: peak.load(Ordering::Relaxed),
    })
}

async fn request(
    store: &PostgresStore,
    tenant: TenantId,
    patient: PatientId,
    kind: u32,
    prefix: String,
) -> Result<()> {
    let mut actor = Actor::system(Utc::now());
    actor.tenant_id = Some(tenant);
    let db = store.tenant(tenant).await?;
    match kind {
        0..=6 => {
            db.search_patients(
                &PatientQuery {
                    q: Some(prefix),
                    limit: 20,
                    after: None,
                },
                &actor,
            )
            .await?;
        }
        7 => {
            db.patient(patient, &actor).await?;
        }
        _ => {
            let current = db
                .patient(patient, &actor)
                .await?
                .context("a seeded patient is gone")?;
            let mut change = serde_json::Map::new();
            change.insert(
                "phone".into(),
                json!(format!("+1 555 {}", current.version % 10_000)),
            );
            let outcome = db
                .update_patient(
                    patient,
                    current.version,
                    &change,
                    Utc::now().date_naive(),
                    &actor,
                )
                .await?;
            // Another client may have updated it in between: a refused stale write is an
            // answer too.
            if matches!(outcome, WriteOutcome::NotFound) {
                anyhow::bail!("a seeded patient is gone");
            }
        }
    }
    Ok(())
}
