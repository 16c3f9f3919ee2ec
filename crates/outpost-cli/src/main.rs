//! `outpost`: sign in, unlock, sync and work with patients from a terminal, on the same client
//! core as the desktop app. Human-readable output by default; `--json` for scripts.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::{Map, Value, json};

use outpost_client::{
    Backoff, Client, ClientError, ClientOptions, Home, HubAddress, MirrorProgress, Resolution,
    SystemClock,
};
use outpost_domain::PatientId;
use outpost_domain::RecordId;
use outpost_domain::patient::PatientFields;

mod schedule;
mod transport;

#[derive(Parser)]
#[command(
    name = "outpost",
    version,
    about = "Outpost from a terminal: offline-first patient records"
)]
struct Cli {
    /// The client's directory (default: the platform data directory; OUTPOST_HOME).
    #[arg(long, env = "OUTPOST_HOME", global = true)]
    home: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Read the password from standard input instead of prompting.
    #[arg(long, global = true)]
    password_stdin: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in to a hub and set up (or open) this computer's encrypted copy.
    Login {
        #[arg(long)]
        hub: String,
        /// The tenant's slug (needed when you belong to several).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        email: String,
        /// A name for this computer, shown to administrators.
        #[arg(long)]
        device_name: Option<String>,
        /// The PEM certificate of the authority that signs the hub's certificate, when this
        /// computer does not trust it (a hospital's own); remembered for this hub.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
    /// Check that the local copy unlocks offline with your password.
    Unlock,
    /// Send local changes and fetch the hub's (the first time, mirror everything).
    Sync {
        /// When the hub cannot be reached or fails, try again this many times, waiting 1 s,
        /// 2 s, 4 s… (up to a minute) in between.
        #[arg(long, default_value_t = 0)]
        retries: u32,
        /// After syncing, follow the hub's announcements and sync after each, N times (0: until
        /// interrupted); reconnects with the same growing waits when the link drops.
        #[arg(long, value_name = "N")]
        watch: Option<usize>,
    },
    /// Whether the hub is reachable, pending changes, last sync, cursor and conflicts.
    Status,
    /// End the session on the hub; the next use needs the hub again.
    Logout,
    /// Delete this computer's copy and keys for the current sign-in.
    Wipe {
        #[arg(long)]
        yes: bool,
    },
    /// Patients in the local copy.
    Patient {
        #[command(subcommand)]
        command: PatientCommand,
    },
    /// The clinic's appointments in the local copy.
    Appointment {
        #[command(subcommand)]
        command: schedule::AppointmentCommand,
    },
    /// The clinic's practitioners.
    Practitioner {
        #[command(subcommand)]
        command: schedule::PractitionerCommand,
    },
    /// A crew's trips in the local copy; a dispatcher's board and bids.
    Trip {
        #[command(subcommand)]
        command: transport::TripCommand,
    },
    /// Changes the hub did not apply.
    Conflicts {
        #[command(subcommand)]
        command: ConflictCommand,
    },
}

/// `status` as printed: the local state and whether the hub answered just now.
#[derive(Serialize)]
struct StatusOutput {
    online: bool,
    #[serde(flatten)]
    status: outpost_client::Status,
}

#[derive(Subcommand)]
enum PatientCommand {
    /// Search by name, MRN or phone prefixes.
    Search {
        query: Vec<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// One patient, with its history.
    Show { id: PatientId },
    /// Register a patient.
    Add(AddArgs),
    /// Change fields: --set field=value (value as JSON, or text); --clear field.
    Edit {
        id: PatientId,
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        #[arg(long = "clear", value_name = "FIELD")]
        clear: Vec<String>,
    },
    /// Delete a patient.
    Delete { id: PatientId },
}

#[derive(Args)]
struct AddArgs {
    #[arg(long)]
    mrn: String,
    #[arg(long)]
    given_name: String,
    #[arg(long)]
    family_name: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    birth_date: String,
    #[arg(long, default_value = "unknown")]
    sex: String,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    address: Option<String>,
    /// Further fields: --set field=value.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
}

#[derive(Subcommand)]
enum ConflictCommand {
    List,
    /// Settle a conflict: --mine, --theirs, or --field NAME=mine|theirs for each field.
    Resolve {
        id: RecordId,
        #[arg(long, conflicts_with_all = ["theirs", "field"])]
        mine: bool,
        #[arg(long, conflicts_with = "field")]
        theirs: bool,
        #[arg(long, value_name = "FIELD=mine|theirs")]
        field: Vec<String>,
    },
}

fn password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: use --password-stdin or run in a terminal");
    }
    Ok(rpassword::prompt_password("Password: ")?)
}

/// `field=value`: the value as JSON when it parses (numbers, booleans, null), else as text.
fn assignments(items: &[String]) -> Result<Map<String, Value>> {
    items
        .iter()
        .map(|item| {
            let (field, value) = item
                .split_once('=')
                .with_context(|| format!("`{item}` is not FIELD=VALUE"))?;
            let value =
                serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
            Ok((field.trim().to_owned(), value))
        })
        .collect()
}

