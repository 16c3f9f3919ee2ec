//! The transport board, read and bid on live (it lives in the hub's central database: there is
//! no local copy of it, so these need the hub): a dispatcher's board and bids, a coordinator's
//! publishing, cancelling and accepting. Nothing here holds patient data.

use std::sync::Arc;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use ts_rs::TS;
use uuid::Uuid;

use chrono::{DateTime, Utc};

use outpost_domain::page::Page;
use outpost_domain::transport::TripStatus;
use outpost_domain::transport::board::{Bid, BoardEntry, BoardFilter, NewBid};
use outpost_domain::transport::facility::Facility;
use outpost_domain::transport::report::TransportReport;
use outpost_domain::transport::request::{TransportRequest, TransportRequestFields};
use outpost_domain::transport::unit::Unit;
use outpost_domain::{Entity, TransportRequestId};

use super::Client;
use crate::error::{ClientError, ClientResult};
use crate::session::Session;

/// A draft request as this computer holds it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct LocalRequest {
    pub request: TransportRequest,
    /// Not on the hub yet (or changed here since): publishing waits for the sync.
    pub pending: bool,
}

/// A page of the board, as `GET /v1/board` takes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BoardQuery {
    #[serde(flatten)]
    pub filter: BoardFilter,
    /// The page size (the board's largest by default).
    pub limit: u32,
    /// Where the previous page ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
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
    /// A session and a valid access token, for a call that needs the hub.
    async fn online(&mut self) -> ClientResult<(Arc<Session>, String)> {
        let session = self.session()?;
        let token = session.token().await?;
        Ok((session, token))
    }

    /// Sends `body` to the hub and reads its answer.
    async fn send<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> ClientResult<T> {
        let (session, token) = self.online().await?;
        session.api.send_json(method, &token, path, body).await
    }

    /// A page of the board as the hub shows it to this user's tenant, in pickup order.
    pub async fn board(&mut self, query: &BoardQuery) -> ClientResult<Page<BoardEntry>> {
        let (session, token) = self.online().await?;
        session.api.get_with(&token, "/v1/board", query).await
    }

    /// The bids on an entry this user's tenant sees (an agency: its own).
    pub async fn bids(&mut self, entry: Uuid) -> ClientResult<Vec<Bid>> {
        let (session, token) = self.online().await?;
        let page: Page<Bid> = session
            .api
            .get(&token, &format!("/v1/board/{entry}/bids"))
            .await?;
        Ok(page.items)
    }

    /// Bids on an entry with one of the agency's units.
    pub async fn bid(&mut self, entry: Uuid, bid: &NewBid) -> ClientResult<Bid> {
        self.send(Method::POST, &format!("/v1/board/{entry}/bids"), bid)
            .await
    }

    /// Withdraws the agency's bid while the entry is open.
    pub async fn withdraw_bid(&mut self, entry: Uuid, bid: Uuid) -> ClientResult<Bid> {
        self.send(
            Method::DELETE,
            &format!("/v1/board/{entry}/bids/{bid}"),
            &json!(null),
        )
        .await
    }

    /// The agency's units as the hub holds them now (a dispatcher bids with one).
    pub async fn units(&mut self) -> ClientResult<Vec<Unit>> {
        let (session, token) = self.online().await?;
        let page: Page<Unit> = session.api.get(&token, "/v1/units?limit=500").await?;
        Ok(page.items)
    }

    /// Puts a hospital's draft request on the board.
    pub async fn publish(&mut self, request: TransportRequestId) -> ClientResult<TransportRequest> {
        self.send(
            Method::POST,
            &format!("/v1/transport-requests/{request}/publish"),
            &json!({}),
        )
        .await
    }

    /// The hospital's draft requests in the local copy, in pickup order (to publish once the
    /// hub has them).
    pub fn draft_requests(&mut self) -> ClientResult<Vec<LocalRequest>> {
        let mut drafts = Vec::new();
        for local in self.records(Entity::TransportRequest)? {
            let Ok(request) = local.record.to_typed::<TransportRequest>() else {
                continue;
            };
            if request.fields.status == TripStatus::Draft {
                // Never on the hub, or changed here since.
                let pending = local.hub_version.is_none() || self.has_pending(local.record.id)?;
                drafts.push(LocalRequest { request, pending });
            }
        }
        Ok(drafts)
    }

    /// Drafts a transport request here (offline too); it reaches the hub with the next sync.
    pub fn draft_request(
        &mut self,
        fields: TransportRequestFields,
    ) -> ClientResult<TransportRequest> {
        let fields = outpost_domain::record::to_map(&fields);
        let record = self.create_record(Entity::TransportRequest, fields)?;
        record
            .to_typed()
            .map_err(|_| ClientError::Corrupt("a drafted request does not read".into()))
    }

    /// Cancels a request with a reason on the hub (a published one leaves the board, an
    /// assigned one's trip is cancelled too).
    pub async fn cancel_request(
        &mut self,
        request: TransportRequestId,
        reason: &str,
    ) -> ClientResult<TransportRequest> {
        self.send(
            Method::POST,
            &format!("/v1/transport-requests/{request}/cancel"),
            &json!({ "reason": reason }),
        )
        .await
    }

    /// The hospital's facilities in the local copy, in name order (a request goes from one
    /// to another).
    pub fn facilities(&mut self) -> ClientResult<Vec<Facility>> {
        Ok(self
            .records(Entity::Facility)?
            .into_iter()
            .filter_map(|r| r.record.to_typed::<Facility>().ok())
            .collect())
    }

    /// The transport report over `[from, to)`, as the hub shows it to this user's tenant.
    pub async fn transport_report(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> ClientResult<TransportReport> {
        let (session, token) = self.online().await?;
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
        self.send(
            Method::POST,
            &format!("/v1/transport-requests/{request}/bids/{bid}/accept"),
            &json!({}),
        )
        .await
    }
}
