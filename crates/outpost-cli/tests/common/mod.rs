//! A real hub that can be stopped and started again on the same port and data directory (so
//! that clients see it go away and come back), and clients over their own directories and
//! the real OS keyring (Secret Service; the test command runs under `dbus-run-session` with
//! gnome-keyring).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, Utc};
use tokio::sync::oneshot;

use outpost_client::{Client, ClientOptions, Clock, Home};
use outpost_domain::audit::Actor;
use outpost_domain::patient::PatientFields;
use outpost_domain::tenant::{NewTenant, Tenant};
use outpost_domain::{Role, TenantKind};
use outpost_hub::accounts::{ExistingEmail, NewAccount, add_member};
use outpost_hub::{HubConfig, HubState, SystemClock};
use outpost_store::Store;
use outpost_store_sqlite::SqliteStore;

pub const PASSWORD: &str = "a long enough password";

/// The domain's manual clock, under the name these tests use.
pub type FakeClock = outpost_domain::clock::ManualClock;

pub struct Hub {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// The certificate and key it serves HTTPS with, if any.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub store: Option<Arc<SqliteStore>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Hub {
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// A new hub on an ephemeral port.
    pub async fn start() -> Self {
        Self::start_with_tls(None).await
    }

    /// A new hub serving HTTPS with `tls` (certificate and key files) when given.
    pub async fn start_with_tls(tls: Option<(PathBuf, PathBuf)>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        SqliteStore::create(&data, &data.join("master.key")).expect("create");
        let mut hub = Self {
            dir,
            tls,
            addr: "127.0.0.1:0".parse().expect("addr"),
            store: None,
            stop: None,
            task: None,
        };
        hub.resume().await;
        hub
    }

    /// Starts serving again on the same port and data directory.
    pub async fn resume(&mut self) {
        let data = self.data();
        let store = Arc::new(SqliteStore::open(&data, &data.join("master.key")).expect("open"));
        let config = HubConfig {
            data_dir: data,
            tls_cert_file: self.tls.as_ref().map(|t| t.0.clone()),
            tls_key_file: self.tls.as_ref().map(|t| t.1.clone()),
            ..HubConfig::default()
        };
        let state = HubState::load(store.clone(), config, Arc::new(SystemClock))
            .await
            .expect("state");
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind");
        self.addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        self.task = Some(tokio::spawn(outpost_hub::serve(listener, state, async {
            let _ = rx.await;
        })));
        self.stop = Some(tx);
        self.store = Some(store);
    }

    /// Stops serving; the port is free until `resume`.
    pub async fn pause(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("serve");
        }
        self.store = None;
    }

    pub fn store(&self) -> &SqliteStore {
        self.store.as_ref().expect("hub running")
    }

    pub async fn tenant(&self, slug: &str, kind: TenantKind) -> Tenant {
        let new = NewTenant {
            slug: slug.into(),
            name: slug.into(),
            kind,
        };
        let event = Actor::system(Utc::now())
            .event("tenant.create", outpost_domain::audit::Outcome::Success);
        self.store()
            .provision_tenant(&new, event)
            .await
            .expect("tenant")
    }

    pub async fn user(&self, tenant: &Tenant, role: Role) -> String {
        let email = format!("{}.{}@test.example", role.as_str(), uuid_like());
        add_member(
            self.store(),
            &outpost_hub::passwords::PasswordWork::start(1, 1),
            Some(tenant),
            NewAccount {
                email: email.clone(),
                full_name: format!("Test {role}"),
                role,
                password: PASSWORD.into(),
            },
            ExistingEmail::Refuse,
            &Actor::system(Utc::now()),
        )
        .await
        .expect("user");
        email
    }

    /// Seeds synthetic patients straight into the tenant's store; while the hub is paused,
    /// into its files (as another hub instance would), with no announcement to anyone.
    pub async fn patients(
        &self,
        tenant: &Tenant,
        prefix: &str,
        count: usize,
    ) -> Vec<outpost_domain::patient::Patient> {
        let batch: Vec<PatientFields> =
            outpost_hub::demo::patients(7, prefix, count, Utc::now().date_naive());
        let mut actor = Actor::system(Utc::now());
        actor.tenant_id = Some(tenant.id);
        let data = self.data();
        let paused;
        let store = match &self.store {
            Some(store) => store.as_ref(),
            None => {
                paused = SqliteStore::open(&data, &data.join("master.key")).expect("open");
                &paused
            }
        };
        store
            .tenant(tenant.id)
            .await
            .expect("store")
            .create_patients(batch, &actor)
            .await
            .expect("seed")
    }
}