fn print<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        human(value);
    }
}

fn progress_bar(json: bool) -> (ProgressBar, impl FnMut(MirrorProgress)) {
    let bar = if json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message("mirroring");
    let handle = bar.clone();
    (bar, move |p: MirrorProgress| {
        handle.set_length(p.total);
        handle.set_position(p.done);
    })
}

async fn run(cli: Cli) -> Result<()> {
    let home = match &cli.home {
        Some(dir) => Home::new(dir),
        None => Home::from_env()?,
    };
    let options = ClientOptions {
        home,
        idle_timeout: chrono::Duration::minutes(15),
        clock: Arc::new(SystemClock),
        device_name: None,
    };
    let json = cli.json;
    match cli.command {
        Command::Login {
            hub,
            tenant,
            email,
            device_name,
            ca_file,
        } => {
            let mut client = Client::new(ClientOptions {
                device_name,
                ..options
            })?;
            let password = password(cli.password_stdin)?;
            let profile = client
                .login(
                    HubAddress::new(&hub).with_ca_file(ca_file),
                    tenant.as_deref(),
                    &email,
                    &password,
                )
                .await?;
            print(json, &profile, |p| {
                println!(
                    "Signed in as {} ({}) in {} on {}",
                    p.email, p.role, p.tenant, p.hub
                )
            });
        }
        Command::Wipe { yes } => {
            let mut client = Client::new(options)?;
            if !yes {
                bail!(
                    "this deletes the local copy and its keys, with any changes not yet synced: repeat with --yes"
                );
            }
            client.wipe()?;
            print(json, &json!({"wiped": true}), |_| {
                println!("Local copy and keys deleted")
            });
        }
        Command::Logout => {
            let mut client = Client::new(options)?;
            client.logout().await?;
            print(json, &json!({"logged_out": true}), |_| {
                println!("Signed out")
            });
        }
        command => {
            let mut client = Client::new(options)?;
            if client.profile().is_none() {
                return Err(ClientError::NotSignedIn.into());
            }
            client.unlock(&password(cli.password_stdin)?)?;
            work(&mut client, command, json).await?;
        }
    }
    Ok(())
}

async fn work(client: &mut Client, command: Command, json: bool) -> Result<()> {
    match command {
        Command::Unlock => print(json, &json!({"unlocked": true}), |_| println!("Unlocked")),
        Command::Sync { retries, watch } => {
            let (bar, mut progress) = progress_bar(json);
            let mut backoff = Backoff::default();
            let mut engine = client.sync_engine()?;
            let report = engine
                .sync_retrying(retries, &mut backoff, &mut progress)
                .await;
            let report = client.end_sync(engine, report)?;
            bar.finish_and_clear();
            print(json, &report, |r| {
                if r.mirrored_rows > 0 {
                    println!("Mirrored {} rows", r.mirrored_rows);
                }
                println!(
                    "Pushed {} changes ({} applied, {} merged, {} conflicts, {} refused), uploaded {} audit events, pulled {} changes; cursor {}",
                    r.pushed,
                    r.applied,
                    r.merged,
                    r.conflicts,
                    r.rejected,
                    r.audit_uploaded,
                    r.pulled,
                    r.cursor
                )
            });
            if let Some(times) = watch {
                let max = (times > 0).then_some(times);
                let mut engine = client.sync_engine()?;
                let synced = engine.listen(max, &mut backoff, &mut progress).await;
                let synced = client.end_sync(engine, synced)?;
                print(json, &json!({"synced_on_events": synced}), |_| {
                    println!("Synced after {synced} announcements")
                });
            }
        }
        Command::Status => {
            let status = StatusOutput {
                online: client.hub_reachable().await?,
                status: client.status()?,
            };
            print(json, &status, |StatusOutput { online, status: s }| {
                if let Some(p) = &s.profile {
                    println!("{} ({}) in {} on {}", p.email, p.role, p.tenant, p.hub);
                }
                println!("Hub: {}", if *online { "online" } else { "offline" });
                println!("Patients in local copy: {}", s.patients);
                println!("Pending changes: {}", s.pending_ops);
                println!("Audit events to upload: {}", s.pending_audit);
                println!("Conflicts: {}", s.conflicts);
                println!("Last sync: {}", s.last_sync.as_deref().unwrap_or("never"));
                println!(
                    "Cursor: {}",
                    s.cursor.map_or("none".into(), |c| c.to_string())
                );
            });
        }
        Command::Patient { command } => patient(client, command, json)?,
        Command::Appointment { command } => schedule::appointment(client, command, json)?,
        Command::Practitioner { command } => schedule::practitioner(client, command, json)?,
        Command::Trip { command } => transport::trip(client, command, json).await?,
        Command::Conflicts { command } => match command {
            ConflictCommand::List => {
                let conflicts = client.conflicts()?;
                print(json, &conflicts, |list| {
                    if list.is_empty() {
                        println!("No conflicts");
                    }
                    for c in list {
                        let kind = if c.rejected { "refused" } else { "conflict" };
                        println!(
                            "{} {} {kind}: fields {}",
                            c.entity,
                            c.record_id,
                            c.fields.join(", ")
                        );
                        if let Some(error) = &c.error {
                            println!("  hub said: {error}");
                        }
                        for field in &c.fields {
                            let value = |r: &Option<outpost_domain::Record>| {
                                r.as_ref()
                                    .map(|r| r.fields.get(field).cloned().unwrap_or(Value::Null))
                                    .map_or("(deleted)".to_owned(), |v| v.to_string())
                            };
                            println!(
                                "  {field}: mine {} | theirs {}",
                                value(&c.mine),
                                value(&c.theirs)
                            );
                        }
                    }
                });
            }
            ConflictCommand::Resolve {
                id,
                mine,
                theirs,
                field,
            } => {
                let resolution = if mine {
                    Resolution::KeepMine
                } else if theirs {
                    Resolution::TakeTheirs
                } else if !field.is_empty() {
                    let mut choice = BTreeMap::new();
                    for item in &field {
                        let (name, side) = item
                            .split_once('=')
                            .with_context(|| format!("`{item}` is not FIELD=mine|theirs"))?;
                        let mine = match side {
                            "mine" => true,
                            "theirs" => false,
                            _ => bail!("`{item}`: say mine or theirs"),
                        };
                        choice.insert(name.to_owned(), mine);
                    }
                    Resolution::PerField(choice)
                } else {
                    bail!("say --mine, --theirs or --field NAME=mine|theirs");
                };
                client.resolve(id, &resolution)?;
                print(json, &json!({"resolved": id}), |_| {
                    println!("Resolved; sync to send the result")
                });
            }
        },
        Command::Login { .. } | Command::Wipe { .. } | Command::Logout => {
            unreachable!("handled before unlocking")
        }
    }
    Ok(())
}

