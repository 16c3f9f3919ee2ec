//! A unit's shifts (DESIGN.md's `unit_availability`): when the unit is staffed and can take
//! trips. A dispatcher plans them, offline too; a unit's planned shifts never overlap (the hub
//! checks it in the writing transaction, the client in its own copy before saving). A shift
//! that will not happen is cancelled, which frees its time and keeps its history; a cancelled
//! shift stays cancelled. The Units screen and the bid form read them to tell who is on duty.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::ids::{ShiftId, UnitId, UserId};
use crate::kind::{
    ClassAccess, Entity, Field, FieldClass, FieldType, Kind, NoOverlap, Reference, Refusal,
};
use crate::record::{Fields, canonical, status_of};
use crate::roles::Permission;
use crate::schedule::{check_span, check_text};

/// The longest shift, in hours: a 24-hour shift is common in EMS, and lasts 25 over the
/// night the clocks go back; longer is a typing slip.
pub const MAX_HOURS: i64 = 25;

/// Whether a shift still stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, TS, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShiftStatus {
    #[default]
    Planned,
    Cancelled,
}

impl ShiftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A shift's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShiftFields {
    pub unit_id: UnitId,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub status: ShiftStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A stored shift as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Shift {
    pub id: ShiftId,
    #[serde(flatten)]
    pub fields: ShiftFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl Shift {
    /// Whether the shift is planned and covers some of `from..to`.
    pub fn covers(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.fields.status == ShiftStatus::Planned
            && self.fields.start < to
            && self.fields.end > from
    }
}

impl Fields for ShiftFields {
    fn validate(&self, _today: NaiveDate) -> Result<(), ValidationError> {
        check_span(
            self.start,
            self.end,
            MAX_HOURS * 60,
            &format!("{MAX_HOURS} hours"),
        )?;
        if let Some(notes) = &self.notes {
            check_text("notes", notes, 500)?;
        }
        Ok(())
    }
}

/// A new shift is planned; a cancelled one stays as it was.
fn rule(before: Option<&Map<String, Value>>, after: &Map<String, Value>) -> Result<(), Refusal> {
    let refused = |message: &str| {
        Err(Refusal {
            code: "invalid_transition",
            message: message.into(),
        })
    };
    match (before.map(status_of::<ShiftStatus>), status_of(after)) {
        (None, ShiftStatus::Cancelled) => refused("a new shift is planned, not cancelled"),
        (Some(ShiftStatus::Cancelled), _) if before != Some(after) => {
            refused("a cancelled shift is not changed: plan a new one")
        }
        _ => Ok(()),
    }
}

const CLASS: FieldClass = FieldClass::Transport;
const SLOT: &str = "slot";

/// The shift kind.
pub static KIND: Kind = Kind {
    entity: Entity::UnitShift,
    name: "unit_shift",
    table: "unit_availability",
    history_table: "unit_shift_history",
    history_key: "unit_shift_id",
    fields: &[
        Field::new("unit_id", FieldType::Id, CLASS)
            .required()
            .group(SLOT),
        Field::new("start", FieldType::Timestamp, CLASS)
            .required()
            .group(SLOT),
        Field::new("end", FieldType::Timestamp, CLASS)
            .required()
            .group(SLOT),
        Field::new("status", FieldType::Text, CLASS),
        Field::new("notes", FieldType::Text, CLASS),
    ],
    access: &[ClassAccess {
        class: CLASS,
        read: &[Permission::TripRead],
        write: &[Permission::UnitManage],
    }],
    delete: &[Permission::UnitManage],
    search: &[],
    order: &["start"],
    unique: &[],
    no_overlap: Some(NoOverlap {
        group: "unit_id",
        owner: None,
        start: "start",
        end: "end",
        longest_minutes: MAX_HOURS * 60,
        status: "status",
        inactive: &["cancelled"],
    }),
    references: &[Reference {
        field: "unit_id",
        to: Entity::Unit,
    }],
    rows: None,
    check: canonical::<ShiftFields>,
    rule: Some(rule),
    deletable: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::to_map;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, hour, 0, 0)
            .single()
            .expect("a time")
    }

    fn shift(start: u32, end: u32) -> Map<String, Value> {
        to_map(&json!({"unit_id": UnitId::generate(), "start": at(start), "end": at(end)}))
    }

    #[test]
    fn a_shift_runs_forward_for_at_most_a_day_on_whole_minutes() {
        let today = at(0).date_naive();
        assert!(KIND.canonical(&shift(7, 19), today).is_ok());
        assert!(KIND.canonical(&shift(19, 7), today).is_err());
        assert!(KIND.canonical(&shift(7, 7), today).is_err());
        let mut long = shift(7, 8);
        long.insert("end".into(), json!(at(9) + chrono::Duration::days(1)));
        assert!(KIND.canonical(&long, today).is_err());
        let mut odd = shift(7, 8);
        odd.insert("start".into(), json!("2026-12-07T07:00:30Z"));
        assert!(KIND.canonical(&odd, today).is_err());
    }

    #[test]
    fn a_shift_is_planned_then_maybe_cancelled_and_then_left_alone() {
        let today = at(0).date_naive();
        let planned = KIND.canonical(&shift(7, 19), today).expect("a shift");
        assert_eq!(planned["status"], "planned");
        assert!(KIND.check_rule(None, &planned).is_ok());
        let mut cancelled = planned.clone();
        cancelled.insert("status".into(), json!("cancelled"));
        assert!(KIND.check_rule(None, &cancelled).is_err());
        assert!(KIND.check_rule(Some(&planned), &cancelled).is_ok());
        let mut moved = planned.clone();
        moved.insert("end".into(), json!(at(20)));
        assert!(KIND.check_rule(Some(&planned), &moved).is_ok());
        assert_eq!(
            KIND.check_rule(Some(&cancelled), &planned)
                .expect_err("refused")
                .code,
            "invalid_transition"
        );
        assert!(KIND.check_rule(Some(&cancelled), &cancelled).is_ok());
    }

    #[test]
    fn only_a_planned_shift_that_reaches_into_the_window_covers_it() {
        let fields: ShiftFields =
            serde_json::from_value(Value::Object(shift(7, 19))).expect("fields");
        let mut s = Shift {
            id: ShiftId::generate(),
            fields,
            version: 1,
            created_at: at(0),
            updated_at: at(0),
            updated_by: None,
        };
        assert!(s.covers(at(18), at(20)));
        assert!(s.covers(at(6), at(8)));
        assert!(!s.covers(at(19), at(21)));
        assert!(!s.covers(at(5), at(7)));
        s.fields.status = ShiftStatus::Cancelled;
        assert!(!s.covers(at(8), at(9)));
    }
}
