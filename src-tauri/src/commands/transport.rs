//! A crew's trips, read from and moved in the local mirror (offline or not); each step wakes
//! the background sync.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use outpost_client::{LocalTrip, TripStep};
use outpost_domain::TripId;
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::trip::Trip;

use crate::error::IpcResult;
use crate::state::Desktop;

#[derive(Debug, Clone, Deserialize, TS)]
pub struct TripRef {
    pub id: TripId,
}

/// A trip with its steps so far, each with the device's time and, once synced, the hub's.
#[derive(Debug, Clone, Serialize, TS)]
pub struct TripDetail {
    pub trip: LocalTrip,
    pub steps: Vec<TripStep>,
}

/// The trip's next step, or its cancellation with a reason.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct TripStatusChange {
    pub id: TripId,
    pub status: TripStatus,
    pub reason: Option<String>,
}

pub async fn trips(desktop: &Desktop, (): ()) -> IpcResult<Vec<LocalTrip>> {
    Ok(desktop.client.lock().await.trips()?)
}

pub async fn trip(desktop: &Desktop, req: TripRef) -> IpcResult<TripDetail> {
    let (trip, steps) = desktop.client.lock().await.trip(req.id)?;
    Ok(TripDetail { trip, steps })
}

pub async fn trip_status(desktop: &Desktop, req: TripStatusChange) -> IpcResult<Trip> {
    desktop
        .write(|client| client.set_trip_status(req.id, req.status, req.reason.as_deref()))
        .await
}
