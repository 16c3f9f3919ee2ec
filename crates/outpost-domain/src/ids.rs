//! Identifier newtypes over UUIDv7: time-ordered (good index locality) and impossible to mix up
//! (a `PatientId` cannot be passed where a `TenantId` is expected).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (from storage or the wire).
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A tenant: a clinic, hospital, EMS agency or transport center.
    TenantId
);
id_type!(
    /// A person who signs in.
    UserId
);
id_type!(
    /// A record of any kind inside one tenant's database, as the engine moves it; each kind's
    /// own id converts to and from it.
    RecordId
);

/// Ids of records the engine stores: each converts to and from [`RecordId`].
macro_rules! record_id_type {
    ($(#[$meta:meta])* $name:ident) => {
        id_type!($(#[$meta])* $name);

        impl From<$name> for RecordId {
            fn from(id: $name) -> Self {
                RecordId::from_uuid(id.as_uuid())
            }
        }

        impl From<RecordId> for $name {
            fn from(id: RecordId) -> Self {
                $name::from_uuid(id.as_uuid())
            }
        }
    };
}

record_id_type!(
    /// A patient record inside one tenant's database.
    PatientId
);
record_id_type!(
    /// A practitioner on the clinic's schedule.
    PractitionerId
);
record_id_type!(
    /// An appointment on the clinic's schedule.
    AppointmentId
);
record_id_type!(
    /// An entry of the clinic calendar (a closure, a holiday, an event).
    CalendarEntryId
);
record_id_type!(
    /// A hospital's facility (a transport's origin or destination).
    FacilityId
);
record_id_type!(
    /// A hospital's transport request.
    TransportRequestId
);
record_id_type!(
    /// An EMS agency's unit (an ambulance).
    UnitId
);
record_id_type!(
    /// One shift of a unit (DESIGN.md's `unit_availability`).
    ShiftId
);
record_id_type!(
    /// An EMS agency's trip: an accepted transport request.
    TripId
);
id_type!(
    /// One sign-in session; access tokens carry it as `sid`.
    SessionId
);
id_type!(
    /// A client installation; access tokens carry it as `did`.
    DeviceId
);
id_type!(
    /// One offline change (an outbox entry); the hub applies each at most once.
    OpId
);
id_type!(
    /// One audit event recorded offline on a device; the hub appends each at most once.
    LocalEventId
);
