//! Audit events and the hash chain that makes tampering evident.
//!
//! `hash_i = SHA-256(hash_{i-1} ‖ seq ‖ canonical_json(event))`, where `seq` is big-endian
//! 8 bytes, the previous hash is its 32 raw bytes (all zero for the first event) and the
//! canonical JSON has its object keys sorted and no white space.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ids::{DeviceId, SessionId, TenantId, UserId};

/// The hash before the first event of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One audited fact: who did what to which record, when, from where, with what result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub tenant_id: Option<TenantId>,
    pub actor_user_id: Option<UserId>,
    pub actor_role: Option<String>,
    pub session_id: Option<SessionId>,
    pub device_id: Option<DeviceId>,
    pub ip: Option<String>,
    /// Dotted verb, e.g. `patient.read`, `patient.update`, `auth.login_failed`.
    pub action: String,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub outcome: Outcome,
    /// Action-specific facts: changed fields with old and new values, the ids a search
    /// returned, a reason. Never a password, token or key.
    pub details: Value,
}

impl AuditEvent {
    /// An event at `at` (truncated to microseconds, the precision every store keeps, so that
    /// a stored event hashes the same when read back).
    pub fn new(at: DateTime<Utc>, action: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            at: at.trunc_subsecs(6),
            tenant_id: None,
            actor_user_id: None,
            actor_role: None,
            session_id: None,
            device_id: None,
            ip: None,
            action: action.into(),
            entity: None,
            entity_id: None,
            outcome,
            details: Value::Null,
        }
    }

    pub fn entity(mut self, entity: &str, id: impl ToString) -> Self {
        self.entity = Some(entity.to_owned());
        self.entity_id = Some(id.to_string());
        self
    }

    /// Sets the event's details; members already there (the request id) are kept unless the
    /// new details name them too.
    pub fn details(mut self, details: Value) -> Self {
        self.details = match (std::mem::take(&mut self.details), details) {
            (Value::Object(mut kept), Value::Object(new)) => {
                kept.extend(new);
                Value::Object(kept)
            }
            (_, new) => new,
        };
        self
    }
}

/// Who is acting, from where, and when: the context every audited store call receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub role: Option<String>,
    pub tenant_id: Option<TenantId>,
    pub session_id: Option<SessionId>,
    pub device_id: Option<DeviceId>,
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
    /// The id of the HTTP request acting (also in the hub's log lines), recorded in the
    /// details of every event it causes.
    pub request_id: Option<String>,
}

impl Actor {
    /// An actor with no user: the system itself (migrations, the demo seeder, the CLI run by
    /// an operator on the server).
    pub fn system(at: DateTime<Utc>) -> Self {
        Self {
            user_id: None,
            role: Some("system".into()),
            tenant_id: None,
            session_id: None,
            device_id: None,
            ip: None,
            at,
            request_id: None,
        }
    }

    /// An event performed by this actor.
    pub fn event(&self, action: impl Into<String>, outcome: Outcome) -> AuditEvent {
        AuditEvent {
            tenant_id: self.tenant_id,
            actor_user_id: self.user_id,
            actor_role: self.role.clone(),
            session_id: self.session_id,
            device_id: self.device_id,
            ip: self.ip.clone(),
            details: match &self.request_id {
                Some(id) => serde_json::json!({ "request_id": id }),
                None => Value::Null,
            },
            ..AuditEvent::new(self.at, action, outcome)
        }
    }
}

/// An event as stored in a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// The answer of an audit verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainReport {
    /// `central` or the tenant's slug.
    pub chain: String,
    pub events: i64,
    pub valid: bool,
    /// The first sequence number whose stored hash or link does not match.
    pub first_broken_seq: Option<i64>,
}

/// The hash of event `seq` following `prev_hash` (hex).
pub fn chain_hash(prev_hash: &str, seq: i64, event: &AuditEvent) -> String {
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(prev_hash).unwrap_or_default());
    hasher.update(seq.to_be_bytes());
    hasher.update(canonical_json(
        &serde_json::to_value(event).unwrap_or(Value::Null),
    ));
    hex::encode(hasher.finalize())
}

