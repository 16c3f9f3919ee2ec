//! The Outpost hub as a library: build its state over a [`Store`](outpost_store::Store),
//! then [`serve`] it on a listener until a shutdown future completes. The `outpost-hub`
//! binary only parses arguments and calls into this crate; tests start the same server
//! in-process on port 0.

pub mod accounts;
pub mod backend;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod events;
pub mod extract;
pub mod flow;
pub mod forwarded;
pub mod import;
pub mod metrics;
pub mod observe;
pub mod outbox;
pub mod passwords;
pub mod principal;
pub mod rate;
pub mod releases;
pub mod routes;
pub mod server;
pub mod state;
pub mod strict_json;
pub mod tenant_copies;
pub mod tokens;

use std::future::Future;

pub use clock::{Clock, SystemClock};
pub use config::HubConfig;
pub use state::{AppState, HubError, HubState};

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests;
/// over HTTPS when the configuration names a certificate.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = server::Tls::from_config(&state.config)?;
    serve_with(listener, state, tls, shutdown).await
}

/// [`serve`] with TLS loaded by the caller, which keeps it to reload it (SIGHUP).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<std::sync::Arc<server::Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = state.shutting_down.clone();
    // The outbox worker runs while the hub serves (the demo builder's state has none).
    outbox::start(&state);
    let limits = server::ConnectionLimits::of(&state.config);
    let app = routes::router(state);
    // End event streams, or the graceful shutdown would wait for them forever.
    server::serve(listener, app, limits, tls, shutdown, move || {
        stopping.send_replace(true);
    })
    .await
}
