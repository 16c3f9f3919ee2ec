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
pub mod state;
pub mod tenant_copies;
pub mod tokens;

use std::future::Future;
use std::net::SocketAddr;

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
    let app = routes::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // End event streams, or graceful shutdown would wait for them forever.
            stopping.send_replace(true);
        })
        .await
}
