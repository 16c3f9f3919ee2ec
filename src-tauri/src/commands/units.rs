//! A dispatcher's units and their shifts, from the local copy (offline too): each change is
//! kept here and wakes the sync.

use serde::Deserialize;
use ts_rs::TS;

use outpost_client::LocalUnit;
use outpost_domain::transport::shift::{Shift, ShiftFields};
use outpost_domain::transport::unit::{Unit, UnitStatus};
use outpost_domain::{ShiftId, UnitId};

use crate::error::IpcResult;
use crate::state::Desktop;

/// A unit taken out of service or put back.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct UnitStatusChange {
    pub id: UnitId,
    pub status: UnitStatus,
}

/// A shift to cancel.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct ShiftRef {
    pub shift_id: ShiftId,
}

/// The agency's units in the local copy, in call-sign order, with their shifts to come.
pub async fn roster(desktop: &Desktop, (): ()) -> IpcResult<Vec<LocalUnit>> {
    Ok(desktop.client.lock().await.roster()?)
}

/// Takes a unit out of service or puts it back.
pub async fn set_unit_status(desktop: &Desktop, req: UnitStatusChange) -> IpcResult<Unit> {
    desktop
        .write(|client| client.set_unit_status(req.id, req.status))
        .await
}

/// Plans a shift of a unit; one overlapping another of its planned shifts is `slot_taken`.
pub async fn plan_shift(desktop: &Desktop, fields: ShiftFields) -> IpcResult<Shift> {
    desktop.write(|client| client.plan_shift(fields)).await
}

/// Cancels a shift that will not happen.
pub async fn cancel_shift(desktop: &Desktop, req: ShiftRef) -> IpcResult<Shift> {
    desktop
        .write(|client| client.cancel_shift(req.shift_id))
        .await
}
