//! A crew's trips on this computer (an ambulance laptop, often offline): the trips the mirror
//! holds (only those naming this crew, or every one for a dispatcher), each with its steps,
//! and the next step taken here, one at a time, with the device's time; the hub keeps its own
//! time for each when the step arrives.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use ts_rs::TS;

use outpost_domain::record::HistoryEntry;
use outpost_domain::sync::Op;
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::trip::Trip;
use outpost_domain::{Entity, TripId};

use super::Client;
use super::records::typed;
use crate::cache::{Cache, LocalRecord};
use crate::error::ClientResult;

/// A trip as this computer holds it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct LocalTrip {
    pub trip: Trip,
    /// Steps taken here wait to reach the hub.
    pub pending: bool,
    /// The hub refused a step: the crew settles it.
    pub conflict: bool,
}

/// One step of a trip: when the crew's device took it, and when the hub recorded it (`None`
/// until it has).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct TripStep {
    pub status: TripStatus,
    pub device_time: Option<DateTime<Utc>>,
    pub hub_time: Option<DateTime<Utc>>,
}

/// The status an op or a version sets, if it sets one.
fn status_in(value: &Value) -> Option<TripStatus> {
    serde_json::from_value(value.clone()).ok()
}

/// A trip's steps: those the hub recorded (its versions, in its order, each with both times),
/// then those taken here and not synced yet (the device's time only).
pub fn steps(history: &[HistoryEntry], pending: &[Op]) -> Vec<TripStep> {
    let recorded = history.iter().filter_map(|entry| {
        Some(TripStep {
            status: status_in(&entry.changes.get("status")?.new)?,
            device_time: entry.client_time,
            hub_time: Some(entry.at),
        })
    });
    let waiting = pending.iter().filter_map(|op| {
        Some(TripStep {
            status: status_in(op.fields.get("status")?)?,
            device_time: Some(op.client_time),
            hub_time: None,
        })
    });
    recorded.chain(waiting).collect()
}

impl Client {
    fn local_trip(&mut self, local: &LocalRecord) -> ClientResult<LocalTrip> {
        Ok(LocalTrip {
            trip: typed(&local.record)?,
            pending: self.has_pending(local.record.id)?,
            conflict: local.conflict,
        })
    }

    /// The trips this computer holds, in order of their pickup window (audited as a search).
    pub fn trips(&mut self) -> ClientResult<Vec<LocalTrip>> {
        let found = self.records(Entity::Trip)?;
        found.iter().map(|l| self.local_trip(l)).collect()
    }

    /// One trip with its steps (audited as a read and a history read).
    pub fn trip(&mut self, id: TripId) -> ClientResult<(LocalTrip, Vec<TripStep>)> {
        let local = self.record(Entity::Trip, id.into())?;
        let trip = self.local_trip(&local)?;
        let history = self.record_history(Entity::Trip, id.into())?;
        let pending = Cache::pending_ops_of(self.cache()?.conn(), id.into())?;
        Ok((trip, steps(&history, &pending)))
    }

    /// Takes a trip's next step here (the device's time goes with it). A step out of order
    /// is refused (`invalid_transition`) and nothing is kept; a cancellation needs a reason.
    pub fn set_trip_status(
        &mut self,
        id: TripId,
        status: TripStatus,
        reason: Option<&str>,
    ) -> ClientResult<Trip> {
        let mut changes = Map::new();
        changes.insert("status".into(), json!(status));
        if let Some(reason) = reason {
            changes.insert("cancel_reason".into(), Value::String(reason.to_owned()));
        }
        let record = self.change_record(Entity::Trip, id.into(), &changes)?;
        typed(&record)
    }
}