/// Checks a chain one record at a time, so that a backend can stream millions of events
/// without holding them in memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    prev: String,
    next_seq: i64,
    events: i64,
    first_broken_seq: Option<i64>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            prev: GENESIS_HASH.to_owned(),
            next_seq: 1,
            events: 0,
            first_broken_seq: None,
        }
    }
}

impl ChainVerifier {
    /// Feeds the next record; returns `false` once the chain is known to be broken.
    pub fn push(&mut self, record: &AuditRecord) -> bool {
        if self.first_broken_seq.is_some() {
            return false;
        }
        self.events += 1;
        let intact = record.seq == self.next_seq
            && record.prev_hash == self.prev
            && chain_hash(&self.prev, record.seq, &record.event) == record.hash;
        if !intact {
            self.first_broken_seq = Some(self.next_seq);
            return false;
        }
        self.prev.clone_from(&record.hash);
        self.next_seq += 1;
        true
    }

    /// The verdict for the chain named `chain`.
    pub fn finish(self, chain: &str) -> ChainReport {
        ChainReport {
            chain: chain.to_owned(),
            events: self.events,
            valid: self.first_broken_seq.is_none(),
            first_broken_seq: self.first_broken_seq,
        }
    }
}

/// Walks a chain in sequence order and names the first record that breaks it.
pub fn verify_chain<'a>(
    chain: &str,
    records: impl IntoIterator<Item = &'a AuditRecord>,
) -> ChainReport {
    let mut verifier = ChainVerifier::default();
    for record in records {
        if !verifier.push(record) {
            break;
        }
    }
    verifier.finish(chain)
}

/// JSON with object keys sorted at every level and no insignificant white space.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_compact(key, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_compact(scalar, out),
    }
}

/// Appends a string or a scalar as compact JSON, without a `String` in between: every
/// audited change is hashed on the writer's path, so this is on a push's critical path.
fn write_compact(value: &impl Serialize, out: &mut Vec<u8>) {
    // Writing a string or a JSON scalar into memory cannot fail.
    let _ = serde_json::to_writer(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain_of(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let event = AuditEvent::new(Utc::now(), "patient.read", Outcome::Success)
                    .details(json!({"n": seq}));
                let hash = chain_hash(&prev, seq, &event);
                let record = AuditRecord {
                    seq,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                record
            })
            .collect()
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let value = json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "x"}], "c": null}});
        assert_eq!(
            String::from_utf8(canonical_json(&value)).expect("utf8"),
            r#"{"a":{"c":null,"d":[1,{"y":"x","z":0}]},"b":1}"#
        );
    }

    /// Chains written before stay verifiable: the hash of a fixed event, with escapes, Unicode
    /// and numbers of every kind in its details, is pinned.
    #[test]
    fn the_hash_of_a_known_event_does_not_change() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        let event = AuditEvent::new(at, "patient.update", Outcome::Success)
            .entity("patient", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
            .details(json!({
                "z": "quote \" backslash \\ tab \t nul \u{0} bell \u{7} é 💡 \u{2028}",
                "changes": {"address": {"old": null, "new": "1 Rue d’Été"}},
                "n": [0, -1, 18446744073709551615u64, 1.5, -2.5e-8, 1e300, true, false],
                "version": 3
            }));
        assert_eq!(
            chain_hash(GENESIS_HASH, 7, &event),
            "271943bc0da9aa249a798fa46c89f33686d2ceea53b308290d05cbbe2209f45b"
        );
        for scalar in event.details["n"].as_array().expect("array") {
            assert_eq!(canonical_json(scalar), scalar.to_string().into_bytes());
        }
    }

    #[test]
    fn an_intact_chain_verifies_and_a_changed_event_is_named() {
        let mut chain = chain_of(5);
        assert!(verify_chain("t", &chain).valid);
        chain[2].event.action = "patient.update".into();
        let report = verify_chain("t", &chain);
        assert!(!report.valid);
        assert_eq!(report.first_broken_seq, Some(3));
    }

    #[test]
    fn a_removed_event_breaks_the_chain_where_it_was() {
        let mut chain = chain_of(4);
        chain.remove(1);
        assert_eq!(verify_chain("t", &chain).first_broken_seq, Some(2));
    }
}
