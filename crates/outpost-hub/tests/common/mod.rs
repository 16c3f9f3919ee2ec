//! A real hub on an ephemeral port over a fresh store, with a clock the test moves by hand.
//!
//! The store is the embedded backend (a fresh encrypted data directory) unless
//! `OUTPOST_TEST_BACKEND=postgres`: then freshly created databases on the test server
//! (`OUTPOST_TEST_POSTGRES`), dropped when the hub is dropped, passing or not. The test
//! command runs these tests once per backend.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use outpost_domain::audit::Actor;
use outpost_domain::tenant::{NewTenant, Tenant};
use outpost_domain::{Role, TenantKind};
use outpost_hub::accounts::{ExistingEmail, NewAccount, add_member};
use outpost_hub::{AppState, Clock, HubConfig, HubState};
use outpost_store::Store;
use outpost_store_postgres::RouterLimits;
use outpost_store_postgres::testing as pg;
use outpost_store_sqlite::SqliteStore;

/// The domain's manual clock, under the name these tests use.
pub type FakeClock = outpost_domain::clock::ManualClock;

/// Which store a test hub runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// The central database's name; tenant databases start with it.
    Postgres(String),
}

impl Backend {
    /// The backend the test run asks for.
    pub fn from_env() -> Self {
        match std::env::var("OUTPOST_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres(pg::unique_name()),
            Ok("sqlite") | Err(_) => Backend::Embedded,
            Ok(other) => panic!("OUTPOST_TEST_BACKEND={other}: expected sqlite or postgres"),
        }
    }
}

pub struct TestHub {
    pub url: String,
    pub addr: SocketAddr,
    pub clock: FakeClock,
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    /// Whether dropping this hub drops its databases (not for a second instance).
    owns_store: bool,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

pub const PASSWORD: &str = "a long enough password";

impl TestHub {
    pub async fn start() -> Self {
        Self::start_with(HubConfig::default()).await
    }

    pub async fn start_with(config: HubConfig) -> Self {
        Self::start_on(Backend::from_env(), config).await
    }

    /// A hub on the given backend, owning its store (dropped with the hub).
    pub async fn start_on(backend: Backend, mut config: HubConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        config.data_dir = dir.path().join("data");
        let store: Arc<dyn Store> = match &backend {
            Backend::Embedded => Arc::new(
                SqliteStore::create(&config.data_dir, &config.master_key_path()).expect("store"),
            ),
            Backend::Postgres(name) if !config.database_servers.is_empty() => {
                // Through the hub's own reading of the configuration.
                let url = outpost_hub::config::DatabaseUrl(pg::url(name));
                config.database_url = Some(url.clone());
                std::fs::create_dir_all(&config.data_dir).expect("data dir");
                let options =
                    outpost_hub::backend::postgres_options(&config, &url).expect("options");
                let master = outpost_store::keys::MasterKey::create(&config.master_key_path())
                    .expect("master key");
                Arc::new(
                    outpost_store_postgres::PostgresStore::open(options, master)
                        .await
                        .expect("store"),
                )
            }
            Backend::Postgres(name) => {
                std::fs::create_dir_all(&config.data_dir).expect("data dir");
                Arc::new(pg::open(name, &config.master_key_path(), RouterLimits::default()).await)
            }
        };
        Self::serve_store(store, backend, dir, config, true).await
    }

