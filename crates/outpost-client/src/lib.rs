//! The bundled client core of Outpost, shared by the `outpost` command line and the desktop
//! app: it signs in to a hub, mirrors what the user may see of one tenant into an
//! SQLCipher-encrypted file whose key lives in the OS keyring (wrapped by the user's
//! password), works fully offline, and syncs audited changes back.
//!
//! No Tauri dependency: the desktop shell is a thin layer over [`Client`] and its
//! [`SyncEngine`].

mod api;
mod cache;
mod catch_up;
mod client;
mod error;
mod events;
mod grant;
mod home;
mod keywrap;
mod name_index;
mod retry;
mod session;
mod settle;
mod sync;
mod transport;
mod vault;

pub use cache::{LocalPatient, LocalRecord};
pub use client::board::{BoardQuery, LocalRequest};
pub use client::schedule::LocalAppointment;
pub use client::transport::{LocalTrip, TripStep};
pub use client::units::{LocalShift, LocalUnit};
pub use client::{Client, ClientOptions, Conflict, Resolution, Status};
pub use error::{ClientError, ClientResult, ErrorCode};
pub use events::{Announcement, HubEvents, Listener};
pub use home::{Home, Profile};
pub use outpost_domain::clock::{Clock, SystemClock};
pub use retry::Backoff;
pub use sync::{MirrorProgress, SyncEngine, SyncReport};
pub use transport::{HubAddress, tls_config};
