//! Whether an appointment may hold its slot: the practitioner takes appointments, the slot lies
//! within one block of their working hours on one local day, and no closure or holiday of the
//! tenant or the practitioner covers any of it. Overlaps with other appointments are the
//! store's to find (it reads them in the writing transaction); this decides the rest.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::appointment::AppointmentFields;
use super::calendar::CalendarEntryFields;
use super::practitioner::{Day, PractitionerFields};
use crate::kind::Refusal;

/// Checks `appointment` against its practitioner and the calendar entries that might cover
/// it (the caller passes those of the tenant and of this practitioner around its time).
pub fn check(
    appointment: &AppointmentFields,
    practitioner: &PractitionerFields,
    calendar: &[CalendarEntryFields],
) -> Result<(), Refusal> {
    if !practitioner.active {
        return Err(Refusal {
            code: "outside_working_hours",
            message: "the practitioner takes no appointments".into(),
        });
    }
    let zone = practitioner.zone();
    let (start, end) = (
        appointment.start.with_timezone(&zone),
        appointment.end.with_timezone(&zone),
    );
    let day = start.date_naive();
    let from = start.hour() * 60 + start.minute();
    let to = if end.date_naive() == day {
        end.hour() * 60 + end.minute()
    } else if end.date_naive() == day + Days::new(1) && end.hour() == 0 && end.minute() == 0 {
        24 * 60
    } else {
        u32::MAX
    };
    let weekday = Day::from(start.weekday());
    let within = practitioner.working_hours.iter().any(|block| {
        block.day == weekday
            && block
                .minutes()
                .is_some_and(|(open, close)| open <= from && to <= close)
    });
    if !within {
        return Err(Refusal {
            code: "outside_working_hours",
            message: "the slot lies outside the practitioner's working hours".into(),
        });
    }
    let closed = calendar.iter().any(|entry| {
        entry.closes()
            && entry
                .practitioner_id
                .is_none_or(|p| p == appointment.practitioner_id)
            && span(entry, zone)
                .is_some_and(|(open, close)| open < appointment.end && appointment.start < close)
    });
    if closed {
        return Err(Refusal {
            code: "clinic_closed",
            message: "the clinic or the practitioner is closed then".into(),
        });
    }
    Ok(())
}

/// [`check`] on records as the store holds them: the appointment's fields, its practitioner
/// and the calendar entries around it. A stored record that does not read is the store's
/// error, not a refusal.
pub fn check_records(
    appointment: &serde_json::Map<String, serde_json::Value>,
    practitioner: &crate::record::Record,
    calendar: &[crate::record::Record],
) -> Result<Result<(), Refusal>, serde_json::Error> {
    let appointment: AppointmentFields =
        serde_json::from_value(serde_json::Value::Object(appointment.clone()))?;
    let practitioner: PractitionerFields =
        serde_json::from_value(serde_json::Value::Object(practitioner.fields.clone()))?;
    let calendar = calendar
        .iter()
        .map(|entry| serde_json::from_value(serde_json::Value::Object(entry.fields.clone())))
        .collect::<Result<Vec<CalendarEntryFields>, _>>()?;
    Ok(check(&appointment, &practitioner, &calendar))
}

/// The UTC span an entry covers: its time range, or its local days in `zone`.
pub fn span(entry: &CalendarEntryFields, zone: Tz) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match (entry.date, entry.start, entry.end) {
        (Some(date), _, _) => {
            let last = entry.end_date.unwrap_or(date);
            Some((
                local_midnight(date, zone)?,
                local_midnight(last + Days::new(1), zone)?,
            ))
        }
        (None, Some(start), Some(end)) => Some((start, end)),
        _ => None,
    }
}

