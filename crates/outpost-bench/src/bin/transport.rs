//! `outpost-transport-bench`: the transport board under load, on the embedded backend, with the
//! hub in this process on a loopback port. In one run: (a) the outbox worker carrying out the
//! publish steps of `--requests` queued decisions (steps per second); (b) the board as an
//! agency's dispatcher reads it, filtered, with those requests open, against the hub's floor
//! (`GET /healthz`) measured in the same run; (c) bids per second from `--agencies` agencies
//! bidding at once; (d) from a hospital's acceptance to the trip in the crew's encrypted cache,
//! carried by the server-sent events (p50/p99). Prints a table. Needs an OS keyring (run it
//! with `scripts/bench.sh transport`, which provides one).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use outpost_client::{Backoff, Client, ClientOptions, Home, SystemClock};
use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::tenant::{NewTenant, Tenant};
use outpost_domain::transport::board::BoardEntry;
use outpost_domain::transport::facility::FacilityFields;
use outpost_domain::transport::request::TransportRequest;
use outpost_domain::{Entity, RecordId, Role, TenantKind};
use outpost_hub::accounts::{ExistingEmail, NewAccount, add_member};
use outpost_hub::{HubConfig, HubState};
use outpost_store::Store;
use outpost_store::board::{OutboxEvent, Step};
use outpost_store_sqlite::SqliteStore;

#[derive(Parser)]
#[command(
    about = "Outpost transport benchmark: the outbox, the board, bids, acceptance to the crew"
)]
struct Args {
    /// Open requests on the board.
    #[arg(long, default_value_t = 10_000)]
    requests: usize,
    /// EMS agencies, each with a dispatcher and a unit.
    #[arg(long, default_value_t = 50)]
    agencies: usize,
    /// Board queries timed in (b).
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Bids per agency in (c).
    #[arg(long, default_value_t = 40)]
    bids: usize,
    /// Acceptances timed in (d).
    #[arg(long, default_value_t = 30)]
    accepts: usize,
}

const PASSWORD: &str = "benchmark password 1";
const CITIES: [&str; 4] = ["Springfield", "Shelbyville", "Capital City", "Ogdenville"];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

async fn tenant(store: &dyn Store, actor: &Actor, slug: &str, kind: TenantKind) -> Result<Tenant> {
    let new = NewTenant {
        slug: slug.into(),
        name: slug.into(),
        kind,
    };
    Ok(store
        .provision_tenant(&new, actor.event("tenant.create", Outcome::Success))
        .await?)
}

