//! Hub configuration: defaults, then a TOML file, then `OUTPOST_*` environment variables and
//! flags (the binary applies those two through clap).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::forwarded::ProxyNet;

/// Environment variables that set configuration keys: `OUTPOST_<KEY>`.
pub const ENV_PREFIX: &str = "OUTPOST_";

/// Everything the hub needs to run. No secrets live here: the master key is a file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain to serve HTTPS with (a clinic without a TLS proxy); with
    /// `tls_key_file`. Both are read again on SIGHUP.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Proxies in front of the hub (addresses or networks): only from these are the
    /// `Forwarded` / `X-Forwarded-For` headers believed, for the address sessions and audit
    /// events record, and their `X-Request-Id` kept.
    pub trusted_proxies: Vec<ProxyNet>,
    /// `text` (default) or `json` (one JSON object per line) log lines.
    pub log_format: LogFormat,
    /// An address of its own for `GET /metrics`, without authentication (reachable by the
    /// monitoring system only).
    pub metrics_listen: Option<SocketAddr>,
    /// A bearer token that opens `GET /metrics` on the API's own address.
    pub metrics_token: Option<Secret>,
    /// Data directory of the embedded backend (with PostgreSQL it holds only the master key
    /// and the published desktop builds).
    pub data_dir: PathBuf,
    /// Where published desktop builds are kept; default `<data_dir>/releases`. Several hub
    /// instances serve the same builds when this is a shared folder.
    pub releases_dir: Option<PathBuf>,
    /// The address clients reach the hub at (`https://hub.clinic.example`), for the download
    /// links of desktop updates; default: the request's host, with the scheme the hub serves.
    /// Set it behind a TLS proxy.
    pub public_url: Option<String>,
    /// The central PostgreSQL database (`postgres://user:password@host/outpost`); unset means
    /// the embedded backend.
    pub database_url: Option<DatabaseUrl>,
    /// PostgreSQL servers tenant databases are placed on; empty means the central database's
    /// server. Each tenant's server is recorded in the central registry.
    pub database_servers: Vec<DatabaseServer>,
    /// A role the hub switches to for requests, without UPDATE/DELETE on audit rows.
    pub database_runtime_role: Option<String>,
    /// Open PostgreSQL connections across all databases.
    pub database_max_connections: usize,
    /// A PostgreSQL connection idle this long is closed.
    pub database_idle_timeout_secs: u64,
    /// PEM file of the authority that signs the PostgreSQL servers' certificates: with it every
    /// connection requires TLS and verifies the server and its host name.
    pub database_tls_ca_file: Option<PathBuf>,
    /// The master key file; default `<data_dir>/master.key`.
    pub master_key_file: Option<PathBuf>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Open client connections at most; past it new connections wait in the listen queue.
    pub max_connections: usize,
    /// Time a client has to send a request's head, from when the connection opens or its
    /// previous answer was sent: slow senders and idle keep-alive connections are closed.
    pub header_read_timeout_secs: u64,
    /// Longest pause allowed between two parts of a request body.
    pub body_read_timeout_secs: u64,
    /// Time to answer a request (503 past it), except the event stream, snapshots, backups,
    /// restores, moves and migrations.
    pub request_timeout_secs: u64,
    /// On SIGTERM, how long requests in flight may take before the hub exits anyway.
    pub shutdown_timeout_secs: u64,
    /// Threads hashing and checking passwords (each takes 19 MiB while it works); default:
    /// the number of cores, at most 8.
    pub password_workers: Option<usize>,
    /// Password checks that may wait for a thread; past it sign-ins are answered 503 with
    /// `Retry-After`.
    pub password_queue: usize,
    /// Largest backup file accepted by `POST /v1/tenants/restore`, in bytes.
    pub restore_limit_bytes: usize,
    /// Lifetime of access tokens.
    pub access_token_ttl_secs: i64,
    /// A session with no activity for this long ends.
    pub session_idle_timeout_secs: i64,
    /// A session ends this long after sign-in, whatever the activity.
    pub session_absolute_timeout_secs: i64,
    /// A spent refresh token presented again this soon, before its successor was used, is a
    /// retry of a lost answer rather than theft: it is answered with the same successor, as
    /// often as it comes. Later, or after the successor was used, it ends the session.
    pub refresh_retry_window_secs: i64,
    /// Sign-ins accepted from one client address per minute (a burst of as many, refilled
    /// evenly); past it 429 with `Retry-After`. 0 turns the limit off.
    pub sign_in_per_minute: u32,
    /// Token refreshes accepted from one client address per minute; 0 turns the limit off.
    pub refresh_per_minute: u32,
    /// Consecutive failed sign-ins that lock an address.
    pub lockout_threshold: u32,
    /// How long a locked address stays locked.
    pub lockout_duration_secs: i64,
    /// How long a client may unlock its cache without contacting the hub.
    pub offline_grant_hours: i64,
    /// How long a hub instance holds an outbox event it is carrying out; past it (the instance
    /// crashed) another instance takes the event over.
    pub outbox_lease_secs: u64,
    /// `iss` of the tokens this hub signs.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert_file: None,
            tls_key_file: None,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Text,
            metrics_listen: None,
            metrics_token: None,
            data_dir: PathBuf::from("outpost-data"),
            releases_dir: None,
            public_url: None,
            database_url: None,
            database_servers: Vec::new(),
            database_runtime_role: None,
            database_max_connections: 64,
            database_idle_timeout_secs: 60,
            database_tls_ca_file: None,
            master_key_file: None,
            body_limit_bytes: 1024 * 1024,
            max_connections: 4096,
            header_read_timeout_secs: 10,
            body_read_timeout_secs: 30,
            request_timeout_secs: 30,
            shutdown_timeout_secs: 30,
            outbox_lease_secs: 30,
            password_workers: None,
            password_queue: 16,
            restore_limit_bytes: 16 * 1024 * 1024 * 1024,
            access_token_ttl_secs: 15 * 60,
            session_idle_timeout_secs: 30 * 60,
            session_absolute_timeout_secs: 12 * 60 * 60,
            refresh_retry_window_secs: 15,
            sign_in_per_minute: 30,
            refresh_per_minute: 120,
            lockout_threshold: 5,
            lockout_duration_secs: 15 * 60,
            offline_grant_hours: 72,
            issuer: "outpost-hub".into(),
            audience: "outpost".into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// A secret (a token) from the configuration: never printed, compared in constant time.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// Whether `presented` is this secret, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        let (a, b) = (Sha256::digest(&self.0), Sha256::digest(presented));
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

