//! An EMS agency's units: an ambulance by its call sign, the level of care it gives, what it
//! carries, whether it can take a trip, and the crew riding it (the agency's `ems_crew`
//! members, whose devices alone mirror its trips).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{Level, check_labels};
use crate::error::ValidationError;
use crate::ids::{UnitId, UserId};
use crate::kind::{ClassAccess, Entity, Field, FieldClass, FieldType, Kind, SearchKey};
use crate::record::{Fields, canonical};
use crate::roles::Permission;
use crate::schedule::{check_line, check_text};

/// Whether a unit can take a trip.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UnitStatus {
    #[default]
    Available,
    Assigned,
    OutOfService,
}

impl UnitStatus {
    /// The status a unit takes when one of its trips ends, if it changes: a unit the trips
    /// made `assigned` is available again unless another of its trips still runs; one a
    /// dispatcher took out of service meanwhile stays out.
    pub fn after_trip(self, others_running: bool) -> Option<UnitStatus> {
        (self == UnitStatus::Assigned && !others_running).then_some(UnitStatus::Available)
    }
}

/// A unit's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitFields {
    pub call_sign: String,
    pub level: Level,
    /// What it carries (oxygen, ventilator, bariatric stretcher, …).
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub status: UnitStatus,
    /// The crew riding it now.
    #[serde(default)]
    pub crew_user_ids: Vec<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A stored unit as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Unit {
    pub id: UnitId,
    #[serde(flatten)]
    pub fields: UnitFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl Fields for UnitFields {
    fn validate(&self, _today: NaiveDate) -> Result<(), ValidationError> {
        check_line("call_sign", &self.call_sign, 20)?;
        check_labels("capabilities", &self.capabilities)?;
        if self.crew_user_ids.len() > 6 {
            return Err(ValidationError::new(
                "crew_user_ids",
                "a unit carries at most 6 crew members",
            ));
        }
        if let Some(notes) = &self.notes {
            check_text("notes", notes, 2000)?;
        }
        Ok(())
    }
}

const CLASS: FieldClass = FieldClass::Transport;

/// The unit kind.
pub static KIND: Kind = Kind {
    entity: Entity::Unit,
    name: "unit",
    table: "units",
    history_table: "unit_history",
    history_key: "unit_id",
    fields: &[
        Field::new("call_sign", FieldType::Text, CLASS).required(),
        Field::new("level", FieldType::Text, CLASS).required(),
        Field::new("capabilities", FieldType::Json, CLASS),
        Field::new("status", FieldType::Text, CLASS),
        Field::new("crew_user_ids", FieldType::Json, CLASS),
        Field::new("notes", FieldType::Text, CLASS),
    ],
    access: &[ClassAccess {
        class: CLASS,
        read: &[Permission::TripRead],
        write: &[Permission::UnitManage],
    }],
    delete: &[Permission::UnitManage],
    search: &[SearchKey {
        column: "call_sign_key",
        field: "call_sign",
    }],
    order: &["call_sign_key"],
    unique: &[SearchKey {
        column: "call_sign_key",
        field: "call_sign",
    }],
    no_overlap: None,
    references: &[],
    rows: None,
    check: canonical::<UnitFields>,
    rule: None,
    deletable: None,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_is_free_again_when_its_last_running_trip_ends() {
        use UnitStatus::*;
        assert_eq!(Assigned.after_trip(false), Some(Available));
        assert_eq!(Assigned.after_trip(true), None, "another trip still runs");
        assert_eq!(
            OutOfService.after_trip(false),
            None,
            "the dispatcher's call"
        );
        assert_eq!(Available.after_trip(false), None, "freed by hand already");
    }
}