    /// A second hub instance on this one's PostgreSQL databases (same master key), as a
    /// deployment with several instances behind a load balancer runs.
    pub async fn another_instance(&self) -> Self {
        let Backend::Postgres(name) = &self.backend else {
            panic!("several instances share PostgreSQL databases only");
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = self.state.config.clone();
        config.data_dir = dir.path().join("data");
        std::fs::create_dir_all(&config.data_dir).expect("data dir");
        std::fs::copy(
            self.state.config.master_key_path(),
            config.master_key_path(),
        )
        .expect("master key");
        let store =
            Arc::new(pg::open(name, &config.master_key_path(), RouterLimits::default()).await);
        Self::serve_store(store, self.backend.clone(), dir, config, false).await
    }

    async fn serve_store(
        store: Arc<dyn Store>,
        backend: Backend,
        dir: tempfile::TempDir,
        config: HubConfig,
        owns_store: bool,
    ) -> Self {
        let clock = FakeClock::starting_now();
        let state = HubState::load(store.clone(), config, Arc::new(clock.clone()))
            .await
            .expect("state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(outpost_hub::serve(listener, state.clone(), async {
            let _ = rx.await;
        }));
        let hub = Self {
            url: format!("http://{addr}"),
            addr,
            clock,
            store,
            backend,
            owns_store,
            state,
            dir,
            http: http_client(),
            shutdown: Some(tx),
            server: Some(server),
        };
        // Readiness: the listener is bound before serve() runs, so one request suffices.
        let health = hub
            .http
            .get(format!("{}/healthz", hub.url))
            .send()
            .await
            .expect("healthz");
        assert_eq!(health.status(), StatusCode::OK);
        hub
    }

    pub async fn stop(mut self) {
        self.stop_serving().await;
    }

    /// Stops serving (and the outbox worker) but keeps the databases, for another process
    /// to serve them.
    pub async fn stop_serving(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("join").expect("serve");
        }
    }
}

impl Drop for TestHub {
    /// Drops a PostgreSQL hub's databases, whether the test passed or not (from a thread of
    /// its own: this may run inside the test's runtime).
    fn drop(&mut self) {
        if let (Backend::Postgres(name), true) = (&self.backend, self.owns_store) {
            let name = name.clone();
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(pg::cleanup(&name));
            })
            .join();
            if dropped.is_err() && !std::thread::panicking() {
                panic!("the test databases could not be dropped");
            }
        }
    }
}

impl TestHub {
    /// The arguments that point an `outpost-hub` command at this hub's store.
    pub fn store_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_owned(),
            self.dir.path().join("data").display().to_string(),
        ];
        if let Backend::Postgres(name) = &self.backend {
            args.push("--database-url".to_owned());
            args.push(pg::url(name));
        }
        args
    }

    pub fn actor(&self) -> Actor {
        Actor::system(self.clock.now())
    }

    pub async fn tenant(&self, slug: &str, kind: TenantKind) -> Tenant {
        let new = NewTenant {
            slug: slug.into(),
            name: format!("{slug} name"),
            kind,
        };
        let event = self
            .actor()
            .event("tenant.create", outpost_domain::audit::Outcome::Success);
        self.store
            .provision_tenant(&new, event)
            .await
            .expect("tenant")
    }

    /// Creates a user with `role` in `tenant` and returns the e-mail.
    pub async fn user(&self, tenant: Option<&Tenant>, role: Role) -> String {
        let email = format!(
            "{}.{}@test.example",
            role.as_str(),
            uuid::Uuid::now_v7().simple()
        );
        add_member(
            self.store.as_ref(),
            &self.state.passwords,
            tenant,
            NewAccount {
                email: email.clone(),
                full_name: format!("Test {role}"),
                role,
                password: PASSWORD.into(),
            },
            ExistingEmail::Refuse,
            &self.actor(),
        )
        .await
        .expect("user");
        email
    }

    pub async fn login_raw(&self, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/auth/login", None, Some(body))
            .await
    }

    /// Signs in and returns the whole answer.
    pub async fn login(&self, email: &str, tenant: Option<&str>) -> Value {
        let (status, body) = self
            .login_raw(json!({ "email": email, "password": PASSWORD, "tenant": tenant }))
            .await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body
    }

    /// Signs in and returns the access token.
    pub async fn token(&self, email: &str) -> String {
        self.login(email, None).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A user with `role` in `tenant`, signed in.
    pub async fn signed_in(&self, tenant: Option<&Tenant>, role: Role) -> String {
        let email = self.user(tenant, role).await;
        self.token(&email).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Presents a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({ "refresh_token": refresh_token })),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Every live patient of a tenant, read straight from its store.
    pub async fn patient_count(&self, tenant: &Tenant) -> usize {
        let page = self
            .store
            .tenant(tenant.id)
            .await
            .expect("tenant store")
            .search_patients(
                &outpost_store::PatientQuery {
                    q: None,
                    limit: 10_000,
                    after: None,
                },
                &self.actor(),
            )
            .await
            .expect("search");
        page.items.len()
    }

    /// How many history rows a tenant holds, counted through the patient report of each.
    pub async fn audit_events(&self, tenant: &Tenant) -> i64 {
        self.store
            .tenant(tenant.id)
            .await
            .expect("tenant store")
            .verify_audit()
            .await
            .expect("verify")
            .events
    }
}

