//! `outpost-hub`: parses arguments and configuration, then calls into the library.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde_json::json;

use outpost_domain::audit::{Actor, Outcome};
use outpost_domain::clock::ManualClock;
use outpost_domain::tenant::{NewTenant, Tenant, TenantStatus};
use outpost_domain::user::normalize_email;
use outpost_domain::{DeviceId, Role, TenantKind};
use outpost_hub::accounts::{ExistingEmail, NewAccount, add_member};
use outpost_hub::backend::{self, Mode};
use outpost_hub::config::{DatabaseUrl, LogFormat};
use outpost_hub::passwords::PasswordWork;
use outpost_hub::releases::{NewRelease, Releases};
use outpost_hub::server::Tls;
use outpost_hub::{Clock, HubConfig, HubState, SystemClock, config, demo, passwords, routes};
use outpost_store::keys::MasterKey;
use outpost_store::{CentralStore, MemberUpdate, Store};

mod backups;

#[derive(Parser)]
#[command(
    name = "outpost-hub",
    version,
    about = "The Outpost hub: multi-tenant records server"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, env = "OUTPOST_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Data directory of the embedded backend (also OUTPOST_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The central PostgreSQL database, instead of the embedded backend's data directory (also
    /// OUTPOST_DATABASE_URL, or OUTPOST_DATABASE_URL_FILE naming a file that holds it).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Master key file (default: <data-dir>/master.key; also OUTPOST_MASTER_KEY_FILE).
    #[arg(long, global = true)]
    master_key_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory, central store, master key and first platform admin.
    Init {
        #[arg(long)]
        admin_email: String,
        #[arg(long, default_value = "Platform Administrator")]
        admin_name: String,
        /// Read the admin password from standard input (else prompt, or generate one).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on (also OUTPOST_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Build demo tenants, users and synthetic patients in a new data directory, print the
    /// logins, then serve.
    Demo {
        /// Address to listen on (also OUTPOST_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Synthetic patients per clinic and hospital.
        #[arg(long, default_value_t = demo::PATIENTS_PER_TENANT)]
        patients: usize,
        /// Build the demo and exit without serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Tenant lifecycle.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Bulk load of records of one kind into a tenant from CSV: every row checked on its own
    /// (rejected rows reported with line, column and reason), rows already imported skipped.
    Import {
        #[arg(long)]
        tenant: String,
        /// The kind of record: patient, practitioner, appointment, calendar_entry, facility,
        /// unit, unit_shift, …
        #[arg(long)]
        kind: outpost_domain::Entity,
        file: PathBuf,
        /// `kind`: a header of the kind's field names; `stroke-dataset`: the public
        /// stroke-risk data set's layout (patients).
        #[arg(long, value_enum, default_value = "kind")]
        format: outpost_hub::import::Format,
        /// Check every row and count what would load; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Users and memberships.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Client devices: list them, revoke one (its cache is wiped at its next contact).
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Audit chains.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Desktop builds this hub offers the app's updater.
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Provision a tenant: create, migrate and register its database.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_kind)]
        kind: TenantKind,
    },
    /// List tenants.
    List,
    /// Suspend a tenant: its users are refused at sign-in and at every request (audited).
    Suspend {
        #[arg(long)]
        slug: String,
    },
    /// Resume a suspended tenant (audited).
    Resume {
        #[arg(long)]
        slug: String,
    },
    /// Bring every tenant's database to the newest schema, with progress; a tenant that
    /// fails is reported and the others go on (exit status 1 if any failed).
    MigrateAll,
    /// Write one tenant's whole database (records, history, audit chain, members) to an
    /// encrypted file that only this hub's master key opens.
    Backup {
        #[arg(long)]
        slug: String,
        /// The file to write; it must not exist.
        #[arg(long)]
        out: PathBuf,
    },
    /// Recreate a tenant from a backup file, under its own id and slug (which must be free).
    Restore {
        /// The backup file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Move a tenant's database to another configured PostgreSQL server; the tenant is
    /// read-only meanwhile, and its old database is dropped once the registry points to the copy.
    Move {
        #[arg(long)]
        slug: String,
        /// A server name from `database_servers`.
        #[arg(long)]
        server: String,
    },
    /// Delete a tenant's database and registry entry (audited).
    Delete {
        #[arg(long)]
        slug: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user to a tenant (an existing user gets a membership).
    Add {
        /// Tenant slug; leave out with --role platform_admin.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        full_name: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the members of a tenant (or, without --tenant, the platform admins).
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Disable a user and end all their sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum DeviceCommand {
    /// The devices a user has signed in from.
    List {
        #[arg(long)]
        email: String,
    },
    /// Revoke a device: its sessions end now, and the client wipes its cache and keys when it
    /// next reaches the hub.
    Revoke {
        #[arg(long)]
        device: DeviceId,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the central chain and every tenant chain, or one tenant's.
    Verify {
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Publish a signed desktop build: apps of that platform with an older version are offered
    /// it at their next check (audited).
    Add {
        /// linux, windows or darwin.
        #[arg(long)]
        target: String,
        /// x86_64, aarch64, i686 or armv7.
        #[arg(long)]
        arch: String,
        /// The build's version (semver), as in its tauri.conf.json.
        #[arg(long)]
        version: String,
        /// The update file the Tauri bundler made (the .deb, .msi, .exe or .app.tar.gz).
        #[arg(long)]
        file: PathBuf,
        /// The file's signature: the .sig file the bundler wrote next to it, or its content.
        #[arg(long)]
        signature: String,
        /// Release notes the app shows with the update.
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// The published builds.
    List,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a documented example configuration.
    Default,
    /// Print the configuration in effect (defaults, file, environment, flags), secrets
    /// redacted.
    Show,
}

fn parse_kind(s: &str) -> Result<TenantKind, String> {
    s.parse()
        .map_err(|_| "expected one of clinic, hospital, ems_agency, transport_center".to_owned())
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|_| {
        let all: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("expected one of {}", all.join(", "))
    })
}

fn load_config(cli: &Cli) -> Result<HubConfig> {
    let mut config = HubConfig::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(file) = &cli.master_key_file {
        config.master_key_file = Some(file.clone());
    }
    if let Some(url) = &cli.database_url {
        config.database_url = Some(DatabaseUrl(url.clone()));
    }
    Ok(config)
}

async fn open_store(config: &HubConfig) -> Result<Arc<dyn Store>> {
    Ok(backend::open(config, Mode::Existing).await?)
}

/// Where the hub's data lives, for messages.
fn location(config: &HubConfig) -> String {
    match &config.database_url {
        Some(_) => "the PostgreSQL central database".into(),
        None => config.data_dir.display().to_string(),
    }
}

/// The tenant an operator names by slug.
async fn tenant_by_slug(central: &dyn CentralStore, slug: &str) -> Result<Tenant> {
    central
        .tenant_by_slug(slug)
        .await?
        .with_context(|| format!("no tenant {slug}"))
}

/// Suspends or resumes a tenant, audited as the operator's.
async fn set_status(
    store: &dyn Store,
    slug: &str,
    status: TenantStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let tenant = tenant_by_slug(store.central(), slug).await?;
    let mut event = operator(now)
        .event(status.change_action(), Outcome::Success)
        .entity("tenant", tenant.id)
        .details(json!({ "slug": slug, "via": "cli" }));
    event.tenant_id = Some(tenant.id);
    let tenant = store
        .central()
        .set_tenant_status(tenant.id, status, event)
        .await?;
    println!("Tenant {} is {}", tenant.slug, tenant.status.as_str());
    Ok(())
}

/// Migrates every tenant with a progress bar, then reports each one; whether all succeeded.
async fn migrate_all(store: &dyn Store) -> Result<bool> {
    let tenants = store.central().tenants().await?;
    let bar = indicatif::ProgressBar::new(tenants.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut report = Vec::with_capacity(tenants.len());
    for tenant in &tenants {
        bar.set_message(tenant.slug.clone());
        report.push((tenant.slug.clone(), store.migrate_tenant(tenant.id).await));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut failed = 0;
    for (slug, outcome) in &report {
        match outcome {
            Ok(version) => println!("{slug}: schema {version}"),
            Err(err) => {
                failed += 1;
                println!("{slug}: FAILED: {err}");
            }
        }
    }
    println!(
        "{} of {} tenants migrated{}",
        report.len() - failed,
        report.len(),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        }
    );
    Ok(failed == 0)
}

/// `outpost-hub release add | list`.
async fn release(config: &HubConfig, command: ReleaseCommand) -> Result<()> {
    let releases = Releases::new(config.releases_path());
    match command {
        ReleaseCommand::Add {
            target,
            arch,
            version,
            file,
            signature,
            notes,
        } => {
            let signature = match std::fs::read_to_string(&signature) {
                Ok(text) => text,
                Err(_) if !signature.ends_with(".sig") => signature,
                Err(err) => bail!("cannot read {signature}: {err}"),
            };
            let store = open_store(config).await?;
            let now = SystemClock.now();
            let staged = releases.stage(
                NewRelease {
                    target: &target,
                    arch: &arch,
                    version: &version,
                    file: &file,
                    signature: &signature,
                    notes: &notes,
                },
                now,
            )?;
            // Recorded before it is offered: no app sees a build the audit trail does not hold.
            let staged_release = &staged.release;
            let event = operator(now)
                .event("release.publish", Outcome::Success)
                .details(json!({
                    "target": staged_release.target,
                    "arch": staged_release.arch,
                    "version": staged_release.version.to_string(),
                    "file": staged_release.file_name,
                    "via": "cli",
                }));
            store.central().append_audit(event).await?;
            let release = staged.offer()?;
            println!(
                "Published {} {} {}: {}",
                release.target,
                release.arch,
                release.version,
                release.download_path()
            );
        }
        ReleaseCommand::List => {
            for r in releases.list()? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.target,
                    r.arch,
                    r.version,
                    r.file_name,
                    r.published_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
            }
        }
    }
    Ok(())
}

/// Reads a password from stdin, a prompt, or (when `generate`) makes one and says so.
fn read_password(from_stdin: bool, generate: bool) -> Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok((line.trim_end_matches(['\r', '\n']).to_owned(), false));
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (empty to generate one): ")?;
        if !first.is_empty() {
            let second = rpassword::prompt_password("Repeat: ")?;
            if first != second {
                bail!("the passwords differ");
            }
            return Ok((first, false));
        }
    } else if !generate {
        bail!("no password: use --password-stdin or run in a terminal");
    }
    Ok((passwords::generate(), true))
}

/// `outpost-hub import`: reads the file, loads it with a progress bar, prints the report and
/// appends it to the tenant's chain.
#[allow(
    clippy::too_many_arguments,
    reason = "the command's own arguments, passed through"
)]
async fn import(
    store: &dyn Store,
    slug: &str,
    entity: outpost_domain::Entity,
    file: &std::path::Path,
    format: outpost_hub::import::Format,
    dry_run: bool,
    json: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    use outpost_hub::import::{self, Format};
    let tenant = tenant_by_slug(store.central(), slug).await?;
    if format == Format::StrokeDataset && entity != outpost_domain::Entity::Patient {
        bail!("the stroke data set holds patients: use --kind patient");
    }
    let mut actor = operator(now);
    actor.tenant_id = Some(tenant.id);
    let db = store.tenant(tenant.id).await?;
    let lines = std::fs::read(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    let bar = indicatif::ProgressBar::new(lines.saturating_sub(1) as u64).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(if dry_run { "checking" } else { "importing" });
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let today = now.date_naive();
    let progress = |rows| bar.set_position(rows);
    let report = match format {
        Format::Kind => {
            let rows =
                import::kind_rows(entity, input, today).map_err(|e| anyhow::anyhow!(e.message))?;
            import::load(db.as_ref(), entity, rows, dry_run, &actor, progress).await
        }
        Format::StrokeDataset => {
            let rows =
                import::stroke::rows(input, today).map_err(|e| anyhow::anyhow!(e.message))?;
            import::load(db.as_ref(), entity, rows, dry_run, &actor, progress).await
        }
    }
    .map_err(|e| anyhow::anyhow!(e.message))?;
    bar.finish_and_clear();
    if !dry_run {
        let event = actor
            .event("import.run", outpost_domain::audit::Outcome::Success)
            .details(serde_json::json!({
                "kind": entity.as_str(),
                "format": format!("{format:?}"),
                "rows": report.rows,
                "imported": report.imported,
                "skipped": report.skipped,
                "rejected": report.rejected.len(),
            }));
        db.append_audit(event).await?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} rows: {} {}, {} already imported, {} rejected",
        report.rows,
        report.imported,
        if dry_run {
            "would be imported"
        } else {
            "imported"
        },
        report.skipped,
        report.rejected.len()
    );
    for rejected in &report.rejected {
        println!(
            "  line {}{}: {}",
            rejected.line,
            rejected
                .column
                .as_deref()
                .map_or(String::new(), |c| format!(", column {c}")),
            rejected.reason
        );
    }
    Ok(())
}

fn operator(at: chrono::DateTime<chrono::Utc>) -> Actor {
    let mut actor = Actor::system(at);
    actor.role = Some("operator".into());
    actor
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// Tells whoever started the hub where it listens, on standard output. A reader that has gone
/// (a script that read the first line) must not stop the hub: write errors are ignored.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Log lines on standard error, as text or JSON; `RUST_LOG` sets the levels (default `info`,
/// which includes one access-log line per request).
fn init_logging(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_span_list(false).init(),
    }
}

/// Serves `GET /metrics` alone on `addr` until the hub shuts down.
async fn serve_metrics(addr: SocketAddr, state: outpost_hub::AppState) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    let mut stopping = state.shutting_down.subscribe();
    let app = routes::metrics_router(state);
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %err, "the metrics listener stopped");
        }
    });
    Ok(())
}