fn patient(client: &mut Client, command: PatientCommand, json: bool) -> Result<()> {
    match command {
        PatientCommand::Search { query, limit } => {
            let found = client.search(&query.join(" "), limit)?;
            print(json, &found, |list| {
                for p in list {
                    println!(
                        "{}  {:<12} {}, {}  {}",
                        p.id,
                        p.fields.mrn,
                        p.fields.family_name,
                        p.fields.given_name,
                        p.fields.birth_date
                    );
                }
                println!("{} found", list.len());
            });
        }
        PatientCommand::Show { id } => {
            let local = client.show(id)?;
            let history = client.history(id)?;
            let value = json!({
                "patient": local.patient,
                "pending_sync": local.hub_version != Some(local.patient.version),
                "conflict": local.conflict,
                "history": history,
            });
            print(json, &value, |v| {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v["patient"]).unwrap_or_default()
                );
                if local.conflict {
                    println!("This record has a conflict: see `outpost conflicts list`");
                }
                for entry in &history {
                    let fields: Vec<_> = entry.changes.keys().cloned().collect();
                    println!(
                        "v{} {} at {}: {}",
                        entry.version,
                        entry.action,
                        entry.at,
                        fields.join(", ")
                    );
                }
            });
        }
        PatientCommand::Add(args) => {
            let mut fields = json!({
                "mrn": args.mrn, "given_name": args.given_name, "family_name": args.family_name,
                "birth_date": args.birth_date, "sex": args.sex,
                "phone": args.phone, "email": args.email, "address": args.address,
            });
            if let Value::Object(map) = &mut fields {
                map.retain(|_, v| !v.is_null());
                map.extend(assignments(&args.set)?);
            }
            let fields: PatientFields = serde_json::from_value(fields).map_err(|_| {
                anyhow::anyhow!(
                    "the fields are not a patient record (unknown field or wrong value)"
                )
            })?;
            let patient = client.add(fields)?;
            print(json, &patient, |p| {
                println!("Added {} (sync to send it)", p.id)
            });
        }
        PatientCommand::Edit { id, set, clear } => {
            let mut changes = assignments(&set)?;
            for field in clear {
                changes.insert(field, Value::Null);
            }
            let patient = client.edit(id, &changes)?;
            print(json, &patient, |p| {
                println!("Saved version {} (sync to send it)", p.version)
            });
        }
        PatientCommand::Delete { id } => {
            client.delete(id)?;
            print(json, &json!({"deleted": id}), |_| {
                println!("Deleted (sync to send it)")
            });
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            // rustls' verifier logs a refused certificate as an error of its own; the client
            // reports it (tls_untrusted) with what to do.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,rustls_platform_verifier=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let json = cli.json;
    if let Err(err) = run(cli).await {
        let code = err
            .downcast_ref::<ClientError>()
            .map_or("error".to_owned(), |e| e.code().as_str());
        if json {
            eprintln!(
                "{}",
                json!({"error": {"code": code, "message": err.to_string()}})
            );
        } else {
            eprintln!("error: {err}");
        }
        std::process::exit(1);
    }
}
