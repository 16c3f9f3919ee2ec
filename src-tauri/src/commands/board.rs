//! The transport board, live from the hub (it has no local copy): a dispatcher's board and
//! bids; a hospital coordinator's drafts to publish and bids to accept; the transport
//! center's whole board and its report. Without the link these answer `offline`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use outpost_client::{BoardQuery, LocalRequest};
use outpost_domain::transport::board::{Bid, BoardEntry, BoardFilter, NewBid};
use outpost_domain::transport::facility::Facility;
use outpost_domain::transport::report::TransportReport;
use outpost_domain::transport::request::{TransportRequest, TransportRequestFields};
use outpost_domain::{Entity, TransportRequestId};

use crate::error::IpcResult;
use crate::state::Desktop;

/// The board's filters, and where the previous page ended.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct BoardRead {
    #[serde(flatten)]
    #[ts(flatten)]
    pub filter: BoardFilter,
    pub cursor: Option<String>,
}

/// A page of the board: the next is asked for with `next_cursor`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct BoardPage {
    pub entries: Vec<BoardEntry>,
    pub next_cursor: Option<String>,
}

/// A request to cancel, and why (the agency's crew reads it).
#[derive(Debug, Clone, Deserialize, TS)]
pub struct CancelRequest {
    pub request_id: TransportRequestId,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct EntryRef {
    #[ts(type = "string")]
    pub entry_id: Uuid,
}

/// A bid on an entry.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct PlaceBid {
    #[ts(type = "string")]
    pub entry_id: Uuid,
    pub bid: NewBid,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct BidRef {
    #[ts(type = "string")]
    pub entry_id: Uuid,
    #[ts(type = "string")]
    pub bid_id: Uuid,
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct RequestRef {
    pub request_id: TransportRequestId,
}

/// A bid to accept on one of the hospital's requests.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct AcceptBid {
    pub request_id: TransportRequestId,
    #[ts(type = "string")]
    pub bid_id: Uuid,
}

/// The report's period.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct ReportRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

pub async fn board(desktop: &Desktop, req: BoardRead) -> IpcResult<BoardPage> {
    let mut filter = req.filter;
    filter.city = filter.city.filter(|c| !c.trim().is_empty());
    let query = BoardQuery {
        filter,
        cursor: req.cursor,
        ..BoardQuery::new()
    };
    let page = desktop.client.lock().await.board(&query).await?;
    Ok(BoardPage {
        entries: page.items,
        next_cursor: page.next_cursor,
    })
}

pub async fn board_bids(desktop: &Desktop, req: EntryRef) -> IpcResult<Vec<Bid>> {
    Ok(desktop.client.lock().await.bids(req.entry_id).await?)
}

pub async fn place_bid(desktop: &Desktop, req: PlaceBid) -> IpcResult<Bid> {
    Ok(desktop
        .client
        .lock()
        .await
        .bid(req.entry_id, &req.bid)
        .await?)
}

pub async fn withdraw_bid(desktop: &Desktop, req: BidRef) -> IpcResult<Bid> {
    Ok(desktop
        .client
        .lock()
        .await
        .withdraw_bid(req.entry_id, req.bid_id)
        .await?)
}

/// The hospital's drafts in the local copy, in pickup order.
pub async fn draft_requests(desktop: &Desktop, (): ()) -> IpcResult<Vec<LocalRequest>> {
    Ok(desktop.client.lock().await.draft_requests()?)
}

/// The hospital's facilities in the local copy, in name order.
pub async fn facilities(desktop: &Desktop, (): ()) -> IpcResult<Vec<Facility>> {
    Ok(desktop.client.lock().await.facilities()?)
}

/// Drafts a request here (offline too) and wakes the sync that takes it to the hub.
pub async fn draft_request(
    desktop: &Desktop,
    req: TransportRequestFields,
) -> IpcResult<TransportRequest> {
    desktop.write(|client| client.draft_request(req)).await
}

/// Discards a draft (only a draft: a request that reached the board is cancelled).
pub async fn discard_draft(desktop: &Desktop, req: RequestRef) -> IpcResult<()> {
    desktop
        .write(|client| client.delete_record(Entity::TransportRequest, req.request_id.into()))
        .await
}

/// Cancels a request on the hub, with the reason.
pub async fn cancel_request(desktop: &Desktop, req: CancelRequest) -> IpcResult<TransportRequest> {
    let mut client = desktop.client.lock().await;
    let cancelled = client.cancel_request(req.request_id, &req.reason).await?;
    desktop.wake.notify_one();
    Ok(cancelled)
}

pub async fn publish_request(desktop: &Desktop, req: RequestRef) -> IpcResult<TransportRequest> {
    let mut client = desktop.client.lock().await;
    let published = client.publish(req.request_id).await?;
    desktop.wake.notify_one();
    Ok(published)
}

pub async fn accept_bid(desktop: &Desktop, req: AcceptBid) -> IpcResult<TransportRequest> {
    let mut client = desktop.client.lock().await;
    let accepted = client.accept_bid(req.request_id, req.bid_id).await?;
    desktop.wake.notify_one();
    Ok(accepted)
}

pub async fn transport_report(desktop: &Desktop, req: ReportRange) -> IpcResult<TransportReport> {
    Ok(desktop
        .client
        .lock()
        .await
        .transport_report(req.from, req.to)
        .await?)
}
