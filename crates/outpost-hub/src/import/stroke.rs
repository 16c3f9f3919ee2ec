//! The public stroke-risk data set's layout: `id, gender, age, hypertension, heart_disease,
//! ever_married, work_type, Residence_type, avg_glucose_level, bmi, smoking_status, stroke`,
//! with `N/A` for a missing BMI. The set is de-identified (an id and an age): each row becomes
//! a patient with MRN `STROKE-<id>`, a pseudonym and a birth date estimated from the age, both
//! marked as such on the record (`name_is_pseudonym`, `birth_date_estimated`).

use std::io::Read;

use chrono::{Days, NaiveDate};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use outpost_domain::Entity;

use super::{Rejected, Row, checked, row_id};
use crate::error::ApiError;

/// The columns, in order.
pub const COLUMNS: [&str; 12] = [
    "id",
    "gender",
    "age",
    "hypertension",
    "heart_disease",
    "ever_married",
    "work_type",
    "Residence_type",
    "avg_glucose_level",
    "bmi",
    "smoking_status",
    "stroke",
];

const GIVEN: &[&str] = &[
    "Alex", "Robin", "Sam", "Jordan", "Casey", "Morgan", "Riley", "Jamie", "Avery", "Quinn",
    "Taylor", "Rowan", "Sasha", "Kim", "Noa", "Eden",
];
const FAMILY: &[&str] = &[
    "Ash", "Birch", "Cedar", "Elm", "Fir", "Hazel", "Juniper", "Larch", "Maple", "Oak", "Pine",
    "Rowan", "Spruce", "Willow", "Yew", "Alder",
];

/// A pseudonym drawn from the row's id, the same on every run.
fn pseudonym(id: &str) -> (&'static str, &'static str) {
    let digest = Sha256::digest(format!("stroke-dataset pseudonym {id}"));
    (
        GIVEN[digest[0] as usize % GIVEN.len()],
        FAMILY[digest[1] as usize % FAMILY.len()],
    )
}

fn zero_one(cell: &str) -> Result<bool, String> {
    match cell {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err("is not 0 or 1".into()),
    }
}

/// One row of the set as patient fields (before the kind's own checks).
fn fields(
    cells: &csv::StringRecord,
    today: NaiveDate,
) -> Result<Map<String, Value>, (usize, String)> {
    let cell = |i: usize| cells.get(i).unwrap_or("").trim();
    let id = cell(0);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err((0, "is not a number".into()));
    }
    let sex = match cell(1) {
        "Male" => "male",
        "Female" => "female",
        "Other" => "other",
        _ => return Err((1, "is not Male, Female or Other".into())),
    };
    let age: f64 = cell(2)
        .parse()
        .map_err(|_| (2, "is not a number".to_owned()))?;
    if !(0.0..=120.0).contains(&age) {
        return Err((2, "is not an age between 0 and 120".into()));
    }
    let days = (age * 365.25).round() as u64;
    let birth_date = today
        .checked_sub_days(Days::new(days))
        .ok_or((2, "is not an age".to_owned()))?;
    let married = match cell(5) {
        "Yes" => true,
        "No" => false,
        _ => return Err((5, "is not Yes or No".into())),
    };
    let work = match cell(6) {
        "Private" => "private",
        "Self-employed" => "self_employed",
        "Govt_job" => "govt_job",
        "children" => "children",
        "Never_worked" => "never_worked",
        _ => return Err((6, "is not a known work type".into())),
    };
    let residence = match cell(7) {
        "Urban" => "urban",
        "Rural" => "rural",
        _ => return Err((7, "is not Urban or Rural".into())),
    };
    let glucose: f64 = cell(8)
        .parse()
        .map_err(|_| (8, "is not a number".to_owned()))?;
    let bmi: Option<f64> = match cell(9) {
        "N/A" | "" => None,
        text => Some(
            text.parse()
                .map_err(|_| (9, "is not a number or N/A".to_owned()))?,
        ),
    };
    let smoking = match cell(10) {
        "never smoked" => "never_smoked",
        "formerly smoked" => "formerly_smoked",
        "smokes" => "smokes",
        "Unknown" => "unknown",
        _ => return Err((10, "is not a known smoking status".into())),
    };
    let (given, family) = pseudonym(id);
    let mut fields = json!({
        "mrn": format!("STROKE-{id}"),
        "given_name": given,
        "family_name": family,
        "name_is_pseudonym": true,
        "birth_date": birth_date,
        "birth_date_estimated": true,
        "sex": sex,
        "hypertension": zero_one(cell(3)).map_err(|e| (3, e))?,
        "heart_disease": zero_one(cell(4)).map_err(|e| (4, e))?,
        "ever_married": married,
        "work_type": work,
        "residence_type": residence,
        "avg_glucose_level": glucose,
        "smoking_status": smoking,
        "stroke": zero_one(cell(11)).map_err(|e| (11, e))?,
    });
    if let (Some(bmi), Some(map)) = (bmi, fields.as_object_mut()) {
        map.insert("bmi".into(), json!(bmi));
    }
    Ok(fields.as_object().cloned().unwrap_or_default())
}

/// The rows of a file in the stroke data set's layout, as patients.
pub fn rows(
    input: impl Read,
    today: NaiveDate,
) -> Result<impl Iterator<Item = Result<Row, Rejected>>, ApiError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::invalid(format!("the file has no CSV header: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if header != COLUMNS {
        return Err(ApiError::invalid(format!(
            "the header is not the stroke data set's: expected {}",
            COLUMNS.join(",")
        )));
    }
    let kind = Entity::Patient.kind();
    Ok(reader.into_records().map(move |record| {
        let record = record.map_err(|e| {
            Rejected::new(e.position().map_or(0, |p| p.line()), None, "not a CSV row")
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != COLUMNS.len() {
            return Err(Rejected::new(
                line,
                None,
                format!(
                    "{} columns where the set has {}",
                    record.len(),
                    COLUMNS.len()
                ),
            ));
        }
        let fields = fields(&record, today)
            .map_err(|(column, reason)| Rejected::new(line, Some(COLUMNS[column]), reason))?;
        let fields = checked(kind, line, &fields, today)?;
        let id = record.get(0).unwrap_or_default().trim();
        Ok(Row {
            line,
            id: row_id(Entity::Patient, &format!("stroke-dataset:{id}")),
            fields,
        })
    }))
}