/// A PostgreSQL connection URL. It may hold a password, so it never prints.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(…)")
    }
}

/// A PostgreSQL server tenant databases may be placed on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseServer {
    /// The name recorded with each tenant placed here; keep it when the address changes.
    pub name: String,
    /// Connection URL; its database part is ignored (each tenant has its own).
    pub url: DatabaseUrl,
}

/// Keys holding secrets: each may also come from a file named by `OUTPOST_<KEY>_FILE` (a
/// secrets mount), and `config show` never prints them.
pub const SECRET_KEYS: &[&str] = &["database_url", "metrics_token"];

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(Box<figment::Error>),
}

impl HubConfig {
    /// The configuration from defaults, then the TOML file `file`, then `OUTPOST_<KEY>`
    /// environment variables (every key; lists and tables as TOML values, e.g.
    /// `OUTPOST_TRUSTED_PROXIES='["10.0.0.0/8"]'`), then the files `OUTPOST_<KEY>_FILE` names
    /// for secrets. Unknown keys in the file are an error, not silently ignored; the process's
    /// other `OUTPOST_*` variables (the client's, the tests') are not configuration.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(HubConfig::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let keys = Self::keys();
        let known: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| !SECRET_KEYS.contains(k))
            .collect();
        figment = figment.merge(Env::prefixed(ENV_PREFIX).only(&known));
        for key in SECRET_KEYS {
            // Taken as text, never parsed as a TOML value: an all-digit token stays a string,
            // and no parse error can echo it.
            let variable = format!("{ENV_PREFIX}{}", key.to_uppercase());
            if let Ok(secret) = std::env::var(&variable) {
                figment = figment.merge(Serialized::default(key, secret));
            }
            let variable = format!("{ENV_PREFIX}{}_FILE", key.to_uppercase());
            if let Some(path) = std::env::var_os(&variable) {
                let path = PathBuf::from(path);
                let secret = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path, source })?;
                figment = figment.merge(Serialized::default(key, secret.trim_end()));
            }
        }
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// Every configuration key, as the file and `OUTPOST_<KEY>` name them.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(HubConfig::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The configuration as TOML with every secret replaced by `(redacted)`, for
    /// `outpost-hub config show`.
    pub fn redacted(&self) -> String {
        let mut value = match toml::Value::try_from(self) {
            Ok(toml::Value::Table(table)) => table,
            _ => return String::new(),
        };
        let hidden = || toml::Value::String("(redacted)".into());
        for key in SECRET_KEYS {
            if let Some(secret) = value.get_mut(*key) {
                *secret = hidden();
            }
        }
        if let Some(toml::Value::Array(servers)) = value.get_mut("database_servers") {
            for server in servers {
                if let Some(url) = server.get_mut("url") {
                    *url = hidden();
                }
            }
        }
        toml::to_string(&value).unwrap_or_default()
    }

    /// The folder of published desktop builds actually used.
    pub fn releases_path(&self) -> PathBuf {
        self.releases_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("releases"))
    }

    /// The master key file actually used.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }
}

