//! The transport board, read and bid on live (it lives in the hub's central database: there is
//! no local copy of it, so these need the hub): a dispatcher's board and bids, a coordinator's
//! publishing, cancelling and accepting. Nothing here holds patient data.

use reqwest::Method;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use outpost_domain::page::Page;
use outpost_domain::transport::board::{Bid, BoardEntry, NewBid};
use outpost_domain::transport::report::TransportReport;
use outpost_domain::transport::request::TransportRequest;
use outpost_domain::transport::unit::Unit;
use outpost_domain::transport::{Level, Priority, TripStatus};
use outpost_domain::{Entity, TransportRequestId};

use super::Client;
use crate::error::ClientResult;

/// Filters of the board, as `GET /v1/board` takes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoardQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<TripStatus>,
    /// The page size (the board's largest by default).
    pub limit: u32,
}

impl BoardQuery {
    pub fn new() -> Self {
        Self {
            limit: 500,
            ..Self::default()
        }
    }
}

impl Client {
    /// The board as the hub shows it to this user's tenant, in pickup order.
    pub async fn board(&mut self, query: &BoardQuery) -> ClientResult<Vec<BoardEntry>> {
        let session = self.session()?;
        let token = session.token().await?;
        let page: Page<BoardEntry> = session.api.get_with(&token, "/v1/board", query).await?;
        Ok(page.items)
    }

    /// The bids on an entry this user's tenant sees (an agency: its own).
    pub async fn bids(&mut self, entry: Uuid) -> ClientResult<Vec<Bid>> {
        let session = self.session()?;
        let token = session.token().await?;
        let page: Page<Bid> = session
            .api
            .get(&token, &format!("/v1/board/{entry}/bids"))
            .await?;
        Ok(page.items)
    }

    /// Bids on an entry with one of the agency's units.
    pub async fn bid(&mut self, entry: Uuid, bid: &NewBid) -> ClientResult<Bid> {
        let session = self.session()?;
        let token = session.token().await?;
        session
            .api
            .send_json(
                Method::POST,
                &token,
                &format!("/v1/board/{entry}/bids"),
                bid,
            )
            .await
    }

    /// Withdraws the agency's bid while the entry is open.
    pub async fn withdraw_bid(&mut self, entry: Uuid, bid: Uuid) -> ClientResult<Bid> {
        let session = self.session()?;
        let token = session.token().await?;
        session
            .api
            .send_json(
                Method::DELETE,
                &token,
                &format!("/v1/board/{entry}/bids/{bid}"),
                &json!(null),
            )
            .await
    }

    /// The agency's units as the hub holds them now (a dispatcher bids with one).
    pub async fn units(&mut self) -> ClientResult<Vec<Unit>> {
        let session = self.session()?;
        let token = session.token().await?;
        let page: Page<Unit> = session.api.get(&token, "/v1/units?limit=500").await?;
        Ok(page.items)
    }

    /// Puts a hospital's draft request on the board.
    pub async fn publish(&mut self, request: TransportRequestId) -> ClientResult<TransportRequest> {
        let session = self.session()?;
        let token = session.token().await?;
        session
            .api
            .send_json(
                Method::POST,
                &token,
                &format!("/v1/transport-requests/{request}/publish"),
                &json!({}),
            )
            .await
    }

    /// The hospital's draft requests in the local copy, in pickup order (to publish).
    pub fn draft_requests(&mut self) -> ClientResult<Vec<TransportRequest>> {
        let mut drafts: Vec<TransportRequest> = self
            .records(Entity::TransportRequest)?
            .into_iter()
            .filter(|r| !r.deleted)
            .filter_map(|r| r.record.to_typed::<TransportRequest>().ok())
            .filter(|r| r.fields.status == TripStatus::Draft)
            .collect();
        drafts.sort_by_key(|r| r.fields.pickup_from);
        Ok(drafts)
    }

    /// The transport report over `[from, to)`, as the hub shows it to this user's tenant.
    pub async fn transport_report(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ClientResult<TransportReport> {
        let session = self.session()?;
        let token = session.token().await?;
        session
            .api
            .get_with(
                &token,
                "/v1/reports/transport",
                &[("from", from.to_rfc3339()), ("to", to.to_rfc3339())],
            )
            .await
    }

    /// Accepts a bid on one of the hospital's requests.
    pub async fn accept_bid(
        &mut self,
        request: TransportRequestId,
        bid: Uuid,
    ) -> ClientResult<TransportRequest> {
        let session = self.session()?;
        let token = session.token().await?;
        session
            .api
            .send_json(
                Method::POST,
                &token,
                &format!("/v1/transport-requests/{request}/bids/{bid}/accept"),
                &json!({}),
            )
            .await
    }
}
