//! The clinic calendar: closures, holidays and events, for the whole tenant or one
//! practitioner, either whole days (`date` to `end_date`, the tenant's local dates) or a time
//! range (`start` to `end`, UTC). Closures and holidays refuse bookings; events do not.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::ids::{CalendarEntryId, PractitionerId, UserId};
use crate::kind::{ClassAccess, Entity, Field, FieldClass, FieldType, Kind, Reference};
use crate::record::{Fields, canonical};
use crate::roles::Permission;

use super::check_line;

/// The longest entry, in days.
pub const MAX_DAYS: i64 = 366;

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Closure,
    Holiday,
    Event,
}

/// A calendar entry's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarEntryFields {
    pub kind: EntryKind,
    pub title: String,
    /// `None`: the whole tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practitioner_id: Option<PractitionerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// The last day of a several-day entry (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
}

/// A stored calendar entry as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct CalendarEntry {
    pub id: CalendarEntryId,
    #[serde(flatten)]
    pub fields: CalendarEntryFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

impl CalendarEntryFields {
    /// Whether the entry refuses bookings.
    pub fn closes(&self) -> bool {
        matches!(self.kind, EntryKind::Closure | EntryKind::Holiday)
    }
}

impl Fields for CalendarEntryFields {
    fn validate(&self, _today: NaiveDate) -> Result<(), ValidationError> {
        check_line("title", &self.title, 200)?;
        match (self.date, self.end_date, self.start, self.end) {
            (Some(date), end_date, None, None) => {
                let last = end_date.unwrap_or(date);
                let days = (last - date).num_days();
                if !(0..MAX_DAYS).contains(&days) {
                    return Err(ValidationError::new(
                        "end_date",
                        format!("must be on or after date, at most {MAX_DAYS} days later"),
                    ));
                }
            }
            (None, None, Some(start), Some(end)) => {
                let minutes = (end - start).num_minutes();
                if minutes <= 0 || minutes > MAX_DAYS * 24 * 60 {
                    return Err(ValidationError::new(
                        "end",
                        "must come after start, within a year",
                    ));
                }
            }
            _ => {
                return Err(ValidationError::new(
                    "date",
                    "an entry has either a date (and maybe an end_date) or a start and an end",
                ));
            }
        }
        Ok(())
    }
}

/// The calendar entry kind.
pub static KIND: Kind = Kind {
    entity: Entity::CalendarEntry,
    name: "calendar_entry",
    table: "calendar_entries",
    history_table: "calendar_entry_history",
    history_key: "calendar_entry_id",
    fields: &[
        Field::new("kind", FieldType::Text, FieldClass::Demographic).required(),
        Field::new("title", FieldType::Text, FieldClass::Demographic).required(),
        Field::new("practitioner_id", FieldType::Id, FieldClass::Demographic),
        Field::new("date", FieldType::Date, FieldClass::Demographic).group("when"),
        Field::new("end_date", FieldType::Date, FieldClass::Demographic).group("when"),
        Field::new("start", FieldType::Timestamp, FieldClass::Demographic).group("when"),
        Field::new("end", FieldType::Timestamp, FieldClass::Demographic).group("when"),
    ],
    access: &[ClassAccess {
        class: FieldClass::Demographic,
        read: &[Permission::AppointmentRead],
        write: &[Permission::ScheduleManage],
    }],
    delete: &[Permission::ScheduleManage],
    search: &[],
    // Entries have a date or a start, never both: ordered by id (creation), which is never
    // empty, so that keyset pages and both backends agree.
    order: &[],
    unique: &[],
    no_overlap: None,
    references: &[Reference {
        field: "practitioner_id",
        to: Entity::Practitioner,
    }],
    rows: None,
    check: canonical::<CalendarEntryFields>,
    rule: None,
    deletable: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entry_is_whole_days_or_a_time_range() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 6).expect("date");
        let ok = [
            json!({"kind": "holiday", "title": "Christmas", "date": "2026-12-25", "end_date": "2026-12-26"}),
            json!({"kind": "closure", "title": "Staff training", "start": "2026-12-09T12:00:00Z", "end": "2026-12-09T16:00:00Z"}),
        ];
        for entry in ok {
            assert!(
                KIND.canonical(entry.as_object().expect("object"), today)
                    .is_ok(),
                "{entry}"
            );
        }
        let bad = [
            json!({"kind": "holiday", "title": "Both", "date": "2026-12-25", "start": "2026-12-09T12:00:00Z", "end": "2026-12-09T16:00:00Z"}),
            json!({"kind": "holiday", "title": "Backwards", "date": "2026-12-25", "end_date": "2026-12-24"}),
            json!({"kind": "closure", "title": "Neither"}),
            json!({"kind": "party", "title": "Unknown kind", "date": "2026-12-25"}),
        ];
        for entry in bad {
            assert!(
                KIND.canonical(entry.as_object().expect("object"), today)
                    .is_err(),
                "{entry}"
            );
        }
    }
}