impl TestHub {
    /// How many tenant databases exist (files, or databases on the server).
    pub async fn tenant_databases(&self) -> usize {
        match &self.backend {
            Backend::Embedded => std::fs::read_dir(self.dir.path().join("data/tenants"))
                .expect("tenants dir")
                .count(),
            Backend::Postgres(name) => pg::databases(&format!("{name}_")).await.len(),
        }
    }

    /// Runs `sql` on a tenant's database directly, as someone holding the master key (files)
    /// or the server's superuser would, bypassing the hub. Returns the first column of every
    /// row, or the database's refusal.
    pub async fn raw_tenant_sql(
        &self,
        tenant: outpost_domain::TenantId,
        sql: &str,
    ) -> Result<Vec<String>, String> {
        match &self.backend {
            Backend::Embedded => {
                let conn = open_tenant_file(self, tenant);
                let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .map_err(|e| e.to_string())?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(|e| e.to_string())
            }
            Backend::Postgres(name) => {
                let database = pg::tenant_database(name, tenant).await;
                let client = pg::connect(&database).await;
                let rows = client.query(sql, &[]).await.map_err(|e| e.to_string())?;
                Ok(rows
                    .iter()
                    .filter_map(|r| r.try_get::<_, String>(0).ok())
                    .collect())
            }
        }
    }

    /// An insider with direct database access switches off the append-only guard and
    /// rewrites audit event `seq` of a tenant.
    pub async fn tamper_with_audit_event(&self, tenant: outpost_domain::TenantId, seq: i64) {
        let sql = match &self.backend {
            Backend::Embedded => format!(
                "DROP TRIGGER audit_events_no_update;                  UPDATE audit_events SET actor_user_id = NULL WHERE seq = {seq}"
            ),
            Backend::Postgres(_) => format!(
                "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change;                  UPDATE audit_events SET actor_user_id = NULL WHERE seq = {seq};                  ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change"
            ),
        };
        match &self.backend {
            Backend::Embedded => open_tenant_file(self, tenant)
                .execute_batch(&sql)
                .expect("tamper"),
            Backend::Postgres(name) => pg::connect(&pg::tenant_database(name, tenant).await)
                .await
                .batch_execute(&sql)
                .await
                .expect("tamper"),
        }
    }
}

/// Opens a tenant's file the way an attacker with the master key would, bypassing the hub.
fn open_tenant_file(hub: &TestHub, tenant: outpost_domain::TenantId) -> rusqlite::Connection {
    use outpost_store_sqlite::{MasterKey, open_encrypted};
    let data = hub.dir.path().join("data");
    let master = MasterKey::load(&data.join("master.key")).expect("master key");
    let central = open_encrypted(&data.join("central.db"), &master.central_key()).expect("central");
    let wrapped: Vec<u8> = central
        .query_row(
            "SELECT wrapped_key FROM tenants WHERE id = ?1",
            [tenant.to_string()],
            |r| r.get(0),
        )
        .expect("wrapped key");
    let key = master.unwrap(tenant, &wrapped).expect("unwrap");
    open_encrypted(&data.join(format!("tenants/{tenant}.db")), &key).expect("tenant file")
}

/// A valid new-patient body.
pub fn patient_body(mrn: &str, given: &str, family: &str) -> Value {
    json!({
        "mrn": mrn, "given_name": given, "family_name": family,
        "birth_date": "1970-03-14", "sex": "female", "phone": "+1 555 0100",
        "hypertension": false, "bmi": 24.5, "smoking_status": "never_smoked", "stroke": false
    })
}

/// The same without clinical fields.
pub fn demographics_body(mrn: &str, given: &str, family: &str) -> Value {
    json!({
        "mrn": mrn, "given_name": given, "family_name": family,
        "birth_date": "1982-07-01", "sex": "male"
    })
}

