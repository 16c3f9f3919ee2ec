//! Outpost's shared vocabulary: identifiers, roles and permissions, patient records and their
//! validation, the audit chain's hashing, and the wire types of the HTTP API.
//!
//! This crate does no I/O so that the hub, the stores and (later) the client agree on one
//! definition of every record and rule.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod error;
pub mod ids;
pub mod kind;
pub mod page;
pub mod patient;
pub mod record;
pub mod roles;
pub mod schedule;
pub mod sync;
pub mod tenant;
pub mod text;
pub mod transport;
pub mod user;

pub use error::{ErrorCode, ValidationError};
pub use ids::{
    AppointmentId, CalendarEntryId, DeviceId, FacilityId, LocalEventId, OpId, PatientId,
    PractitionerId, RecordId, SessionId, ShiftId, TenantId, TransportRequestId, TripId, UnitId,
    UserId,
};
pub use kind::{Entity, Kind};
pub use record::Record;
pub use roles::{Permission, Role, TenantKind};
