//! Accepting and serving connections, with the bounds a server open to a network needs: at
//! most `max_connections` at once (past it, new ones wait in the listen queue), a deadline for
//! each request's head (from when the connection opens or its previous answer went out, so a
//! slow sender or an idle keep-alive connection is closed), and a longest pause inside a body
//! (a layer of the router). HTTP/1.1 only: Outpost's clients speak it, and HTTP/2 without TLS
//! would bypass the head deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower_service::Service;

use crate::config::HubConfig;

/// The bounds on connections, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

impl ConnectionLimits {
    pub fn of(config: &HubConfig) -> Self {
        Self {
            max_connections: config.max_connections.max(1),
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs.max(1)),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets every
/// connection finish its request in flight, and returns once all are closed. `closing` runs
/// first, to end what would otherwise never finish (event streams).
pub async fn serve(
    mut listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
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
        tokio::spawn(connection.run(stream));
    }
    drop(listener);
    closing();
    stop.send_replace(true);
    open.closed().await;
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
    async fn run(mut self, stream: tokio::net::TcpStream) {
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
