//! Conflicts: listed with both versions, settled per field or whole record.

use std::collections::BTreeMap;

use serde::Deserialize;
use ts_rs::TS;

use outpost_client::{Conflict, Resolution};
use outpost_domain::RecordId;

use crate::error::IpcResult;
use crate::state::Desktop;

/// How to settle one conflict.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Choice {
    KeepMine,
    TakeTheirs,
    /// Field → `true` to keep mine, `false` to take theirs.
    PerField {
        fields: BTreeMap<String, bool>,
    },
}

#[derive(Debug, Clone, Deserialize, TS)]
pub struct Resolve {
    pub id: RecordId,
    pub choice: Choice,
}

pub async fn conflicts(desktop: &Desktop, (): ()) -> IpcResult<Vec<Conflict>> {
    Ok(desktop.client.lock().await.conflicts()?)
}

pub async fn resolve_conflict(desktop: &Desktop, req: Resolve) -> IpcResult<()> {
    let resolution = match req.choice {
        Choice::KeepMine => Resolution::KeepMine,
        Choice::TakeTheirs => Resolution::TakeTheirs,
        Choice::PerField { fields } => Resolution::PerField(fields),
    };
    desktop
        .write(|client| client.resolve(req.id, &resolution))
        .await
}