/// The first instant of a local day (a day starting in a DST gap starts at its first instant).
pub fn local_midnight(date: NaiveDate, zone: Tz) -> Option<DateTime<Utc>> {
    let naive = date.and_hms_opt(0, 0, 0)?;
    zone.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(naive + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|at| at.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PatientId, PractitionerId};
    use crate::schedule::appointment::AppointmentStatus;
    use crate::schedule::calendar::EntryKind;
    use crate::schedule::practitioner::WorkingBlock;

    fn practitioner() -> PractitionerFields {
        PractitionerFields {
            name: "Dr Ada".into(),
            specialty: None,
            active: true,
            working_hours: vec![
                WorkingBlock {
                    day: Day::Mon,
                    start: "08:00".into(),
                    end: "12:00".into(),
                },
                WorkingBlock {
                    day: Day::Mon,
                    start: "13:00".into(),
                    end: "17:00".into(),
                },
            ],
            time_zone: "Europe/Berlin".into(),
            user_id: None,
        }
    }

    /// 2026-12-07 is a Monday; Berlin is UTC+1 in December.
    fn at(practitioner: PractitionerId, start: &str, end: &str) -> AppointmentFields {
        AppointmentFields {
            patient_id: PatientId::generate(),
            practitioner_id: practitioner,
            start: start.parse().expect("start"),
            end: end.parse().expect("end"),
            reason: None,
            notes: None,
            status: AppointmentStatus::Booked,
            cancel_reason: None,
        }
    }

    fn entry(
        kind: EntryKind,
        practitioner: Option<PractitionerId>,
        date: Option<&str>,
    ) -> CalendarEntryFields {
        CalendarEntryFields {
            kind,
            title: "x".into(),
            practitioner_id: practitioner,
            date: date.map(|d| d.parse().expect("date")),
            end_date: None,
            start: None,
            end: None,
        }
    }

    #[test]
    fn a_slot_must_lie_in_one_block_of_local_working_hours() {
        let p = PractitionerId::generate();
        let code = |start: &str, end: &str| {
            check(&at(p, start, end), &practitioner(), &[]).map_err(|r| r.code)
        };
        assert_eq!(code("2026-12-07T07:00:00Z", "2026-12-07T07:15:00Z"), Ok(()));
        assert_eq!(code("2026-12-07T10:45:00Z", "2026-12-07T11:00:00Z"), Ok(()));
        // 07:45 local: before the first block.
        assert_eq!(
            code("2026-12-07T06:45:00Z", "2026-12-07T07:00:00Z"),
            Err("outside_working_hours")
        );
        // Across the lunch break.
        assert_eq!(
            code("2026-12-07T10:45:00Z", "2026-12-07T12:15:00Z"),
            Err("outside_working_hours")
        );
        // Tuesday: no hours.
        assert_eq!(
            code("2026-12-08T09:00:00Z", "2026-12-08T09:15:00Z"),
            Err("outside_working_hours")
        );
        let mut inactive = practitioner();
        inactive.active = false;
        assert!(
            check(
                &at(p, "2026-12-07T07:00:00Z", "2026-12-07T07:15:00Z"),
                &inactive,
                &[]
            )
            .is_err()
        );
    }

    #[test]
    fn closures_and_holidays_refuse_events_do_not() {
        let p = PractitionerId::generate();
        let slot = at(p, "2026-12-07T09:00:00Z", "2026-12-07T09:15:00Z");
        let code = |entries: &[CalendarEntryFields]| {
            check(&slot, &practitioner(), entries).map_err(|r| r.code)
        };
        assert_eq!(
            code(&[entry(EntryKind::Holiday, None, Some("2026-12-07"))]),
            Err("clinic_closed")
        );
        assert_eq!(
            code(&[entry(EntryKind::Closure, Some(p), Some("2026-12-07"))]),
            Err("clinic_closed")
        );
        assert_eq!(
            code(&[entry(
                EntryKind::Closure,
                Some(PractitionerId::generate()),
                Some("2026-12-07")
            )]),
            Ok(())
        );
        assert_eq!(
            code(&[entry(EntryKind::Event, None, Some("2026-12-07"))]),
            Ok(())
        );
        assert_eq!(
            code(&[entry(EntryKind::Holiday, None, Some("2026-12-08"))]),
            Ok(())
        );
        let mut afternoon = entry(EntryKind::Closure, None, None);
        afternoon.start = Some("2026-12-07T09:10:00Z".parse().expect("start"));
        afternoon.end = Some("2026-12-07T16:00:00Z".parse().expect("end"));
        assert_eq!(code(&[afternoon]), Err("clinic_closed"));
    }

    #[test]
    fn a_whole_day_entry_covers_the_local_day() {
        let zone: Tz = "Europe/Berlin".parse().expect("zone");
        let (open, close) =
            span(&entry(EntryKind::Holiday, None, Some("2026-12-07")), zone).expect("span");
        assert_eq!(open.to_rfc3339(), "2026-12-06T23:00:00+00:00");
        assert_eq!(close.to_rfc3339(), "2026-12-07T23:00:00+00:00");
    }

    #[test]
    fn a_day_whose_midnight_falls_in_a_clock_change_starts_at_its_first_instant() {
        // Havana moves its clocks from 00:00 to 01:00 on 8 March 2026.
        let havana: Tz = "America/Havana".parse().expect("zone");
        let day = NaiveDate::from_ymd_opt(2026, 3, 8).expect("date");
        let start = local_midnight(day, havana).expect("a start");
        assert_eq!(start.to_rfc3339(), "2026-03-08T05:00:00+00:00");
        let next = local_midnight(day + Days::new(1), havana).expect("a start");
        assert_eq!(
            (next - start).num_hours(),
            23,
            "the day lost its first hour"
        );
    }
}