/// A documented example configuration (`outpost-hub config default`).
pub const EXAMPLE: &str = r#"# Outpost hub configuration. Every key is optional; shown are the defaults.
# Precedence: these defaults < this file < OUTPOST_<KEY> environment variables < flags.
# Every key can be set in the environment (OUTPOST_BODY_LIMIT_BYTES=2097152; lists as TOML:
# OUTPOST_TRUSTED_PROXIES='["10.0.0.0/8"]'), and the secrets (database_url, metrics_token)
# also from a file: OUTPOST_DATABASE_URL_FILE=/run/secrets/outpost-db-url.
# `outpost-hub config show` prints the configuration in effect, secrets redacted.

# Address to listen on (OUTPOST_LISTEN, --listen).
listen = "127.0.0.1:8080"
# Serve HTTPS directly (a clinic without a TLS proxy): the certificate chain and its key, in
# PEM. Both are read again when the hub receives SIGHUP (renewed certificates).
# tls_cert_file = "/etc/outpost/tls/hub.crt"
# tls_key_file = "/etc/outpost/tls/hub.key"
# Proxies in front of the hub, by address or network: the client address sessions and audit
# events record comes from Forwarded / X-Forwarded-For only when one of these sent the request,
# and so does a request id (X-Request-Id) the hub keeps rather than makes.
trusted_proxies = []
# Log lines as text or as one JSON object per line ("json"). RUST_LOG sets the levels.
log_format = "text"
# GET /metrics (Prometheus text): on an address of its own, without authentication
# (metrics_listen = "127.0.0.1:9090"), or on the API's address to the bearer of a token
# (metrics_token; OUTPOST_METRICS_TOKEN). Neither: not served.
# metrics_listen = "127.0.0.1:9090"
# metrics_token = "a long random string"
# Data directory of the embedded backend (OUTPOST_DATA_DIR, --data-dir).
data_dir = "outpost-data"
# Published desktop builds (`outpost-hub release add`); default <data_dir>/releases. A shared
# folder when several hub instances serve the same clients.
# releases_dir = "/var/lib/outpost-hub/releases"
# The address clients use to reach the hub, for the download links of desktop updates; by
# default the request's host with the scheme the hub serves. Set it behind a TLS proxy.
# public_url = "https://hub.clinic.example"
# PostgreSQL instead of the embedded backend: the central database (OUTPOST_DATABASE_URL,
# --database-url). It is created if missing; tenants get a database each.
# database_url = "postgres://outpost:secret@db1.internal/outpost"
# Servers tenant databases are placed on (new tenants go to the one with the fewest); by
# default the central database's server, named "main". In the environment:
# OUTPOST_DATABASE_SERVERS='[{name = "db1", url = "postgres://…"}]'.
# database_servers = []
# [[database_servers]]
# name = "db1"
# url = "postgres://outpost:secret@db1.internal/postgres"
# A role without UPDATE/DELETE on audit rows that requests run as (SET ROLE after connecting).
# database_runtime_role = "outpost_app"
# Open PostgreSQL connections across every database, and when an idle one is closed.
database_max_connections = 64
database_idle_timeout_secs = 60
# TLS to PostgreSQL: the PEM certificate(s) of the authority that signs the servers'
# certificates. With it every connection requires TLS and checks the server's certificate and
# host name (use the names in the certificates in the URLs); without it connections are plain.
# database_tls_ca_file = "/etc/outpost/db-ca.pem"
# Master key file; default <data_dir>/master.key. Keep it on another volume or in a secret
# store mount in production (OUTPOST_MASTER_KEY_FILE, --master-key-file).
# master_key_file = "/run/secrets/outpost-master.key"
# Largest accepted request body in bytes.
body_limit_bytes = 1048576
# Open client connections at most (each event stream holds one); past it new connections
# wait in the listen queue. Keep the process's open-file limit above it.
max_connections = 4096
# Seconds a client has to send a request's head, counted from the connection's opening or its
# previous answer: slow senders and idle keep-alive connections are closed after it.
header_read_timeout_secs = 10
# Longest pause (seconds) between two parts of a request body.
body_read_timeout_secs = 30
# Seconds to answer a request, else 503 (the event stream, snapshots, backups, restores, moves
# and migrations have no such deadline).
request_timeout_secs = 30
# On SIGTERM: seconds requests in flight may take before the hub exits anyway.
shutdown_timeout_secs = 30
# Threads that hash and check passwords (19 MiB each while working); default: the cores, at
# most 8. Checks beyond those wait in a queue of password_queue; past it sign-in answers 503
# with Retry-After.
# password_workers = 2
password_queue = 16
# Largest backup file POST /v1/tenants/restore accepts, in bytes (16 GiB). It is spooled to a
# temporary file in data_dir before it is read.
restore_limit_bytes = 17179869184
# Access token lifetime (seconds).
access_token_ttl_secs = 900
# Idle and absolute session lifetimes (seconds).
session_idle_timeout_secs = 1800
session_absolute_timeout_secs = 43200
# A spent refresh token presented again within this many seconds, before its successor was
# used, is treated as a retry of a lost answer (a dropped link mid-refresh) and answered with
# the same successor, however often; later, or once the successor was used, it ends the session.
refresh_retry_window_secs = 15
# Sign-ins and token refreshes accepted from one client address per minute (a burst of as
# many, refilled evenly); beyond, 429 with Retry-After. 0 turns a limit off. A clinic whose
# workstations share one public address behind NAT needs the sign-in limit above its staff.
sign_in_per_minute = 30
refresh_per_minute = 120
# Failed sign-ins before an address is locked, and for how long (seconds).
lockout_threshold = 5
lockout_duration_secs = 900
# How long a desktop client may unlock its cache offline (hours).
offline_grant_hours = 72
# Seconds a hub instance holds a transport step (publish, accept, cancel) it carries out; a
# crashed instance's steps are taken over by another after it.
outbox_lease_secs = 30
# Token issuer and audience.
issuer = "outpost-hub"
audience = "outpost"
"#;

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment::Jail's closures return figment's own (large) error type"
)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_to_the_defaults_and_documents_every_key() {
        let parsed: HubConfig = toml::from_str(EXAMPLE).expect("example parses");
        assert_eq!(
            toml::to_string(&parsed).expect("toml"),
            toml::to_string(&HubConfig::default()).expect("toml")
        );
        for key in HubConfig::keys() {
            assert!(
                EXAMPLE.contains(&format!("\n{key} = "))
                    || EXAMPLE.contains(&format!("\n# {key} = ")),
                "`{key}` is not in the example"
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<HubConfig>("listn = \"x\"").is_err());
    }

    #[test]
    fn the_file_the_environment_and_secret_files_layer_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hub.toml",
                "listen = \"127.0.0.1:9000\"\nbody_limit_bytes = 10\nlog_format = \"json\"",
            )?;
            jail.create_file("token", "s3cret token\n")?;
            jail.set_env("OUTPOST_BODY_LIMIT_BYTES", "20");
            jail.set_env("OUTPOST_TRUSTED_PROXIES", "[\"10.0.0.0/8\", \"127.0.0.1\"]");
            jail.set_env("OUTPOST_METRICS_TOKEN_FILE", "token");
            jail.set_env("OUTPOST_HOME", "/not/a/hub/key");
            let config = HubConfig::load(Some(Path::new("hub.toml"))).expect("load");
            assert_eq!(config.listen.port(), 9000, "from the file");
            assert_eq!(
                config.body_limit_bytes, 20,
                "the environment wins over the file"
            );
            assert_eq!(config.log_format, LogFormat::Json);
            assert_eq!(config.trusted_proxies.len(), 2);
            assert!(
                config
                    .metrics_token
                    .as_ref()
                    .is_some_and(|t| t.matches("s3cret token"))
            );
            let shown = config.redacted();
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("metrics_token = \"(redacted)\""), "{shown}");
            Ok(())
        });
    }

    /// A value other than the default for every key, as its environment variable holds it.
    const FROM_ENVIRONMENT: &[(&str, &str)] = &[
        ("listen", "127.0.0.1:9999"),
        ("tls_cert_file", "/etc/outpost/hub.crt"),
        ("tls_key_file", "/etc/outpost/hub.key"),
        ("trusted_proxies", "[\"10.0.0.0/8\"]"),
        ("log_format", "json"),
        ("metrics_listen", "127.0.0.1:9100"),
        ("metrics_token", "scrape"),
        ("data_dir", "/srv/outpost"),
        ("releases_dir", "/srv/outpost-releases"),
        ("public_url", "https://hub.example"),
        ("database_url", "postgres://outpost@db/outpost"),
        (
            "database_servers",
            "[{name = \"db1\", url = \"postgres://outpost@db1/postgres\"}]",
        ),
        ("database_runtime_role", "outpost_app"),
        ("database_max_connections", "10"),
        ("database_idle_timeout_secs", "5"),
        ("database_tls_ca_file", "/etc/outpost/db-ca.pem"),
        ("master_key_file", "/run/secrets/master.key"),
        ("body_limit_bytes", "2048"),
        ("restore_limit_bytes", "4096"),
        ("max_connections", "10"),
        ("header_read_timeout_secs", "3"),
        ("body_read_timeout_secs", "4"),
        ("request_timeout_secs", "5"),
        ("shutdown_timeout_secs", "6"),
        ("password_workers", "3"),
        ("password_queue", "7"),
        ("access_token_ttl_secs", "60"),
        ("session_idle_timeout_secs", "61"),
        ("session_absolute_timeout_secs", "62"),
        ("refresh_retry_window_secs", "9"),
        ("sign_in_per_minute", "11"),
        ("refresh_per_minute", "12"),
        ("lockout_threshold", "3"),
        ("lockout_duration_secs", "63"),
        ("offline_grant_hours", "24"),
        ("outbox_lease_secs", "8"),
        ("issuer", "hub-x"),
        ("audience", "aud-x"),
    ];

    #[test]
    fn every_key_is_settable_from_the_environment() {
        let keys = HubConfig::keys();
        for key in &keys {
            assert!(
                FROM_ENVIRONMENT.iter().any(|(k, _)| k == key),
                "no environment test for `{key}`"
            );
        }
        figment::Jail::expect_with(|jail| {
            for (key, value) in FROM_ENVIRONMENT {
                jail.set_env(format!("OUTPOST_{}", key.to_uppercase()), value);
            }
            let loaded = serde_json::to_value(HubConfig::load(None).expect("load")).expect("json");
            let default = serde_json::to_value(HubConfig::default()).expect("json");
            for key in &keys {
                assert_ne!(
                    loaded[key],
                    default[key],
                    "OUTPOST_{} was not taken",
                    key.to_uppercase()
                );
            }
            Ok(())
        });
    }

    #[test]
    fn an_all_digit_secret_from_the_environment_stays_text() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OUTPOST_METRICS_TOKEN", "123456");
            let config = HubConfig::load(None).expect("load");
            assert!(config.metrics_token.is_some_and(|t| t.matches("123456")));
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_in_the_file_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hub.toml", "listn = \"127.0.0.1:9000\"")?;
            assert!(HubConfig::load(Some(Path::new("hub.toml"))).is_err());
            Ok(())
        });
    }
}