async fn user(
    state: &HubState,
    tenant: &Tenant,
    role: Role,
    actor: &Actor,
) -> Result<(String, outpost_domain::UserId)> {
    let email = format!("{}.{}@bench.example", role.as_str(), tenant.slug);
    let member = add_member(
        state.store.as_ref(),
        &state.passwords,
        Some(tenant),
        NewAccount {
            email: email.clone(),
            full_name: format!("Bench {role}"),
            role,
            password: PASSWORD.into(),
        },
        ExistingEmail::Refuse,
        actor,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    Ok((email, member.id))
}

async fn token(http: &reqwest::Client, base: &str, email: &str) -> Result<String> {
    let answer: Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("no token")
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::create(&data, &data.join("master.key"))?);
    let config = HubConfig {
        data_dir: data.clone(),
        sign_in_per_minute: 0,
        refresh_per_minute: 0,
        ..HubConfig::default()
    };
    let state = HubState::load(store.clone(), config, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(outpost_hub::serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let actor = Actor::system(chrono::Utc::now());
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);

    // The hospital: facilities in four cities, one patient, the drafts.
    eprintln!("creating {} draft requests …", args.requests);
    let hospital = tenant(store.as_ref(), &actor, "general", TenantKind::Hospital).await?;
    let (coordinator, _) = user(&state, &hospital, Role::TransportCoordinator, &actor).await?;
    let mut at_hospital = actor.clone();
    at_hospital.tenant_id = Some(hospital.id);
    let db = store.tenant(hospital.id).await?;
    let patient = RecordId::generate();
    db.create_records(
        Entity::Patient,
        vec![(patient, object(json!({"mrn": "B-1", "given_name": "Bench", "family_name": "Patient", "birth_date": "1950-01-01", "sex": "female"})))],
        &at_hospital,
    )
    .await?;
    let facilities: Vec<(RecordId, FacilityFields)> = CITIES
        .iter()
        .map(|city| {
            let fields =
                json!({"name": format!("{city} General"), "kind": "hospital", "city": city});
            (
                RecordId::generate(),
                serde_json::from_value(fields).expect("facility"),
            )
        })
        .collect();
    db.create_records(
        Entity::Facility,
        facilities
            .iter()
            .map(|(id, f)| (*id, outpost_domain::record::to_map(f)))
            .collect(),
        &at_hospital,
    )
    .await?;
    let now = chrono::Utc::now();
    let mut requests: Vec<TransportRequest> = Vec::with_capacity(args.requests);
    for chunk in (0..args.requests).collect::<Vec<_>>().chunks(1000) {
        let batch: Vec<(RecordId, Map<String, Value>)> = chunk
            .iter()
            .map(|n| {
                let (from, to) = (n % CITIES.len(), (n + 1) % CITIES.len());
                let pickup = now + chrono::Duration::minutes(30 + (*n as i64 % 2880));
                let level = ["BLS", "ALS", "ALS", "CCT"][n % 4];
                let priority = ["scheduled", "urgent", "emergent"][n % 3];
                (
                    RecordId::generate(),
                    object(json!({
                        "patient_id": patient, "origin_facility_id": facilities[from].0,
                        "destination_facility_id": facilities[to].0,
                        "level": level, "priority": priority,
                        "pickup_from": pickup, "pickup_to": pickup + chrono::Duration::hours(2),
                    })),
                )
            })
            .collect();
        for record in db
            .create_records(Entity::TransportRequest, batch, &at_hospital)
            .await?
        {
            requests.push(outpost_store::typed(&record)?);
        }
    }

    // (a) The decisions queued, then the worker carrying their steps out.
    let board = state.store.board();
    let queued = Instant::now();
    let mut entries: Vec<(BoardEntry, TransportRequest)> = Vec::with_capacity(requests.len());
    for (n, request) in requests.into_iter().enumerate() {
        let (from, to) = (n % CITIES.len(), (n + 1) % CITIES.len());
        let entry = BoardEntry::published(
            Uuid::now_v7(),
            request.id,
            &request.fields,
            hospital.id,
            &hospital.name,
            &facilities[from].1,
            &facilities[to].1,
            chrono::Utc::now(),
        );
        let event = OutboxEvent {
            id: Uuid::now_v7(),
            entry_id: entry.id,
            step: Step::Published,
            created_at: entry.published_at,
        };
        board
            .publish(
                &entry,
                &event,
                actor.event("board.publish", Outcome::Success),
            )
            .await?;
        entries.push((entry, request));
    }
    let decide = queued.elapsed();
    let worked = Instant::now();
    outpost_hub::outbox::drain(&state, None).await;
    while board.pending_events().await? > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let steps = worked.elapsed();

    // The agencies: a dispatcher and an ALS unit each; the first agency's unit carries a crew.
    eprintln!("creating {} agencies …", args.agencies);
    let mut agencies = Vec::new();
    let mut crew_email = String::new();
    for a in 0..args.agencies {
        let agency = tenant(
            store.as_ref(),
            &actor,
            &format!("ems-{a:02}"),
            TenantKind::EmsAgency,
        )
        .await?;
        let (dispatcher, _) = user(&state, &agency, Role::EmsDispatcher, &actor).await?;
        let mut crew = Vec::new();
        if a == 0 {
            let (email, id) = user(&state, &agency, Role::EmsCrew, &actor).await?;
            crew_email = email;
            crew.push(id);
        }
        let unit = RecordId::generate();
        let mut at_agency = actor.clone();
        at_agency.tenant_id = Some(agency.id);
        store
            .tenant(agency.id)
            .await?
            .create_records(
                Entity::Unit,
                vec![(unit, object(json!({"call_sign": format!("Medic {a}"), "level": "CCT", "crew_user_ids": crew})))],
                &at_agency,
            )
            .await?;
        agencies.push((token(&http, &base, &dispatcher).await?, unit));
    }

    // (b) The board as a dispatcher reads it, against the hub's floor.
    let (reader, _) = &agencies[1];
    let mut floor = Vec::with_capacity(args.queries);
    let mut reads = Vec::with_capacity(args.queries);
    for q in 0..args.queries {
        let started = Instant::now();
        http.get(format!("{base}/healthz"))
            .send()
            .await?
            .error_for_status()?;
        floor.push(started.elapsed());
        let path = match q % 3 {
            0 => "/v1/board?status=published&limit=50".to_owned(),
            1 => format!(
                "/v1/board?status=published&city={}&limit=50",
                CITIES[q % 4].replace(' ', "%20")
            ),
            _ => "/v1/board?status=published&level=ALS&priority=urgent&limit=50".to_owned(),
        };
        let started = Instant::now();
        let page: Value = http
            .get(format!("{base}{path}"))
            .bearer_auth(reader)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        reads.push(started.elapsed());
        anyhow::ensure!(
            page["items"].as_array().is_some_and(|i| !i.is_empty()),
            "an empty board page"
        );
    }
    floor.sort();
    reads.sort();

    // (c) Every agency bidding at once, each on entries of its own choosing.
    let bidding = Instant::now();
    let mut tasks = Vec::new();
    let ids: Vec<Uuid> = entries.iter().map(|(e, _)| e.id).collect();
    for (token, unit) in agencies.clone() {
        let mut chosen = ids.clone();
        chosen.shuffle(&mut rng);
        chosen.truncate(args.bids);
        let (http, base) = (http.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut placed = Vec::new();
            for entry in chosen {
                let answer: Value = http
                    .post(format!("{base}/v1/board/{entry}/bids"))
                    .bearer_auth(&token)
                    .json(&json!({"unit_id": unit, "eta_minutes": 15}))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                placed.push((entry, answer["id"].as_str().unwrap_or_default().to_owned()));
            }
            anyhow::Ok(placed)
        }));
    }
    let mut first_agency_bids = Vec::new();
    for (a, task) in tasks.into_iter().enumerate() {
        let placed = task.await??;
        if a == 0 {
            first_agency_bids = placed;
        }
    }
    let bids_elapsed = bidding.elapsed();
    let bids_total = args.agencies * args.bids;

    // (d) The crew's laptop: mirrored, then following the hub's events; each acceptance of
    // its agency's bid is timed until the trip is in its encrypted cache.
    let home = dir.path().join("crew");
    let mut crew = Client::new(ClientOptions {
        home: Home::new(&home),
        idle_timeout: chrono::Duration::minutes(60),
        clock: Arc::new(SystemClock),
        device_name: Some("bench laptop".into()),
    })?;
    crew.login(base.as_str(), None, &crew_email, PASSWORD)
        .await?;
    crew.sync(&mut |_| {}).await?;
    let mut engine = crew.sync_engine()?;
    let listening = tokio::spawn(async move {
        let mut backoff = Backoff::default();
        engine.listen(None, &mut backoff, &mut |_| {}).await
    });
    let coordinator = token(&http, &base, &coordinator).await?;
    let mut arrivals = Vec::new();
    for (entry, bid) in first_agency_bids.iter().take(args.accepts) {
        let request = entries
            .iter()
            .find(|(e, _)| e.id == *entry)
            .map(|(_, r)| r.id)
            .context("entry")?;
        let started = Instant::now();
        http.post(format!(
            "{base}/v1/transport-requests/{request}/bids/{bid}/accept"
        ))
        .bearer_auth(&coordinator)
        .send()
        .await?
        .error_for_status()?;
        loop {
            if crew
                .trips()?
                .iter()
                .any(|t| t.trip.fields.board_entry_id == *entry)
            {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(30),
                "the trip never arrived"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        arrivals.push(started.elapsed());
    }
    arrivals.sort();
    listening.abort();
    let _ = stop.send(());
    let _ = server.await;

    let n = entries.len() as f64;
    println!("| measurement | figure |");
    println!("|---|---|");
    println!(
        "| (a) decisions: board entry + outbox event, one transaction each | {:.0} /s ({} in {:.1} s) |",
        n / decide.as_secs_f64(),
        entries.len(),
        decide.as_secs_f64()
    );
    println!(
        "| (a) worker: publish steps carried out into the hospital's database | {:.0} steps/s ({} in {:.1} s) |",
        n / steps.as_secs_f64(),
        entries.len(),
        steps.as_secs_f64()
    );
    println!(
        "| (b) floor: `GET /healthz` p50 / p99 | {} / {} |",
        ms(percentile(&floor, 0.5)),
        ms(percentile(&floor, 0.99))
    );
    println!(
        "| (b) board page of 50, {} open, filtered, p50 / p99 | {} / {} |",
        entries.len(),
        ms(percentile(&reads, 0.5)),
        ms(percentile(&reads, 0.99))
    );
    println!(
        "| (c) bids, {} agencies at once | {:.0} bids/s ({bids_total} in {:.1} s) |",
        args.agencies,
        bids_total as f64 / bids_elapsed.as_secs_f64(),
        bids_elapsed.as_secs_f64()
    );
    println!(
        "| (d) acceptance → trip in the crew's cache over SSE, p50 / p99 ({} accepts) | {} / {} |",
        arrivals.len(),
        ms(percentile(&arrivals, 0.5)),
        ms(percentile(&arrivals, 0.99))
    );
    Ok(())
}