impl TestHub {
    /// Makes a tenant's database unusable behind the hub's back: its file overwritten, or its
    /// database dropped on the server.
    pub async fn break_tenant_database(&self, tenant: outpost_domain::TenantId) {
        match &self.backend {
            Backend::Embedded => std::fs::write(
                self.dir.path().join(format!("data/tenants/{tenant}.db")),
                b"not a database",
            )
            .expect("overwrite"),
            Backend::Postgres(name) => {
                let database = pg::tenant_database(name, tenant).await;
                outpost_store_postgres::admin::drop_database(
                    &pg::connect("postgres").await,
                    &database,
                )
                .await
                .expect("drop");
            }
        }
    }

    /// Runs an `outpost-hub` command against this hub's store.
    pub fn command(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_outpost-hub"))
            .args(args)
            .args(self.store_args())
            .output()
            .expect("run outpost-hub")
    }
}

impl TestHub {
    /// The actions of the central audit chain in order, read straight from the database.
    /// The embedded backend's `central.db`, opened with its key straight from the file.
    fn open_central_file(&self) -> rusqlite::Connection {
        use outpost_store_sqlite::{MasterKey, open_encrypted};
        let data = self.dir.path().join("data");
        let master = MasterKey::load(&data.join("master.key")).expect("master key");
        open_encrypted(&data.join("central.db"), &master.central_key()).expect("central")
    }

    /// Every row of every table of the central database as text (blobs in hex), read straight
    /// from the database: what an insider with the central database would see.
    pub async fn raw_central_dump(&self) -> String {
        match &self.backend {
            Backend::Embedded => {
                use rusqlite::types::ValueRef;
                let central = self.open_central_file();
                let tables: Vec<String> = central
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .expect("prepare")
                    .query_map([], |r| r.get(0))
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("tables");
                let mut dump = String::new();
                for table in tables {
                    let mut stmt = central
                        .prepare(&format!("SELECT * FROM \"{table}\""))
                        .expect("prepare");
                    let columns = stmt.column_count();
                    let mut rows = stmt.query([]).expect("rows");
                    while let Some(row) = rows.next().expect("row") {
                        for i in 0..columns {
                            let text = match row.get_ref(i).expect("value") {
                                ValueRef::Null => String::new(),
                                ValueRef::Integer(n) => n.to_string(),
                                ValueRef::Real(x) => x.to_string(),
                                ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                                ValueRef::Blob(b) => hex::encode(b),
                            };
                            dump.push_str(&text);
                            dump.push('\t');
                        }
                        dump.push('\n');
                    }
                }
                dump
            }
            Backend::Postgres(name) => {
                let client = pg::connect(name).await;
                let tables: Vec<String> = client
                    .query(
                        "SELECT table_name::text FROM information_schema.tables \
                         WHERE table_schema = 'public'",
                        &[],
                    )
                    .await
                    .expect("tables")
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let mut dump = String::new();
                for table in tables {
                    for row in client
                        .query(&format!("SELECT t::text FROM \"{table}\" t"), &[])
                        .await
                        .expect("rows")
                    {
                        dump.push_str(row.get::<_, &str>(0));
                        dump.push('\n');
                    }
                }
                dump
            }
        }
    }

    pub async fn raw_central_actions(&self) -> Vec<String> {
        match &self.backend {
            Backend::Embedded => {
                let central = self.open_central_file();
                let mut stmt = central
                    .prepare("SELECT action FROM audit_events ORDER BY seq")
                    .expect("prepare");
                stmt.query_map([], |r| r.get(0))
                    .expect("query")
                    .collect::<Result<Vec<String>, _>>()
                    .expect("rows")
            }
            Backend::Postgres(name) => pg::connect(name)
                .await
                .query("SELECT action FROM audit_events ORDER BY seq", &[])
                .await
                .expect("query")
                .iter()
                .map(|r| r.get(0))
                .collect(),
        }
    }
}

/// An HTTP client for talking to the hub directly. reqwest is built with rustls and no crypto
/// provider of its own (the client core configures ring itself), so the process gets ring's as
/// its default first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
