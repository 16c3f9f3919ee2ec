//! A dispatcher's units and their shifts (DESIGN.md's `unit_availability`), from the local
//! copy: offline too, each change kept here and sent with the next sync. A unit's planned
//! shifts never overlap, checked here before saving as the hub checks it on arrival.

use chrono::Duration;
use serde::Serialize;
use serde_json::json;
use ts_rs::TS;

use outpost_domain::record::to_map;
use outpost_domain::transport::shift::{MAX_HOURS, Shift, ShiftFields, ShiftStatus};
use outpost_domain::transport::unit::{Unit, UnitStatus};
use outpost_domain::{Entity, ShiftId, UnitId};

use super::Client;
use super::records::typed;
use crate::cache::records::time_key;
use crate::error::{ClientError, ClientResult};

/// A unit as this computer holds it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct LocalUnit {
    pub unit: Unit,
    /// A change made here waits to reach the hub.
    pub pending: bool,
    /// Its planned shifts not over yet, in order of start (the first may be under way).
    pub shifts: Vec<LocalShift>,
}

/// A shift as this computer holds it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct LocalShift {
    pub shift: Shift,
    /// Planned or changed here, not on the hub yet.
    pub pending: bool,
    /// The hub refused it (another shift of the unit was planned then, from another
    /// computer): it waits for the dispatcher in the conflicts, and counts for nothing.
    pub conflict: bool,
}

impl Client {
    /// The agency's units in the local copy, in call-sign order, each with whether a change
    /// made here waits to reach the hub and its shifts to come (a dispatcher's roster, offline
    /// too).
    pub fn roster(&mut self) -> ClientResult<Vec<LocalUnit>> {
        let now = self.now();
        // A shift under way began at most its longest length ago.
        let from = time_key(now - Duration::hours(MAX_HOURS));
        let mut shifts = Vec::new();
        for local in self.records_between(Entity::UnitShift, None, &from, "~")? {
            let shift: Shift = typed(&local.record)?;
            if shift.fields.status == ShiftStatus::Planned && shift.fields.end > now {
                let pending = self.has_pending(local.record.id)?;
                shifts.push(LocalShift {
                    shift,
                    pending,
                    conflict: local.conflict,
                });
            }
        }
        let mut units = Vec::new();
        for local in self.records(Entity::Unit)? {
            let unit: Unit = typed(&local.record)?;
            let pending = self.has_pending(local.record.id)?;
            let shifts = shifts
                .iter()
                .filter(|s| s.shift.fields.unit_id == unit.id)
                .cloned()
                .collect();
            units.push(LocalUnit {
                unit,
                pending,
                shifts,
            });
        }
        Ok(units)
    }

    /// Takes a unit out of service or puts it back, here (offline too); the sync takes it to
    /// the hub. `assigned` is the hub's to set, when a bid with the unit is accepted.
    pub fn set_unit_status(&mut self, unit: UnitId, status: UnitStatus) -> ClientResult<Unit> {
        if status == UnitStatus::Assigned {
            return Err(ClientError::Refused {
                code: "invalid_transition",
                message: "a unit is assigned by an accepted bid, not by hand".into(),
            });
        }
        let changes = to_map(&json!({ "status": status }));
        let record = self.change_record(Entity::Unit, unit.into(), &changes)?;
        typed(&record)
    }

    /// Plans a shift of a unit here (offline too); one overlapping another planned shift of
    /// the unit is refused (`slot_taken`), as the hub would.
    pub fn plan_shift(&mut self, fields: ShiftFields) -> ClientResult<Shift> {
        let record = self.create_record(Entity::UnitShift, to_map(&fields))?;
        typed(&record)
    }

    /// Cancels a shift that will not happen, here (offline too): its time is free again.
    pub fn cancel_shift(&mut self, shift: ShiftId) -> ClientResult<Shift> {
        let changes = to_map(&json!({ "status": ShiftStatus::Cancelled }));
        let record = self.change_record(Entity::UnitShift, shift.into(), &changes)?;
        typed(&record)
    }
}
