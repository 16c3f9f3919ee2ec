//! The transport report over a period (`GET /v1/reports/transport`): what the transport center
//! watches. Made from board entries and bids only, so it holds no patient data: requests by
//! level, priority and status; how long from publishing to the first bid and to acceptance;
//! pickups on time against their window; each agency's bids, wins and punctuality; and a
//! day-by-day count for the charts.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::TripStatus;
use super::board::{Bid, BidStatus, BoardEntry};
use crate::ids::TenantId;

/// Minutes between two events, summarised.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct Minutes {
    /// How many requests had both events.
    pub count: usize,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

impl Minutes {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let at = |p: f64| {
            (!values.is_empty()).then(|| values[((values.len() - 1) as f64 * p).round() as usize])
        };
        Self {
            count: values.len(),
            median: at(0.5),
            p90: at(0.9),
        }
    }
}

/// One agency's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct AgencyRow {
    pub agency_tenant_id: TenantId,
    pub agency: String,
    pub bids: usize,
    pub won: usize,
    pub completed: usize,
    pub on_time: usize,
    pub late: usize,
    /// The median ETA its bids offered, in minutes.
    pub median_eta: Option<f64>,
}

/// One day's counts (UTC days of publishing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct DayRow {
    pub date: NaiveDate,
    pub published: usize,
    pub assigned: usize,
    pub completed: usize,
    pub cancelled: usize,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS, utoipa::ToSchema)]
pub struct TransportReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Requests published in the period.
    pub requests: usize,
    pub by_level: BTreeMap<String, usize>,
    pub by_priority: BTreeMap<String, usize>,
    pub by_status: BTreeMap<String, usize>,
    pub to_first_bid: Minutes,
    pub to_acceptance: Minutes,
    /// Pickups (the crew at the patient) within the window, and after it.
    pub on_time: usize,
    pub late: usize,
    pub agencies: Vec<AgencyRow>,
    pub days: Vec<DayRow>,
}

fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => String::new(),
    }
}

fn minutes(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_seconds() as f64 / 60.0
}

/// Whether an entry's pickup was on time: `None` while nobody reached the patient.
pub fn on_time(entry: &BoardEntry) -> Option<bool> {
    entry.picked_up_at.map(|at| at <= entry.pickup_to)
}

