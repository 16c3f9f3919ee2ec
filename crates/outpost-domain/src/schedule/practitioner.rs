//! Practitioners: who appointments are booked with, and the weekly hours they work (in their
//! tenant's time zone).

use chrono::{NaiveDate, NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::ValidationError;
use crate::ids::{PractitionerId, UserId};
use crate::kind::{ClassAccess, Entity, Field, FieldClass, FieldType, Kind, SearchKey};
use crate::record::{Fields, canonical};
use crate::roles::Permission;

use super::check_line;

/// The most working-hour blocks one practitioner has in a week.
const MAX_BLOCKS: usize = 42;

/// A day of the week, as working hours name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl From<Weekday> for Day {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Mon => Day::Mon,
            Weekday::Tue => Day::Tue,
            Weekday::Wed => Day::Wed,
            Weekday::Thu => Day::Thu,
            Weekday::Fri => Day::Fri,
            Weekday::Sat => Day::Sat,
            Weekday::Sun => Day::Sun,
        }
    }
}

/// One block of working time: `start` to `end` (`HH:MM`, local time; `end` may be `24:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkingBlock {
    pub day: Day,
    pub start: String,
    pub end: String,
}

impl WorkingBlock {
    /// Minutes after local midnight of the start and the end.
    pub fn minutes(&self) -> Option<(u32, u32)> {
        Some((clock_minutes(&self.start)?, clock_minutes(&self.end)?))
    }
}

/// `HH:MM` as minutes after midnight (`24:00` is 1440).
pub fn clock_minutes(text: &str) -> Option<u32> {
    if text == "24:00" {
        return Some(24 * 60);
    }
    if text.len() != 5 {
        return None;
    }
    let time = NaiveTime::parse_from_str(text, "%H:%M").ok()?;
    Some(time.hour() * 60 + time.minute())
}

fn yes() -> bool {
    true
}

/// A practitioner's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PractitionerFields {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
    /// Inactive practitioners keep their appointments but take no new ones.
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub working_hours: Vec<WorkingBlock>,
    /// IANA name (`Europe/Berlin`): the tenant's zone, in which the working hours are read.
    pub time_zone: String,
    /// The practitioner's own sign-in, when they have one (their "my day").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

/// A stored practitioner as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Practitioner {
    pub id: PractitionerId,
    #[serde(flatten)]
    pub fields: PractitionerFields,
    #[ts(type = "number")]
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub updated_by: Option<UserId>,
}

impl PractitionerFields {
    /// The practitioner's time zone (validated: always a known zone).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.parse().unwrap_or(chrono_tz::UTC)
    }
}

impl Fields for PractitionerFields {
    fn validate(&self, _today: NaiveDate) -> Result<(), ValidationError> {
        check_line("name", &self.name, 100)?;
        if let Some(specialty) = &self.specialty {
            check_line("specialty", specialty, 100)?;
        }
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ValidationError::new(
                "time_zone",
                "must be an IANA time zone such as Europe/Berlin",
            ));
        }
        if self.working_hours.len() > MAX_BLOCKS {
            return Err(ValidationError::new(
                "working_hours",
                format!("may hold at most {MAX_BLOCKS} blocks"),
            ));
        }
        let mut blocks = Vec::with_capacity(self.working_hours.len());
        for block in &self.working_hours {
            match block.minutes() {
                Some((start, end)) if start < end => blocks.push((block.day as u8, start, end)),
                _ => {
                    return Err(ValidationError::new(
                        "working_hours",
                        "each block runs from HH:MM to a later HH:MM",
                    ));
                }
            }
        }
        blocks.sort_unstable();
        if blocks
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && w[1].1 < w[0].2)
        {
            return Err(ValidationError::new(
                "working_hours",
                "blocks of one day must not overlap",
            ));
        }
        Ok(())
    }
}

/// The practitioner kind.
pub static KIND: Kind = Kind {
    entity: Entity::Practitioner,
    name: "practitioner",
    table: "practitioners",
    history_table: "practitioner_history",
    history_key: "practitioner_id",
    fields: &[
        Field::new("name", FieldType::Text, FieldClass::Demographic).required(),
        Field::new("specialty", FieldType::Text, FieldClass::Demographic),
        Field::new("active", FieldType::Bool, FieldClass::Demographic),
        Field::new("working_hours", FieldType::Json, FieldClass::Demographic),
        Field::new("time_zone", FieldType::Text, FieldClass::Demographic).required(),
        Field::new("user_id", FieldType::Id, FieldClass::Demographic),
    ],
    access: &[ClassAccess {
        class: FieldClass::Demographic,
        read: &[Permission::AppointmentRead],
        write: &[Permission::ScheduleManage],
    }],
    delete: &[Permission::ScheduleManage],
    search: &[SearchKey {
        column: "name_key",
        field: "name",
    }],
    order: &["name_key"],
    unique: &[],
    no_overlap: None,
    references: &[],
    rows: None,
    check: canonical::<PractitionerFields>,
    rule: None,
    deletable: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 6).expect("date")
    }

    fn hours(blocks: serde_json::Value) -> Result<(), String> {
        let fields =
            json!({"name": "Dr Ada", "time_zone": "Europe/Berlin", "working_hours": blocks});
        let map = fields.as_object().cloned().expect("object");
        KIND.canonical(&map, today())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn working_hours_are_checked_block_by_block() {
        assert_eq!(
            hours(
                json!([{"day": "mon", "start": "08:00", "end": "12:00"}, {"day": "mon", "start": "13:00", "end": "24:00"}])
            ),
            Ok(())
        );
        for bad in [
            json!([{"day": "mon", "start": "12:00", "end": "08:00"}]),
            json!([{"day": "mon", "start": "8:00", "end": "12:00"}]),
            json!([{"day": "mon", "start": "08:00", "end": "12:00"}, {"day": "mon", "start": "11:00", "end": "13:00"}]),
        ] {
            assert!(hours(bad.clone()).is_err(), "{bad}");
        }
        assert!(hours(json!([{"day": "funday", "start": "08:00", "end": "12:00"}])).is_err());
    }

    #[test]
    fn a_practitioner_is_active_by_default_and_needs_a_real_zone() {
        let map = json!({"name": "Dr Ada", "time_zone": "Europe/Berlin"});
        let canonical = KIND
            .canonical(map.as_object().expect("object"), today())
            .expect("valid");
        assert_eq!(canonical["active"], json!(true));
        let map = json!({"name": "Dr Ada", "time_zone": "Mars/Olympus"});
        assert!(
            KIND.canonical(map.as_object().expect("object"), today())
                .is_err()
        );
    }
}
