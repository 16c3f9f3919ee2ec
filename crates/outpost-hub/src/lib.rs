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
pub mod passwords;
pub mod principal;
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

/// Serves the API on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stopping = state.shutting_down.clone();
    let limits = server::ConnectionLimits::of(&state.config);
    let app = routes::router(state);
    // End event streams, or the graceful shutdown would wait for them forever.
    server::serve(listener, app, limits, shutdown, move || {
        stopping.send_replace(true);
    })
    .await
}
