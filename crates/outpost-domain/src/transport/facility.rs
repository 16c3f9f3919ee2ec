//! A hospital's facilities: the places transports start from and go to (its own sites and
//! the others it sends patients to).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::ids::{FacilityId, UserId};
use crate::kind::{ClassAccess, Entity, Field, FieldClass, FieldType, Kind, SearchKey};
use crate::record::{Fields, canonical};
use crate::roles::Permission;
use crate::schedule::check_line;

/// What a facility is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FacilityKind {
    Hospital,
    Clinic,
    NursingHome,
    Rehabilitation,
    Residence,
    Other,
}

/// A facility's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilityFields {
    pub name: String,
    pub kind: FacilityKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub city: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A stored facility as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Facility {
    pub id: FacilityId,
    #[serde(flatten)]
    pub fields: FacilityFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl Fields for FacilityFields {
    fn validate(&self, _today: NaiveDate) -> Result<(), ValidationError> {
        check_line("name", &self.name, 120)?;
        check_line("city", &self.city, 80)?;
        if let Some(address) = &self.address {
            check_line("address", address, 200)?;
        }
        if let Some(phone) = &self.phone {
            check_line("phone", phone, 32)?;
        }
        Ok(())
    }
}

/// The facility kind.
pub static KIND: Kind = Kind {
    entity: Entity::Facility,
    name: "facility",
    table: "facilities",
    history_table: "facility_history",
    history_key: "facility_id",
    fields: &[
        Field::new("name", FieldType::Text, FieldClass::Transport).required(),
        Field::new("kind", FieldType::Text, FieldClass::Transport).required(),
        Field::new("address", FieldType::Text, FieldClass::Transport),
        Field::new("city", FieldType::Text, FieldClass::Transport).required(),
        Field::new("phone", FieldType::Text, FieldClass::Transport),
    ],
    access: &[ClassAccess {
        class: FieldClass::Transport,
        read: &[Permission::TripRead],
        write: &[Permission::TripCreate],
    }],
    delete: &[Permission::TripCreate],
    search: &[SearchKey {
        column: "name_key",
        field: "name",
    }],
    order: &["name_key"],
    unique: &[],
    no_overlap: None,
    references: &[],
    rows: None,
    check: canonical::<FacilityFields>,
    rule: None,
    deletable: None,
};