/// A TCP relay in front of the hub that can hold the hub's answers: a slow link, for tests that
/// need a sync to be under way while the client does something else (fault injection).
pub struct Relay {
    pub addr: SocketAddr,
    open: tokio::sync::watch::Sender<bool>,
    held: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (open, _) = tokio::sync::watch::channel(true);
        let held = Arc::new(tokio::sync::Notify::new());
        let (gate, notify) = (open.subscribe(), held.clone());
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                    continue;
                };
                let (mut down_read, down_write) = down.into_split();
                let (up_read, mut up_write) = up.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut down_read, &mut up_write).await;
                });
                tokio::spawn(answers(up_read, down_write, gate.clone(), notify.clone()));
            }
        });
        Self {
            addr,
            open,
            held,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds the hub's answers from now on, until [`Relay::release`].
    pub fn hold(&self) {
        self.open.send_replace(false);
    }

    pub fn release(&self) {
        self.open.send_replace(true);
    }

    /// Waits until an answer of the hub is being held.
    pub async fn holding(&self) {
        self.held.notified().await;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies the hub's answers to the client, waiting while the relay holds them.
async fn answers(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut open: tokio::sync::watch::Receiver<bool>,
    held: Arc<tokio::sync::Notify>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !*open.borrow_and_update() {
            held.notify_one();
            if open.wait_for(|open| *open).await.is_err() {
                break;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

pub fn uuid_like() -> String {
    outpost_domain::OpId::generate()
        .to_string()
        .replace('-', "")
}

/// A client over its own directory.
pub fn client(home: &std::path::Path, clock: Arc<dyn Clock>) -> Client {
    Client::new(ClientOptions {
        home: Home::new(home),
        idle_timeout: Duration::minutes(10),
        clock,
        device_name: Some("test laptop".into()),
    })
    .expect("client")
}

pub fn no_progress() -> impl FnMut(outpost_client::MirrorProgress) + Send {
    |_| {}
}

/// The `outpost` binary over the client directory `home`.
pub fn outpost(home: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_outpost"));
    cmd.arg("--home").arg(home);
    cmd
}

/// Starts `cmd --password-stdin` and feeds it the password; its output is kept when `output`.
pub fn spawn_with_password(cmd: &mut std::process::Command, output: bool) -> std::process::Child {
    use std::io::Write;
    use std::process::Stdio;
    let pipe = || {
        if output {
            Stdio::piped()
        } else {
            Stdio::null()
        }
    };
    let mut child = cmd
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(pipe())
        .stderr(pipe())
        .spawn()
        .expect("spawn outpost");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password");
    child
}

/// Runs `outpost --json ARGS --password-stdin` over `home` and answers whether it succeeded,
/// with its JSON (or the error's).
pub fn run(home: &std::path::Path, args: &[&str]) -> (bool, serde_json::Value) {
    let out = spawn_with_password(outpost(home).arg("--json").args(args), true)
        .wait_with_output()
        .expect("outpost");
    let text = if out.status.success() {
        out.stdout
    } else {
        out.stderr
    };
    let value = serde_json::from_slice(&text)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&text)));
    (out.status.success(), value)
}

/// A certificate authority made for one test, and the hub's certificate it signed (for
/// `localhost` and 127.0.0.1), as PEM files.
pub struct TestAuthority {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TestAuthority {
    pub fn new(dir: &std::path::Path) -> Self {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Outpost test hospital authority");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key"))
            .expect("authority");
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("certificate");
        let authority = Self {
            ca_file: dir.join("hospital-ca.pem"),
            cert_file: dir.join("hub.crt"),
            key_file: dir.join("hub.key"),
        };
        std::fs::write(&authority.ca_file, ca.pem()).expect("write");
        std::fs::write(&authority.cert_file, cert.pem()).expect("write");
        std::fs::write(&authority.key_file, key.serialize_pem()).expect("write");
        authority
    }

    /// The hub's certificate and key, for [`Hub::start_with_tls`].
    pub fn hub_files(&self) -> Option<(PathBuf, PathBuf)> {
        Some((self.cert_file.clone(), self.key_file.clone()))
    }
}

/// An HTTP client for talking to the hub directly. reqwest is built with rustls and no crypto
/// provider of its own (the client core configures ring itself), so the process gets ring's as
/// its default first.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
