//! The hub's HTTP API as the client uses it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use outpost_domain::auth::{LoginRequest, LoginResponse, RefreshRequest};
use outpost_domain::sync::{PullResponse, PushRequest, PushResponse, SCHEMA_VERSION, SnapshotLine};

use crate::error::{ClientError, ClientResult};
use crate::transport::{self, HubAddress};

/// A hub at a base URL.
#[derive(Clone)]
pub struct HubApi {
    base: String,
    http: reqwest::Client,
}

impl HubApi {
    /// The API of the hub at `address` (checked: `https://`, or `http://` to this computer).
    pub fn new(address: &HubAddress) -> ClientResult<Self> {
        Ok(Self {
            base: address.url.trim_end_matches('/').to_owned(),
            http: transport::http_client(address)?,
        })
    }

    fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    async fn send(req: RequestBuilder) -> ClientResult<Response> {
        let resp = req.send().await.map_err(|e| transport::failure(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or("hub_error")
            .to_owned();
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or("the hub refused the request")
            .to_owned();
        if code == "device_revoked" {
            return Err(ClientError::DeviceRevoked);
        }
        Err(ClientError::Hub {
            status,
            code,
            message,
        })
    }

    async fn json<T: DeserializeOwned>(req: RequestBuilder) -> ClientResult<T> {
        Self::send(req)
            .await?
            .json()
            .await
            .map_err(|e| transport::failure(&e))
    }

    pub async fn login(&self, req: &LoginRequest) -> ClientResult<LoginResponse> {
        Self::json(self.request(Method::POST, "/v1/auth/login", None).json(req)).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> ClientResult<LoginResponse> {
        let body = RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        Self::json(
            self.request(Method::POST, "/v1/auth/refresh", None)
                .json(&body),
        )
        .await
    }

    pub async fn logout(&self, token: &str) -> ClientResult<()> {
        Self::send(self.request(Method::POST, "/v1/auth/logout", Some(token)))
            .await
            .map(drop)
    }

    pub async fn jwks(&self) -> ClientResult<Value> {
        Self::json(self.request(Method::GET, "/v1/auth/jwks", None)).await
    }

    /// `GET` of any route answering JSON (the board, bids: online only).
    pub async fn get<T: DeserializeOwned>(&self, token: &str, path: &str) -> ClientResult<T> {
        Self::json(self.request(Method::GET, path, Some(token))).await
    }

    /// `GET` with query parameters.
    pub async fn get_with<T: DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
        query: &impl serde::Serialize,
    ) -> ClientResult<T> {
        Self::json(self.request(Method::GET, path, Some(token)).query(query)).await
    }

    /// `POST` (or another method) of a JSON body to any route answering JSON.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: &impl serde::Serialize,
    ) -> ClientResult<T> {
        Self::json(self.request(method, path, Some(token)).json(body)).await
    }

    pub async fn push(&self, token: &str, body: &PushRequest) -> ClientResult<PushResponse> {
        Self::json(
            self.request(Method::POST, "/v1/sync/push", Some(token))
                .json(body),
        )
        .await
    }

    /// Changes after `cursor` of the kinds this build knows; with `learned_after`, only of the
    /// kinds newer than that schema (catching up on kinds an update brought).
    pub async fn pull(
        &self,
        token: &str,
        cursor: i64,
        limit: u32,
        learned_after: Option<i64>,
    ) -> ClientResult<PullResponse> {
        let learned = learned_after.map_or(String::new(), |s| format!("&learned_after={s}"));
        Self::json(self.request(
            Method::GET,
            &format!(
                "/v1/sync/pull?cursor={cursor}&limit={limit}&schema={SCHEMA_VERSION}{learned}"
            ),
            Some(token),
        ))
        .await
    }

    /// The snapshot as a stream of lines, parsed as they arrive.
    pub async fn snapshot(
        &self,
        token: &str,
    ) -> ClientResult<impl Stream<Item = ClientResult<Vec<SnapshotLine>>> + use<>> {
        let path = format!("/v1/sync/snapshot?schema={SCHEMA_VERSION}");
        let resp = Self::send(self.request(Method::GET, &path, Some(token))).await?;
        let mut pending: Vec<u8> = Vec::new();
        Ok(resp.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(|e| transport::failure(&e))?;
            pending.extend_from_slice(&chunk);
            let Some(last_newline) = pending.iter().rposition(|b| *b == b'\n') else {
                return Ok(Vec::new());
            };
            let complete: Vec<u8> = pending.drain(..=last_newline).collect();
            complete
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .map(|line| {
                    serde_json::from_slice(line)
                        .map_err(|e| ClientError::Corrupt(format!("snapshot line: {e}")))
                })
                .collect()
        }))
    }

    /// Whether the hub answers its health check within a few seconds; a hub that answers with
    /// a certificate this computer does not trust is that error, not "unreachable".
    pub async fn reachable(&self) -> ClientResult<bool> {
        let answer = self
            .request(Method::GET, "/healthz", None)
            .timeout(std::time::Duration::from_secs(3))
            .send()
            .await;
        match answer {
            Ok(resp) => Ok(resp.status().is_success()),
            Err(err) => match transport::failure(&err) {
                ClientError::Offline(_) => Ok(false),
                refused => Err(refused),
            },
        }
    }

    /// Server-sent events, parsed by a maintained parser (CRLF, events split across chunks,
    /// multi-byte text): yields each [`Announcement`]. `arrivals` counts every piece of bytes
    /// that arrives, keep-alives and comments included (an older hub's keep-alive is a
    /// comment, which no parser hands over), so that a listener can tell a live link from a
    /// silent one.
    pub async fn events(
        &self,
        token: &str,
        arrivals: Arc<AtomicU64>,
    ) -> ClientResult<impl Stream<Item = ClientResult<Announcement>> + Send + use<>> {
        let resp = Self::send(self.request(Method::GET, "/v1/events", Some(token))).await?;
        let bytes = resp.bytes_stream().inspect(move |_| {
            arrivals.fetch_add(1, Ordering::Relaxed);
        });
        Ok(announcements(bytes, transport::failure))
    }
}

