//! Accepting and serving connections, with the bounds a server open to a network needs: at
//! most `max_connections` at once (past it, new ones wait in the listen queue), a deadline for
//! each request's head (from when the connection opens or its previous answer went out, so a
//! slow sender or an idle keep-alive connection is closed), and a longest pause inside a body
//! (a layer of the router). HTTP/1.1 only: Outpost's clients speak it, and HTTP/2 without TLS
//! would bypass the head deadline. With a certificate configured the hub speaks HTTPS itself
//! ([`Tls`]), the handshake held to the same deadline as a request head.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::config::HubConfig;

/// The bounds on connections, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// How long connections may take to finish once shutdown begins.
    pub shutdown_deadline: Duration,
}

impl ConnectionLimits {
    pub fn of(config: &HubConfig) -> Self {
        Self {
            max_connections: config.max_connections.max(1),
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.max(1)),
            shutdown_deadline: Duration::from_secs(config.shutdown_timeout_secs),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its request in flight, and returns once all are closed or the shutdown
/// deadline has passed. `closing` runs first, to end what would otherwise never finish (event
/// streams).
pub async fn serve(
    mut listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    closing: impl FnOnce(),
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    // Connections watch `stop`; each holds a clone of `open` until it has closed.
    let (stop, stopped) = watch::channel(false);
    let (open, _) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let connection = Connection {
            router: router.clone(),
            addr,
            limits,
            stopped: stopped.clone(),
            _open: open.subscribe(),
            _permit: permit,
        };
        match &tls {
            None => {
                tokio::spawn(connection.run(stream));
            }
            Some(tls) => {
                let acceptor = tls.acceptor();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(
                        connection.limits.header_read_timeout,
                        acceptor.accept(stream),
                    )
                    .await;
                    match handshake {
                        Ok(Ok(stream)) => connection.run(stream).await,
                        Ok(Err(err)) => tracing::debug!(error = %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    closing();
    stop.send_replace(true);
    if tokio::time::timeout(limits.shutdown_deadline, open.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            open = open.receiver_count(),
            "connections still open at the shutdown deadline are closed"
        );
    }
    Ok(())
}

/// One accepted connection and what it holds until it closes.
struct Connection {
    router: Router,
    addr: SocketAddr,
    limits: ConnectionLimits,
    stopped: watch::Receiver<bool>,
    _open: watch::Receiver<()>,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run<Io>(mut self, stream: Io)
    where
        Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (router, addr) = (self.router.clone(), self.addr);
        let service =
            hyper::service::service_fn(move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(addr));
                router.clone().call(request.map(Body::new))
            });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout);
        let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
        let mut shutting_down = false;
        loop {
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(err) = served {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                    return;
                }
                _ = self.stopped.wait_for(|stop| *stop), if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// The hub's certificate and key (PEM files), loaded at start and again on [`Tls::reload`]
/// (SIGHUP), so that a renewed certificate needs no restart.
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    acceptor: RwLock<TlsAcceptor>,
}

impl Tls {
    /// Reads the certificate chain and key; an error names the file and what is wrong with it.
    pub fn load(cert_file: &Path, key_file: &Path) -> std::io::Result<Self> {
        Ok(Self {
            acceptor: RwLock::new(acceptor(cert_file, key_file)?),
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
        })
    }

    /// The configured TLS, when both files are set; an error when only one is.
    pub fn from_config(config: &HubConfig) -> std::io::Result<Option<Arc<Self>>> {
        match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert), Some(key)) => Ok(Some(Arc::new(Self::load(cert, key)?))),
            (None, None) => Ok(None),
            _ => Err(std::io::Error::other(
                "tls_cert_file and tls_key_file go together: set both, or neither",
            )),
        }
    }

    /// Reads the files again; on failure the current certificate stays in use.
    pub fn reload(&self) -> std::io::Result<()> {
        let fresh = acceptor(&self.cert_file, &self.key_file)?;
        *self
            .acceptor
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        self.acceptor
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn acceptor(cert_file: &Path, key_file: &Path) -> std::io::Result<TlsAcceptor> {
    let unusable =
        |file: &Path, what: &str| std::io::Error::other(format!("{}: {what}", file.display()));
    let cert_pem = std::fs::read(cert_file).map_err(|e| unusable(cert_file, &e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| unusable(cert_file, "not a PEM certificate chain"))?;
    if chain.is_empty() {
        return Err(unusable(cert_file, "holds no certificate"));
    }
    let key_pem = std::fs::read(key_file).map_err(|e| unusable(key_file, &e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| unusable(key_file, "not a PEM private key"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| std::io::Error::other(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| unusable(cert_file, &format!("does not go with its key ({e})")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use rustls::RootCertStore;
    use tokio_rustls::TlsConnector;

    use super::*;

    /// A self-signed certificate for `localhost`, written as PEM files; its DER to trust.
    fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf, CertificateDer<'static>) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, made.cert.pem()).expect("write cert");
        std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key");
        (cert, key, made.cert.der().clone())
    }

    /// Whether a client trusting only `trusted` completes a handshake with `tls`.
    async fn handshake(tls: &Tls, trusted: &CertificateDer<'static>) -> bool {
        let mut roots = RootCertStore::empty();
        roots.add(trusted.clone()).expect("root");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let (client, server) = tokio::io::duplex(64 * 1024);
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let acceptor = tls.acceptor();
        let (connected, accepted) = tokio::join!(
            TlsConnector::from(Arc::new(config)).connect(name, client),
            acceptor.accept(server)
        );
        connected.is_ok() && accepted.is_ok()
    }

    #[tokio::test]
    async fn the_certificate_is_read_again_on_reload_and_a_broken_one_is_not_taken() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, key, first) = certificate(dir.path(), "first");
        let tls = Tls::load(&cert, &key).expect("load");
        assert!(handshake(&tls, &first).await);

        // A renewed certificate written over the same files, then SIGHUP.
        let (new_cert, new_key, second) = certificate(dir.path(), "second");
        std::fs::copy(&new_cert, &cert).expect("copy");
        std::fs::copy(&new_key, &key).expect("copy");
        tls.reload().expect("reload");
        assert!(handshake(&tls, &second).await);
        assert!(
            !handshake(&tls, &first).await,
            "the old certificate is gone"
        );

        // A half-written renewal is refused and the current certificate stays.
        std::fs::write(&key, "not a key").expect("write");
        assert!(tls.reload().is_err());
        assert!(handshake(&tls, &second).await);
    }

    #[test]
    fn a_certificate_without_its_key_or_with_another_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert, _, _) = certificate(dir.path(), "one");
        let (_, other_key, _) = certificate(dir.path(), "two");
        let err = Tls::load(&cert, &other_key).err().expect("mismatch");
        assert!(err.to_string().contains("one.crt"), "{err}");
        let config = HubConfig {
            tls_cert_file: Some(cert),
            ..HubConfig::default()
        };
        assert!(
            Tls::from_config(&config).is_err(),
            "a certificate without its key"
        );
        assert!(
            Tls::from_config(&HubConfig::default())
                .expect("plain")
                .is_none()
        );
    }
}
