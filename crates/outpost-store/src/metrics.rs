//! The stores' share of what operators watch, through the `metrics` facade: the hub installs
//! the recorder that renders them (`GET /metrics`); without one these calls do nothing.

/// Counts an audit event written to a chain (in its transaction: one a failed transaction
/// rolls back is counted too).
pub fn audit_event_appended() {
    metrics::counter!("outpost_audit_events_appended_total").increment(1);
}