/// What the hub announces on `/v1/events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// The user's data changed on the hub, up to this cursor: time to pull.
    Changes(i64),
    /// The transport board changed (an entry published, bid on, accepted, moving): whoever
    /// shows it reads it again. Carries ids only, so nothing of it is kept.
    Board,
    /// Anything else: the keep-alive, or an event this client does not know.
    Other,
}

/// The announcements in a stream of server-sent event bytes; `failure` describes a transport
/// error.
fn announcements<S, B, E>(
    bytes: S,
    failure: fn(&E) -> ClientError,
) -> impl Stream<Item = ClientResult<Announcement>>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    bytes.eventsource().map(move |event| match event {
        Ok(event) if event.event == "changes" => {
            let data: Value = serde_json::from_str(&event.data)
                .map_err(|_| ClientError::Corrupt("a changes event without its cursor".into()))?;
            data["cursor"]
                .as_i64()
                .map(Announcement::Changes)
                .ok_or_else(|| ClientError::Corrupt("a changes event without its cursor".into()))
        }
        Ok(event) if event.event == "board" => Ok(Announcement::Board),
        Ok(_) => Ok(Announcement::Other),
        Err(EventStreamError::Transport(err)) => Err(failure(&err)),
        Err(_) => Err(ClientError::Corrupt(
            "the hub's event stream is malformed".into(),
        )),
    })
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::StreamExt;

    use super::*;

    fn unreachable_failure(_: &Infallible) -> ClientError {
        ClientError::Offline("no transport in this test".into())
    }

    #[tokio::test]
    async fn events_split_anywhere_with_crlf_and_multibyte_text_are_read_whole() {
        // The hub's keep-alive exactly as it sends it, an older hub's (a comment), changes
        // and a board event.
        let text = "event: keep-alive\r\ndata: {}\r\n\r\n: a comment\r\nevent: changes\r\n\
                    data: {\"cursor\": 42, \"note\": \"caf\u{e9} \u{1f691}\"}\r\n\r\n\
                    event: board\r\ndata: {\"entry_id\": \"e\"}\r\n\r\n\
                    event: changes\ndata: {\"cursor\": 43}\n\n";
        let bytes = text.as_bytes();
        // Cut into pieces of 3 bytes: through field names, CRLF pairs and UTF-8 sequences.
        let chunks: Vec<Result<Vec<u8>, Infallible>> =
            bytes.chunks(3).map(|c| Ok(c.to_vec())).collect();
        let read: Vec<Announcement> =
            announcements(futures_util::stream::iter(chunks), unreachable_failure)
                .map(|r| r.expect("event"))
                .collect()
                .await;
        assert_eq!(
            read,
            [
                Announcement::Other,
                Announcement::Changes(42),
                Announcement::Board,
                Announcement::Changes(43)
            ]
        );
    }
}
