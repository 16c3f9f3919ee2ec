//! Following the hub's announcements (`GET /v1/events`) on a connection of their own: the
//! sync engine pulls on each `changes`; the desktop wakes its sync and tells the board screen.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{Stream, StreamExt};

pub use crate::api::Announcement;
use crate::error::{ClientError, ClientResult};
use crate::session::Session;

/// The hub sends a keep-alive every 15 s; three missed means the link is gone even if the
/// connection has not noticed.
const SILENCE_LIMIT: std::time::Duration = std::time::Duration::from_secs(45);

/// One connection to the hub's announcements, watched for silence.
pub struct HubEvents {
    events: Pin<Box<dyn Stream<Item = ClientResult<Announcement>> + Send>>,
    arrivals: Arc<AtomicU64>,
    seen: u64,
}

impl HubEvents {
    /// Opens the stream with the session's access token (its caller retries a 401 with a
    /// fresh one).
    pub(crate) async fn open(session: &Session) -> ClientResult<Self> {
        let token = session.token().await?;
        let arrivals = Arc::new(AtomicU64::new(0));
        let events = session.api.events(&token, arrivals.clone()).await?;
        Ok(Self {
            events: Box::pin(events),
            arrivals,
            seen: 0,
        })
    }

    /// The next announcement; `None` when the hub ended the stream, `Offline` when nothing
    /// at all (not even a keep-alive) arrived for 45 seconds.
    pub async fn next(&mut self) -> ClientResult<Option<Announcement>> {
        loop {
            match tokio::time::timeout(SILENCE_LIMIT, self.events.next()).await {
                // Bytes arrived meanwhile (keep-alives the parser does not hand over): alive.
                Err(_) if self.arrivals.load(Ordering::Relaxed) != self.seen => {
                    self.seen = self.arrivals.load(Ordering::Relaxed);
                }
                Err(_) => return Err(ClientError::Offline("the hub went silent".into())),
                Ok(next) => return next.transpose(),
            }
        }
    }
}

/// The way to the hub's announcements for one sign-in, kept apart from the client so that
/// waiting on the hub never holds it.
#[derive(Clone)]
pub struct Listener {
    session: Arc<Session>,
}

impl Listener {
    pub(crate) fn new(session: Arc<Session>) -> Self {
        Self { session }
    }

    /// The profile whose announcements these are (the user may sign in as someone else
    /// meanwhile: the listener then stops).
    pub fn profile_id(&self) -> &str {
        &self.session.profile.id
    }

    /// Opens the stream, once more with a fresh access token when the held one expired.
    pub async fn connect(&self) -> ClientResult<HubEvents> {
        match HubEvents::open(&self.session).await {
            Err(ClientError::Hub { status: 401, .. }) if self.session.forget_token() => {
                HubEvents::open(&self.session).await
            }
            other => other,
        }
    }
}
