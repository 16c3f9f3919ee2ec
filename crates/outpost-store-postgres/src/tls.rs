//! How the hub's connections to PostgreSQL travel: in plain text (servers on a private
//! network), or over TLS verified against a configured certificate authority.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use outpost_store::{StoreError, StoreResult};

use crate::OrBackend;

/// The transport of every connection the router opens.
#[derive(Clone)]
pub enum Transport {
    Plain,
    /// TLS required (no fallback to plain text), the server's certificate checked against the
    /// configured authorities and the host name it was reached by.
    Tls(MakeRustlsConnect),
}

impl Transport {
    /// TLS trusting the PEM certificates in `ca_file` (only those: not the system's roots,
    /// since database servers carry certificates of the operator's own authority).
    pub fn tls_from_ca_file(ca_file: &Path) -> StoreResult<Self> {
        let unreadable = |what: &str| {
            StoreError::Corrupt(format!(
                "database TLS authority {}: {what}",
                ca_file.display()
            ))
        };
        let pem = std::fs::read(ca_file).map_err(|e| unreadable(&e.to_string()))?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|_| unreadable("not PEM certificates"))?;
            roots
                .add(cert)
                .map_err(|_| unreadable("a certificate cannot serve as an authority"))?;
        }
        if roots.is_empty() {
            return Err(unreadable("holds no certificate"));
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|_| unreadable("no TLS version available"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
        Ok(Transport::Tls(MakeRustlsConnect::new(config)))
    }

    /// Makes `config` refuse a server that does not speak TLS, when TLS is on.
    pub fn require(&self, config: &mut Config) {
        if matches!(self, Transport::Tls(_)) {
            config.ssl_mode(SslMode::Require);
        }
    }

    /// Connects and hands the connection to `drive`, which runs it to its end on a task of
    /// its own (the driver differs for the listener, which reads notifications).
    pub async fn connect<D, F>(
        &self,
        config: &Config,
        drive: D,
    ) -> StoreResult<(Client, JoinHandle<()>)>
    where
        D: FnOnce(Driver) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        Ok(match self {
            Transport::Plain => {
                let (client, connection) = config.connect(NoTls).await.db()?;
                (client, tokio::spawn(drive(Driver::new(connection))))
            }
            Transport::Tls(tls) => {
                let (client, connection) = config.connect(tls.clone()).await.db()?;
                (client, tokio::spawn(drive(Driver::new(connection))))
            }
        })
    }
}

/// What a connection yields when polled: the server's next message, or its end.
type Message = Option<Result<AsyncMessage, tokio_postgres::Error>>;

/// A connection of either transport, as the driver polls it.
trait Messages: Send {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Message>;
}

impl<S, T> Messages for Connection<S, T>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Message> {
        self.poll_message(cx)
    }
}

/// A connection's I/O, whatever its transport.
pub struct Driver(Box<dyn Messages>);

impl Driver {
    fn new(connection: impl Messages + 'static) -> Self {
        Driver(Box::new(connection))
    }

    /// The next message from the server (notifications, notices); `None` when the connection
    /// has ended. Polling it is what moves the connection's queries along.
    pub async fn next(&mut self) -> Message {
        std::future::poll_fn(|cx| self.0.poll_next(cx)).await
    }
}