async fn serve(config: HubConfig, store: Arc<dyn Store>, listen: Option<SocketAddr>) -> Result<()> {
    let addr = listen.unwrap_or(config.listen);
    let tls = Tls::from_config(&config).context("cannot load the TLS certificate")?;
    let state = HubState::load(store, config, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    announce(&format!("outpost-hub listening on {scheme}://{local}"));
    if let Some(tls) = &tls {
        tokio::spawn(reload_on_hangup(tls.clone()));
    }
    if let Some(addr) = state.config.metrics_listen {
        serve_metrics(addr, state.clone()).await?;
        announce(&format!("metrics on http://{addr}/metrics"));
    }
    outpost_hub::serve_with(listener, state, tls, shutdown_signal()).await?;
    Ok(())
}

/// Reads the certificate and key again at every SIGHUP (a renewed certificate); a file that
/// does not load is logged and the current certificate kept.
async fn reload_on_hangup(tls: Arc<Tls>) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("cannot listen for SIGHUP: the certificate is read at start only");
        return;
    };
    while hangups.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(err) => {
                tracing::error!(error = %err, "TLS certificate not reloaded; keeping the current one")
            }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let config = load_config(&cli)?;
    init_logging(config.log_format);
    let now = SystemClock.now();
    match cli.command {
        Command::Init {
            admin_email,
            admin_name,
            password_stdin,
        } => {
            let email = normalize_email(&admin_email)?;
            let (password, generated) = read_password(password_stdin, true)?;
            let store = backend::open(&config, Mode::Create).await?;
            // Creates the first token signing key.
            let state =
                HubState::load(store.clone(), config.clone(), Arc::new(SystemClock)).await?;
            add_member(
                store.as_ref(),
                &state.passwords,
                None,
                NewAccount {
                    email: email.clone(),
                    full_name: admin_name,
                    role: Role::PlatformAdmin,
                    password: password.clone(),
                },
                ExistingEmail::Refuse,
                &operator(now),
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("Created hub in {}", location(&config));
            println!("Master key: {}", config.master_key_path().display());
            println!("Platform admin: {email}");
            if generated {
                println!("Generated password (shown once): {password}");
            }
        }
        Command::Serve { listen } => {
            let store = open_store(&config).await?;
            serve(config, store, listen).await?;
        }
        Command::Demo {
            listen,
            patients,
            no_serve,
        } => {
            let store = backend::open(&config, Mode::Create)
                .await
                .context("the demo needs a new hub")?;
            eprintln!("Building demo tenants with {patients} patients per clinic and hospital…");
            // The board's month of history is written moment by moment on a clock of its own.
            let clock = ManualClock::starting_now();
            let state =
                HubState::load(store.clone(), config.clone(), Arc::new(clock.clone())).await?;
            let logins = demo::build(&state, &clock, &operator(now), patients)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            drop(state);
            println!("Demo logins (passwords are shown once):");
            println!("{:<22} {:<20} {:<44} password", "role", "tenant", "email");
            for login in &logins {
                println!(
                    "{:<22} {:<20} {:<44} {}",
                    login.role.as_str(),
                    login.tenant.as_deref().unwrap_or("-"),
                    login.email,
                    login.password
                );
            }
            if !no_serve {
                serve(config, store, listen).await?;
            }
        }
        Command::Import {
            tenant,
            kind,
            file,
            format,
            dry_run,
            json,
        } => {
            let store = open_store(&config).await?;
            import(
                store.as_ref(),
                &tenant,
                kind,
                &file,
                format,
                dry_run,
                json,
                now,
            )
            .await?;
        }
        Command::Tenant { command } => {
            let store = open_store(&config).await?;
            match command {
                TenantCommand::Create { slug, name, kind } => {
                    let new = NewTenant { slug, name, kind };
                    let event = operator(now)
                        .event("tenant.create", Outcome::Success)
                        .details(json!({ "slug": new.slug, "kind": new.kind, "via": "cli" }));
                    let tenant = store.provision_tenant(&new, event).await?;
                    println!(
                        "Created tenant {} ({}) id {}",
                        tenant.slug, tenant.kind, tenant.id
                    );
                }
                TenantCommand::List => {
                    println!(
                        "{:<38} {:<24} {:<18} {:<10} name",
                        "id", "slug", "kind", "status"
                    );
                    for t in store.central().tenants().await? {
                        println!(
                            "{:<38} {:<24} {:<18} {:<10} {}",
                            t.id.to_string(),
                            t.slug,
                            t.kind.as_str(),
                            // Read-only only while a move copies the tenant.
                            if t.read_only {
                                "moving"
                            } else {
                                t.status.as_str()
                            },
                            t.name
                        );
                    }
                }
                TenantCommand::Suspend { slug } => {
                    set_status(store.as_ref(), &slug, TenantStatus::Suspended, now).await?;
                }
                TenantCommand::Resume { slug } => {
                    set_status(store.as_ref(), &slug, TenantStatus::Active, now).await?;
                }
                TenantCommand::MigrateAll => {
                    if !migrate_all(store.as_ref()).await? {
                        std::process::exit(1);
                    }
                }
                TenantCommand::Backup { slug, out } => {
                    let master = MasterKey::load(&config.master_key_path())?;
                    backups::backup(store.as_ref(), &master, &slug, &out, &operator(now)).await?;
                }
                TenantCommand::Restore { file } => {
                    let master = MasterKey::load(&config.master_key_path())?;
                    backups::restore(store.as_ref(), &master, &file, &operator(now)).await?;
                }
                TenantCommand::Move { slug, server } => {
                    backups::move_tenant(store.as_ref(), &slug, &server, &operator(now)).await?;
                }
                TenantCommand::Delete { slug, yes } => {
                    let tenant = tenant_by_slug(store.central(), &slug).await?;
                    if !yes {
                        bail!("deleting {slug} destroys its database: repeat with --yes");
                    }
                    let mut event = operator(now)
                        .event("tenant.delete", Outcome::Success)
                        .entity("tenant", tenant.id)
                        .details(json!({ "slug": slug, "via": "cli" }));
                    event.tenant_id = Some(tenant.id);
                    store.delete_tenant(tenant.id, event).await?;
                    println!("Deleted tenant {slug}");
                }
            }
        }
        Command::User { command } => {
            let store = open_store(&config).await?;
            let central = store.central();
            match command {
                UserCommand::Add {
                    tenant,
                    email,
                    role,
                    full_name,
                    password_stdin,
                } => {
                    let tenant = match tenant {
                        Some(slug) => Some(tenant_by_slug(central, &slug).await?),
                        None => None,
                    };
                    let normalized = normalize_email(&email)?;
                    let exists = central.user_by_email(&normalized).await?.is_some();
                    let (password, generated) = if exists {
                        (String::new(), false)
                    } else {
                        read_password(password_stdin, true)?
                    };
                    let member = add_member(
                        store.as_ref(),
                        &PasswordWork::start(1, 1),
                        tenant.as_ref(),
                        NewAccount {
                            email: normalized.clone(),
                            full_name: full_name.unwrap_or_else(|| normalized.clone()),
                            role,
                            password: password.clone(),
                        },
                        ExistingEmail::AddMembership,
                        &operator(now),
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                    println!(
                        "{} is {} in {}",
                        member.email,
                        member.role,
                        tenant.map_or("the platform".into(), |t| t.slug)
                    );
                    if generated {
                        println!("Generated password (shown once): {password}");
                    }
                }
                UserCommand::List { tenant } => {
                    let tenant_id = match tenant {
                        Some(slug) => Some(tenant_by_slug(central, &slug).await?.id),
                        None => None,
                    };
                    println!(
                        "{:<38} {:<40} {:<22} {:<9} name",
                        "id", "email", "role", "disabled"
                    );
                    for m in central.members(tenant_id).await? {
                        println!(
                            "{:<38} {:<40} {:<22} {:<9} {}",
                            m.id.to_string(),
                            m.email,
                            m.role.as_str(),
                            m.disabled,
                            m.full_name
                        );
                    }
                }
                UserCommand::Disable { email } => {
                    let email = normalize_email(&email)?;
                    let user = central
                        .user_by_email(&email)
                        .await?
                        .context("no such user")?;
                    let scope = central
                        .memberships(user.id)
                        .await?
                        .into_iter()
                        .next()
                        .context("the user has no membership")?;
                    let event = operator(now)
                        .event("user.disable", Outcome::Success)
                        .entity("user", user.id)
                        .details(json!({ "via": "cli" }));
                    central
                        .update_member(
                            scope.tenant.map(|t| t.id),
                            user.id,
                            &MemberUpdate {
                                disabled: Some(true),
                                ..MemberUpdate::default()
                            },
                            now,
                            event,
                        )
                        .await?;
                    println!("Disabled {email}; their sessions have ended");
                }
            }
        }
        Command::Device { command } => {
            let store = open_store(&config).await?;
            let central = store.central();
            match command {
                DeviceCommand::List { email } => {
                    let user = central
                        .user_by_email(&normalize_email(&email)?)
                        .await?
                        .context("no such user")?;
                    println!(
                        "{:<38} {:<28} {:<28} revoked",
                        "device", "name", "last seen"
                    );
                    for d in central.devices_of(user.id).await? {
                        println!(
                            "{:<38} {:<28} {:<28} {}",
                            d.id.to_string(),
                            d.name.as_deref().unwrap_or("-"),
                            d.last_seen_at.to_rfc3339(),
                            d.revoked_at.map_or("no".into(), |t| t.to_rfc3339())
                        );
                    }
                }
                DeviceCommand::Revoke { device } => {
                    let event = operator(now)
                        .event("device.revoke", Outcome::Success)
                        .entity("device", device)
                        .details(json!({ "via": "cli" }));
                    central.revoke_device(device, now, event).await?;
                    println!("Revoked device {device}; its sessions have ended");
                }
            }
        }
        Command::Audit {
            command: AuditCommand::Verify { tenant },
        } => {
            let store = open_store(&config).await?;
            let reports = match tenant {
                Some(slug) => {
                    let tenant = tenant_by_slug(store.central(), &slug).await?;
                    vec![store.tenant(tenant.id).await?.verify_audit().await?]
                }
                None => routes::verify_all(store.as_ref()).await?,
            };
            let mut broken = false;
            for report in &reports {
                match report.first_broken_seq {
                    None => println!("{}: ok ({} events)", report.chain, report.events),
                    Some(seq) => {
                        broken = true;
                        println!("{}: BROKEN at sequence {seq}", report.chain);
                    }
                }
            }
            if broken {
                std::process::exit(1);
            }
        }
        Command::Release { command } => release(&config, command).await?,
        Command::Config {
            command: ConfigCommand::Default,
        } => print!("{}", config::EXAMPLE),
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            println!(
                "# The configuration in effect: defaults < file < OUTPOST_* < flags. Secrets redacted."
            );
            print!("{}", config.redacted());
        }
    }
    Ok(())
}
