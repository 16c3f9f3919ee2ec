//! The clinic's schedule (DESIGN.md, "The clinic's schedule"): practitioners with their weekly
//! working hours, appointments with their status machine, and the clinic calendar. Booking
//! rules that need several records (working hours, closures) are pure functions in
//! [`booking`]; the hub reads the records and calls them in the writing transaction.

pub mod appointment;
pub mod booking;
pub mod calendar;
pub mod practitioner;

use crate::error::ValidationError;

/// A slot from `start` to `end`: each on a whole minute, the end after the start and at most
/// `max_minutes` later (`longest` says it in the message: "12 hours").
pub(crate) fn check_span(
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
    max_minutes: i64,
    longest: &str,
) -> Result<(), ValidationError> {
    use chrono::Timelike;
    for (field, at) in [("start", start), ("end", end)] {
        if at.second() != 0 || at.nanosecond() != 0 {
            return Err(ValidationError::new(field, "must fall on a whole minute"));
        }
    }
    let minutes = (end - start).num_minutes();
    if minutes <= 0 || minutes > max_minutes {
        return Err(ValidationError::new(
            "end",
            format!("must come after start, at most {longest} later"),
        ));
    }
    Ok(())
}

/// A one-line text field: not blank, at most `max` characters, no control character.
pub(crate) fn check_line(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    crate::text::check_line(field, value)?;
    check_length(field, value, max)
}

/// A multi-line text field.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    crate::text::check_text(field, value)?;
    check_length(field, value, max)
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}
