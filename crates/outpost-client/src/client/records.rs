//! Local reads and writes of any kind of record, from its description: who may write which
//! fields, its canonical form and rules, and its constraints checked against the mirror before
//! the change is kept (the hub decides again when the op arrives). Every change is a local
//! record and its outbox op in one transaction; every read is audited locally.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use outpost_domain::record::Record;
use outpost_domain::schedule::booking;
use outpost_domain::sync::OpAction;
use outpost_domain::{Entity, RecordId};

use super::{Client, new_op};
use crate::cache::{Cache, LocalRecord};
use crate::error::{ClientError, ClientResult};

impl Client {
    /// Refuses a change of `fields` of `entity` the signed-in role may not make.
    pub(super) fn may_write<'a>(
        &self,
        entity: Entity,
        fields: impl Iterator<Item = &'a String>,
    ) -> ClientResult<()> {
        let kind = entity.kind();
        let permissions = self.profile_or_err()?.permissions.iter().copied().collect();
        let records = kind.table.replace('_', " ");
        if !kind.may_write(&permissions) {
            return Err(ClientError::Forbidden(format!(
                "your role may not change {records}"
            )));
        }
        match kind.write_refusal(fields, &permissions, false) {
            Some(why) => Err(ClientError::Forbidden(why)),
            None => Ok(()),
        }
    }

    /// Creates a record of `entity` here, with its create op.
    pub fn create_record(
        &mut self,
        entity: Entity,
        fields: Map<String, Value>,
    ) -> ClientResult<Record> {
        self.may_write(entity, std::iter::empty())?;
        let kind = entity.kind();
        let profile = self.profile_or_err()?;
        let permissions = profile.permissions.iter().copied().collect();
        if let Some(why) =
            kind.creation_refusal(&fields, &permissions, false, self.now().date_naive())
        {
            return Err(ClientError::Forbidden(why));
        }
        if !kind.may_create_rows(Some(profile.user_id), &permissions) {
            return Err(ClientError::Forbidden(format!(
                "your role may not create {}",
                kind.table.replace('_', " ")
            )));
        }
        let now = self.now();
        let fields = kind.canonical(&fields, now.date_naive())?;
        kind.check_rule(None, &fields)?;
        let user = self.profile_or_err()?.user_id;
        let record = Record {
            id: RecordId::generate(),
            fields: fields.clone(),
            version: 1,
            created_at: now,
            updated_at: now,
            updated_by: Some(user),
        };
        let op = new_op(
            now,
            entity,
            record.id,
            OpAction::Create,
            None,
            fields.clone(),
        );
        let tx = self.cache()?.transaction()?;
        check_constraints(&tx, entity, &record, &fields)?;
        Cache::put_local(
            &tx,
            &LocalRecord {
                entity,
                record: record.clone(),
                hub_version: None,
                deleted: false,
                conflict: false,
                hub_data: None,
            },
        )?;
        Cache::enqueue(&tx, &op)?;
        tx.commit()?;
        Ok(record)
    }

    /// Changes a record here: `changes` maps fields to new values (`null` clears), with its
    /// update op on the hub version the record builds on. The record is read, changed and
    /// written in one transaction, so a pull landing meanwhile is never written over.
    pub fn change_record(
        &mut self,
        entity: Entity,
        id: RecordId,
        changes: &Map<String, Value>,
    ) -> ClientResult<Record> {
        self.may_write(entity, changes.keys())?;
        let kind = entity.kind();
        let now = self.now();
        let user = self.profile_or_err()?.user_id;
        let tx = self.cache()?.transaction()?;
        let local = editable(&tx, entity, id)?;
        let (fields, changed) = kind.apply(&local.record.fields, changes, now.date_naive())?;
        if changed.is_empty() {
            return Ok(local.record);
        }
        kind.check_rule(Some(&local.record.fields), &fields)?;
        let op_fields: Map<String, Value> = changed
            .iter()
            .map(|(k, c)| (k.clone(), c.new.clone()))
            .collect();
        let hub_data = local.hub_data.clone().or_else(|| {
            (local.hub_version == Some(local.record.version)).then(|| local.record.clone())
        });
        let record = Record {
            fields,
            version: local.record.version + 1,
            updated_at: now,
            updated_by: Some(user),
            ..local.record.clone()
        };
        check_constraints(&tx, entity, &record, &op_fields)?;
        let op = new_op(
            now,
            entity,
            id,
            OpAction::Update,
            Some(local.base_version()),
            op_fields,
        );
        Cache::put_local(
            &tx,
            &LocalRecord {
                record: record.clone(),
                hub_data,
                ..local
            },
        )?;
        Cache::enqueue(&tx, &op)?;
        tx.commit()?;
        Ok(record)
    }

    /// Deletes a record here (a tombstone until the hub confirms).
    pub fn delete_record(&mut self, entity: Entity, id: RecordId) -> ClientResult<()> {
        let permissions = self.profile_or_err()?.permissions.iter().copied().collect();
        if !entity.kind().may_delete(&permissions) {
            return Err(ClientError::Forbidden(format!(
                "your role may not delete {}",
                entity.kind().table.replace('_', " ")
            )));
        }
        let now = self.now();
        let tx = self.cache()?.transaction()?;
        let local = editable(&tx, entity, id)?;
        if let Some(refusal) = entity.kind().deletion_refusal(&local.record.fields) {
            return Err(refusal.into());
        }
        let op = new_op(
            now,
            entity,
            id,
            OpAction::Delete,
            Some(local.base_version()),
            Map::new(),
        );
        let hub_data = local
            .hub_data
            .clone()
            .or_else(|| Some(local.record.clone()));
        let mut record = local.record.clone();
        record.version += 1;
        Cache::enqueue(&tx, &op)?;
        Cache::put_local(
            &tx,
            &LocalRecord {
                record,
                deleted: true,
                hub_data,
                ..local
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// One live record of the mirror (audited as `<kind>.read`).
    pub fn record(&mut self, entity: Entity, id: RecordId) -> ClientResult<LocalRecord> {
        let local = Cache::local(self.cache()?.conn(), entity, id)?
            .filter(|l| !l.deleted)
            .ok_or(ClientError::NotFound)?;
        let event = self.local_event_of(entity, "read", Some(id), json!({}));
        self.cache()?.audit_reads(std::slice::from_ref(&event))?;
        Ok(local)
    }

    /// Every live record of a kind in its order (audited as `<kind>.search` with the ids).
    pub fn records(&mut self, entity: Entity) -> ClientResult<Vec<LocalRecord>> {
        let found = Cache::records_of(self.cache()?.conn(), entity)?;
        self.audit_listing(entity, &found)?;
        Ok(found)
    }

    /// Live records of a kind whose order key lies in `from..to`, of one group when given
    /// (audited as `<kind>.search` with the ids).
    pub fn records_between(
        &mut self,
        entity: Entity,
        group: Option<&str>,
        from: &str,
        to: &str,
    ) -> ClientResult<Vec<LocalRecord>> {
        let found = self.cache()?.records_between(entity, group, from, to)?;
        self.audit_listing(entity, &found)?;
        Ok(found)
    }

    /// Every version of a record (audited as `<kind>.history`).
    pub fn record_history(
        &mut self,
        entity: Entity,
        id: RecordId,
    ) -> ClientResult<Vec<outpost_domain::record::HistoryEntry>> {
        let entries = self.cache()?.history_of(entity, id)?;
        let event = self.local_event_of(entity, "history", Some(id), json!({}));
        self.cache()?.audit_reads(std::slice::from_ref(&event))?;
        Ok(entries)
    }

    fn audit_listing(&mut self, entity: Entity, found: &[LocalRecord]) -> ClientResult<()> {
        let ids: Vec<String> = found.iter().map(|l| l.record.id.to_string()).collect();
        let events: Vec<_> = ids
            .chunks(super::IDS_PER_EVENT)
            .map(|returned| {
                self.local_event_of(entity, "search", None, json!({ "returned": returned }))
            })
            .collect();
        if !events.is_empty() {
            self.cache()?.audit_reads(&events)?;
        }
        Ok(())
    }
}

/// A cached record read as its kind's typed record (an appointment, a trip, a unit, …).
pub(super) fn typed<T: serde::de::DeserializeOwned>(record: &Record) -> ClientResult<T> {
    record.to_typed().map_err(|e| {
        ClientError::Corrupt(format!(
            "a cached record does not read ({:?})",
            e.classify()
        ))
    })
}

/// A live record without a conflict, which a local change may build on.
fn editable(conn: &Connection, entity: Entity, id: RecordId) -> ClientResult<LocalRecord> {
    let local = Cache::local(conn, entity, id)?
        .filter(|l| !l.deleted)
        .ok_or(ClientError::NotFound)?;
    if local.conflict {
        return Err(ClientError::InvalidInput(
            "this record has a conflict: resolve it first".into(),
        ));
    }
    Ok(local)
}

/// The kind's constraints that need other records, against the mirror, inside the change's
/// own transaction: a slot another live record holds, and the owner's hours and the calendar
/// (when the mirror has them). The hub decides again when the op arrives.
pub(super) fn check_constraints(
    conn: &Connection,
    entity: Entity,
    record: &Record,
    changes: &Map<String, Value>,
) -> ClientResult<()> {
    let kind = entity.kind();
    let Some(rule) = kind.moves_slot(changes.keys(), &record.fields) else {
        return Ok(());
    };
    if let Some(taken) = Cache::slot_taken(conn, entity, record)? {
        return Err(ClientError::SlotTaken(taken));
    }
    let (Some(owner), Some(owner_id)) = (
        rule.owner,
        record
            .text(rule.group)
            .and_then(|id| id.parse::<RecordId>().ok()),
    ) else {
        return Ok(());
    };
    let Some(owner) = Cache::local(conn, owner, owner_id)?.filter(|o| !o.deleted) else {
        return Ok(());
    };
    let calendar: Vec<Record> = Cache::records_of(conn, Entity::CalendarEntry)?
        .into_iter()
        .map(|l| l.record)
        .collect();
    booking::check_records(&record.fields, &owner.record, &calendar)
        .map_err(|e| {
            ClientError::Corrupt(format!(
                "a cached schedule record does not read ({:?})",
                e.classify()
            ))
        })?
        .map_err(ClientError::from)
}
