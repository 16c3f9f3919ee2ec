//! Roles, granular permissions and tenant kinds.
//!
//! Which role holds which permission is data: it is seeded into the central database by
//! migration and loaded by the hub. These enums only fix the vocabulary, so that a typo in a
//! route's permission is a compile error rather than a silent denial.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire and database spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        // By hand: utoipa's derive cannot read a `rename` whose value a macro supplies, and
        // would name the variants as Rust spells them.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName(concat!("unknown ", stringify!($name)))),
                }
            }
        }
    };
}

/// A name that is not one of the enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnknownName(pub(crate) &'static str);

string_enum!(
    /// What a tenant is; it decides which roles make sense inside it.
    TenantKind {
        Clinic => "clinic",
        Hospital => "hospital",
        EmsAgency => "ems_agency",
        TransportCenter => "transport_center",
    }
);

string_enum!(
    /// The role of a user within one tenant (or, for `platform_admin`, of the platform).
    Role {
        PlatformAdmin => "platform_admin",
        TenantAdmin => "tenant_admin",
        Doctor => "doctor",
        Nurse => "nurse",
        FrontDesk => "front_desk",
        EmsDispatcher => "ems_dispatcher",
        EmsCrew => "ems_crew",
        TransportCoordinator => "transport_coordinator",
        Auditor => "auditor",
    }
);

string_enum!(
    /// A granular right, checked on the hub for every request.
    Permission {
        PatientRead => "patient.read",
        PatientReadClinical => "patient.read_clinical",
        PatientWrite => "patient.write",
        PatientDelete => "patient.delete",
        AppointmentRead => "appointment.read",
        AppointmentWrite => "appointment.write",
        NoteRead => "note.read",
        NoteWrite => "note.write",
        DocumentRead => "document.read",
        DocumentWrite => "document.write",
        TripRead => "trip.read",
        TripCreate => "trip.create",
        TripBid => "trip.bid",
        TripAssign => "trip.assign",
        TripUpdateStatus => "trip.update_status",
        UnitManage => "unit.manage",
        UserManage => "user.manage",
        TenantManage => "tenant.manage",
        AuditRead => "audit.read",
        ReportRead => "report.read",
        StatusRead => "status.read",
        BreakGlass => "break_glass",
        ScheduleManage => "schedule.manage",
        BoardRead => "board.read",
    }
);

impl Role {
    /// Whether a member of a tenant of this kind may hold this role. `platform_admin` is never
    /// a tenant role; crews and dispatchers belong to EMS agencies; clinical roles to clinics
    /// and hospitals.
    pub fn fits_tenant(self, kind: TenantKind) -> bool {
        use TenantKind::*;
        match self {
            Role::PlatformAdmin => false,
            Role::TenantAdmin | Role::Auditor => true,
            Role::Doctor | Role::Nurse | Role::FrontDesk => matches!(kind, Clinic | Hospital),
            Role::EmsDispatcher | Role::EmsCrew => kind == EmsAgency,
            Role::TransportCoordinator => matches!(kind, Hospital | TransportCenter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        for permission in Permission::ALL {
            let json = serde_json::to_string(permission).expect("serialize");
            assert_eq!(json, format!("\"{}\"", permission.as_str()));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn roles_fit_their_tenant_kinds() {
        assert!(!Role::EmsCrew.fits_tenant(TenantKind::Clinic));
        assert!(Role::EmsCrew.fits_tenant(TenantKind::EmsAgency));
        assert!(!Role::PlatformAdmin.fits_tenant(TenantKind::TransportCenter));
        assert!(Role::FrontDesk.fits_tenant(TenantKind::Hospital));
    }
}