/// The report over the entries published in `[from, to)` and their bids.
pub fn report(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    entries: &[BoardEntry],
    bids: &[Bid],
) -> TransportReport {
    let count = |key: &dyn Fn(&BoardEntry) -> String| {
        let mut counts = BTreeMap::new();
        for entry in entries {
            *counts.entry(key(entry)).or_insert(0) += 1;
        }
        counts
    };
    let mut days: BTreeMap<NaiveDate, DayRow> = BTreeMap::new();
    for entry in entries {
        let date = entry.published_at.date_naive();
        let day = days.entry(date).or_insert(DayRow {
            date,
            published: 0,
            assigned: 0,
            completed: 0,
            cancelled: 0,
        });
        day.published += 1;
        match entry.status {
            TripStatus::Completed => day.completed += 1,
            TripStatus::Cancelled => day.cancelled += 1,
            TripStatus::Published | TripStatus::Draft => {}
            _ => day.assigned += 1,
        }
    }
    let mut agencies: BTreeMap<TenantId, AgencyRow> = BTreeMap::new();
    let mut etas: BTreeMap<TenantId, Vec<f64>> = BTreeMap::new();
    for bid in bids {
        let row = agencies
            .entry(bid.agency_tenant_id)
            .or_insert_with(|| AgencyRow {
                agency_tenant_id: bid.agency_tenant_id,
                agency: bid.agency.clone(),
                bids: 0,
                won: 0,
                completed: 0,
                on_time: 0,
                late: 0,
                median_eta: None,
            });
        row.bids += 1;
        if bid.status == BidStatus::Accepted {
            row.won += 1;
        }
        etas.entry(bid.agency_tenant_id)
            .or_default()
            .push(f64::from(bid.eta_minutes));
    }
    for entry in entries {
        let Some(row) = entry.agency_tenant_id.and_then(|a| agencies.get_mut(&a)) else {
            continue;
        };
        if entry.status == TripStatus::Completed {
            row.completed += 1;
        }
        match on_time(entry) {
            Some(true) => row.on_time += 1,
            Some(false) => row.late += 1,
            None => {}
        }
    }
    for (agency, values) in etas {
        if let Some(row) = agencies.get_mut(&agency) {
            row.median_eta = Minutes::of(values).median;
        }
    }
    let pickups: Vec<bool> = entries.iter().filter_map(on_time).collect();
    TransportReport {
        from,
        to,
        requests: entries.len(),
        by_level: count(&|e| label(&e.level)),
        by_priority: count(&|e| label(&e.priority)),
        by_status: count(&|e| e.status.as_str().to_owned()),
        to_first_bid: Minutes::of(
            entries
                .iter()
                .filter_map(|e| e.first_bid_at.map(|at| minutes(e.published_at, at)))
                .collect(),
        ),
        to_acceptance: Minutes::of(
            entries
                .iter()
                .filter_map(|e| e.accepted_at.map(|at| minutes(e.published_at, at)))
                .collect(),
        ),
        on_time: pickups.iter().filter(|p| **p).count(),
        late: pickups.iter().filter(|p| !**p).count(),
        agencies: agencies.into_values().collect(),
        days: days.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TransportRequestId, UnitId};
    use crate::transport::{Level, Priority};
    use chrono::{Duration, TimeZone};

    fn at(hour: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
            .single()
            .expect("time")
            + Duration::hours(hour)
    }

    fn entry(status: TripStatus, agency: Option<TenantId>) -> BoardEntry {
        BoardEntry {
            id: uuid::Uuid::now_v7(),
            request_id: TransportRequestId::generate(),
            hospital_tenant_id: TenantId::generate(),
            hospital: "General".into(),
            level: Level::Als,
            priority: Priority::Urgent,
            pickup_from: at(10),
            pickup_to: at(12),
            origin: "ER".into(),
            origin_city: "Springfield".into(),
            destination: "Rehab".into(),
            destination_city: "Shelbyville".into(),
            equipment: vec![],
            isolation: None,
            status,
            cancel_reason: None,
            agency_tenant_id: agency,
            agency: agency.map(|_| "Metro".into()),
            trip_id: None,
            published_at: at(0),
            first_bid_at: None,
            accepted_at: None,
            picked_up_at: None,
            updated_at: at(0),
        }
    }

    fn bid(entry: &BoardEntry, agency: TenantId, status: BidStatus, eta: u32) -> Bid {
        Bid {
            id: uuid::Uuid::now_v7(),
            entry_id: entry.id,
            agency_tenant_id: agency,
            agency: "Metro".into(),
            unit_id: UnitId::generate(),
            unit: "Medic 1".into(),
            unit_level: Level::Als,
            eta_minutes: eta,
            notes: None,
            status,
            created_at: at(1),
            updated_at: at(1),
        }
    }

    #[test]
    fn the_report_counts_times_punctuality_and_agencies() {
        let metro = TenantId::generate();
        let mut early = entry(TripStatus::Completed, Some(metro));
        early.first_bid_at = Some(at(0) + Duration::minutes(10));
        early.accepted_at = Some(at(0) + Duration::minutes(40));
        early.picked_up_at = Some(at(11));
        let mut late = entry(TripStatus::Transporting, Some(metro));
        late.first_bid_at = Some(at(0) + Duration::minutes(30));
        late.accepted_at = Some(at(1));
        late.picked_up_at = Some(at(13));
        let open = entry(TripStatus::Published, None);
        let bids = [
            bid(&early, metro, BidStatus::Accepted, 20),
            bid(&late, metro, BidStatus::Accepted, 40),
            bid(&open, metro, BidStatus::Submitted, 30),
        ];
        let report = report(at(0), at(24), &[early, late, open], &bids);
        assert_eq!(report.requests, 3);
        assert_eq!(report.by_status["published"], 1);
        assert_eq!(report.by_level["ALS"], 3);
        assert_eq!(report.to_first_bid.count, 2);
        assert_eq!(report.to_first_bid.median, Some(30.0));
        assert_eq!(report.to_acceptance.median, Some(60.0));
        assert_eq!((report.on_time, report.late), (1, 1));
        let row = &report.agencies[0];
        assert_eq!(
            (
                row.bids,
                row.won,
                row.completed,
                row.on_time,
                row.late,
                row.median_eta
            ),
            (3, 2, 1, 1, 1, Some(30.0))
        );
        assert_eq!(report.days.len(), 1);
        assert_eq!(
            (
                report.days[0].published,
                report.days[0].assigned,
                report.days[0].completed
            ),
            (3, 1, 1)
        );
    }
}
