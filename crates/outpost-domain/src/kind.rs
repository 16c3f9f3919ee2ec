//! Kinds of tenant record, each described once (DESIGN.md, "Record kinds"): its fields (how
//! they are stored, their class, how they merge), who reads and writes each class, its search
//! keys, list order, unique and no-overlap constraints. Storage, history, audit, the change
//! feed, sync, conflicts, the client cache and the command line all work from the description.
//!
//! Adding a kind: a typed `Fields` struct with its rules, a [`Kind`] here, an [`Entity`]
//! variant, a migration pair, routes from the hub's generic handlers, and its screens.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::UserId;
use crate::record::{Changes, Check, PatchError};
use crate::roles::Permission;

/// Which kind of record an op, a change, a version or an audit event is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Patient,
    Practitioner,
    Appointment,
    CalendarEntry,
    Facility,
    TransportRequest,
    Unit,
    UnitShift,
    Trip,
}

impl Entity {
    /// Every kind, in the order a snapshot sends them (a record after those it refers to).
    pub const ALL: &'static [Entity] = &[
        Entity::Patient,
        Entity::Practitioner,
        Entity::CalendarEntry,
        Entity::Appointment,
        Entity::Facility,
        Entity::TransportRequest,
        Entity::Unit,
        Entity::UnitShift,
        Entity::Trip,
    ];

    /// The kind's description.
    pub fn kind(self) -> &'static Kind {
        match self {
            Entity::Patient => &crate::patient::KIND,
            Entity::Practitioner => &crate::schedule::practitioner::KIND,
            Entity::Appointment => &crate::schedule::appointment::KIND,
            Entity::CalendarEntry => &crate::schedule::calendar::KIND,
            Entity::Facility => &crate::transport::facility::KIND,
            Entity::TransportRequest => &crate::transport::request::KIND,
            Entity::Unit => &crate::transport::unit::KIND,
            Entity::UnitShift => &crate::transport::shift::KIND,
            Entity::Trip => &crate::transport::trip::KIND,
        }
    }

    /// The sync schema ([`crate::sync::SCHEMA_VERSION`]) that brought the kind: a client of
    /// an older schema is never sent its records, which it could not read.
    pub fn schema(self) -> i64 {
        match self {
            Entity::Patient => 1,
            Entity::Practitioner | Entity::Appointment | Entity::CalendarEntry => 2,
            Entity::Facility | Entity::TransportRequest | Entity::Unit | Entity::Trip => 3,
            Entity::UnitShift => 4,
        }
    }

    /// The newest sync schema that changed what a client is sent of the kind: its own
    /// [`Entity::schema`], or a later one. A trip's patient has been answered to its crew
    /// alone since the release of schema 4, so a copy an older build filled may hold it; such
    /// a copy reads the kind again, once, when its build is updated.
    pub fn changed_in(self) -> i64 {
        match self {
            Entity::Trip => 4,
            other => other.schema(),
        }
    }

    /// The wire, audit and database spelling.
    pub fn as_str(self) -> &'static str {
        self.kind().name
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Entity {
    type Err = crate::roles::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Entity::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == s)
            .ok_or(crate::roles::UnknownName("unknown kind of record"))
    }
}

// By hand, like the roles: the names are the kinds' own.
impl utoipa::PartialSchema for Entity {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Entity::ALL.iter().map(|e| e.as_str())))
            .into()
    }
}

impl utoipa::ToSchema for Entity {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Entity")
    }
}

/// How a field is stored (each backend maps these to its column types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339, UTC.
    Timestamp,
    Bool,
    Real,
    Integer,
    /// The id of another record (a UUID).
    Id,
    /// Structured data kept whole (a practitioner's working hours).
    Json,
}

/// Who may see a field (DESIGN.md, "Record kinds").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldClass {
    Demographic,
    Clinical,
    /// The minimum a crew needs.
    Transport,
    Restricted,
}

impl FieldClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldClass::Demographic => "demographic",
            FieldClass::Clinical => "clinical",
            FieldClass::Transport => "transport",
            FieldClass::Restricted => "restricted",
        }
    }
}

/// One field of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub class: FieldClass,
    /// A creation must hold it.
    pub required: bool,
    /// Fields in the same group conflict together: a concurrent change to one of them and an
    /// op on another is a conflict, not a merge (an appointment's start, end and practitioner
    /// are one slot). `None`: the field merges on its own.
    pub merge_group: Option<&'static str>,
    /// Who writes it, beyond who writes its class.
    pub written: Written,
}

/// Who writes a field, beyond the writers of its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Whoever writes its class.
    ByClass,
    /// Only those of the class's writers who also hold these permissions (a trip's unit and
    /// crew: the dispatcher's).
    With(&'static [Permission]),
    /// Only the hub itself, through its own steps (a request's status after publishing, its
    /// board entry, the agency whose bid was accepted).
    ByHub,
}

impl Field {
    pub const fn new(name: &'static str, ty: FieldType, class: FieldClass) -> Self {
        Self {
            name,
            ty,
            class,
            required: false,
            merge_group: None,
            written: Written::ByClass,
        }
    }

    /// A field only writers holding `permissions` too may write.
    pub const fn written_with(mut self, permissions: &'static [Permission]) -> Self {
        self.written = Written::With(permissions);
        self
    }

    /// A field only the hub writes.
    pub const fn by_hub(mut self) -> Self {
        self.written = Written::ByHub;
        self
    }

    /// A field every creation holds.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// A field that conflicts together with the others of `group`.
    pub const fn group(mut self, group: &'static str) -> Self {
        self.merge_group = Some(group);
        self
    }
}

/// Who reads and who writes one class of a kind's fields: every listed permission is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassAccess {
    pub class: FieldClass,
    pub read: &'static [Permission],
    pub write: &'static [Permission],
}

/// A lowercased copy of a field that searches and list orders use (a column of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchKey {
    pub column: &'static str,
    pub field: &'static str,
}

/// Records of this kind may not overlap in time within one group (a practitioner's
/// appointments), unless their status is one of `inactive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoOverlap {
    pub group: &'static str,
    /// The kind of record `group` names, when its working hours and the calendar bound the
    /// slots ([`crate::schedule::booking`]).
    pub owner: Option<Entity>,
    pub start: &'static str,
    pub end: &'static str,
    /// The longest a record holds its slot, in minutes: a record starting longer ago than
    /// this before a slot cannot reach into it (the client's search of its copy).
    pub longest_minutes: i64,
    pub status: &'static str,
    pub inactive: &'static [&'static str],
}

/// Records of a kind that only some of its readers see: those named in `members` (a JSON list
/// of user ids: a trip's crew), unless their permissions hold `all` (the dispatcher). Only
/// those who see every record create one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowRule {
    pub members: &'static str,
    pub all: Permission,
    /// Fields that only the members read, not those who see every record by `all`, nor in
    /// any record's history: a trip's patient, whom the crew needs and the dispatcher who
    /// planned the trip does not (minimum necessary).
    pub private: &'static [&'static str],
}

/// A field holding the id of a record of another kind, which must be live when the field is
/// written (an appointment's patient). Checked by the hub in the writing transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub field: &'static str,
    pub to: Entity,
}

/// A refusal by a kind's own rule: a code the clients decide by, and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

/// A rule on a change as a whole, seeing the record before (`None` for a creation) and after.
pub type ChangeRule = fn(Option<&Map<String, Value>>, &Map<String, Value>) -> Result<(), Refusal>;

/// The description of one kind of record.
#[derive(Debug)]
pub struct Kind {
    pub entity: Entity,
    /// Singular, snake case: the op's `entity`, the audit events' prefix.
    pub name: &'static str,
    pub table: &'static str,
    pub history_table: &'static str,
    /// The history table's column naming the record.
    pub history_key: &'static str,
    pub fields: &'static [Field],
    pub access: &'static [ClassAccess],
    /// Who may delete a record.
    pub delete: &'static [Permission],
    /// Lowercased copies kept for search and order; a search's every word must be a prefix
    /// of one of them.
    pub search: &'static [SearchKey],
    /// The list order: columns (fields or search keys), then the id.
    pub order: &'static [&'static str],
    /// Search-key columns whose value no two live records share, each with the field it keys.
    pub unique: &'static [SearchKey],
    pub no_overlap: Option<NoOverlap>,
    /// Fields naming records of other kinds.
    pub references: &'static [Reference],
    /// Which of its readers see a record, when not all of them do.
    pub rows: Option<RowRule>,
    /// The typed fields' canonical form and rules ([`crate::record::canonical`]).
    pub check: Check,
    /// The kind's rule on a change as a whole (a status machine).
    pub rule: Option<ChangeRule>,
    /// Which records may be deleted, when not every one (a transport request once it left
    /// its draft is cancelled, never deleted: the board, the bids and the trip refer to it).
    pub deletable: Option<DeleteRule>,
}

/// A rule on deleting a record, seeing its fields.
pub type DeleteRule = fn(&Map<String, Value>) -> Result<(), Refusal>;

impl Kind {
    /// Why the record with `fields` may not be deleted, if it may not.
    pub fn deletion_refusal(&self, fields: &Map<String, Value>) -> Option<Refusal> {
        self.deletable.and_then(|rule| rule(fields).err())
    }

    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The canonical fields of a creation: names checked against the kind, then the typed
    /// rules. Messages name fields, never values.
    pub fn canonical(
        &self,
        fields: &Map<String, Value>,
        today: NaiveDate,
    ) -> Result<Map<String, Value>, PatchError> {
        self.known(fields.keys())?;
        if let Some(missing) = self
            .fields
            .iter()
            .find(|f| f.required && fields.get(f.name).is_none_or(Value::is_null))
        {
            return Err(PatchError::Shape(format!(
                "field `{}` is required",
                missing.name
            )));
        }
        (self.check)(fields, today)
    }

    /// Applies a partial update to `current` and answers the new fields and what changed.
    pub fn apply(
        &self,
        current: &Map<String, Value>,
        changes: &Map<String, Value>,
        today: NaiveDate,
    ) -> Result<(Map<String, Value>, Changes), PatchError> {
        self.known(changes.keys())?;
        crate::record::apply(current, changes, today, self.check)
    }

    /// `Shape` naming the first key that is no field of this kind.
    fn known<'a>(&self, mut keys: impl Iterator<Item = &'a String>) -> Result<(), PatchError> {
        match keys.find(|k| self.field(k).is_none()) {
            Some(key) => Err(PatchError::Shape(format!("unknown field `{key}`"))),
            None => Ok(()),
        }
    }

    /// Checks the kind's rule on a change.
    pub fn check_rule(
        &self,
        before: Option<&Map<String, Value>>,
        after: &Map<String, Value>,
    ) -> Result<(), Refusal> {
        self.rule.map_or(Ok(()), |rule| rule(before, after))
    }

    /// The classes `permissions` may read.
    pub fn readable(&self, permissions: &BTreeSet<Permission>) -> BTreeSet<FieldClass> {
        self.access
            .iter()
            .filter(|a| a.read.iter().all(|p| permissions.contains(p)))
            .map(|a| a.class)
            .collect()
    }

    /// The classes `permissions` may write.
    pub fn writable(&self, permissions: &BTreeSet<Permission>) -> BTreeSet<FieldClass> {
        self.access
            .iter()
            .filter(|a| a.write.iter().all(|p| permissions.contains(p)))
            .map(|a| a.class)
            .collect()
    }

    /// Whether `permissions` may read records of this kind at all.
    pub fn may_read(&self, permissions: &BTreeSet<Permission>) -> bool {
        !self.readable(permissions).is_empty()
    }

    /// Whether `permissions` may create and change records of this kind (its first class,
    /// which every record holds).
    pub fn may_write(&self, permissions: &BTreeSet<Permission>) -> bool {
        self.access
            .first()
            .is_some_and(|a| a.write.iter().all(|p| permissions.contains(p)))
    }

    /// Whether `user` with `permissions` sees this record of the kind (`None`: the hub itself,
    /// which sees every record).
    pub fn row_visible(
        &self,
        fields: &Map<String, Value>,
        user: Option<UserId>,
        permissions: &BTreeSet<Permission>,
    ) -> bool {
        self.rows
            .is_none_or(|rule| permissions.contains(&rule.all) || self.member(fields, user))
    }

    /// Whether `user` is one of the record's members (`None`: the hub itself, which is).
    fn member(&self, fields: &Map<String, Value>, user: Option<UserId>) -> bool {
        let (Some(rule), Some(user)) = (self.rows, user) else {
            return true;
        };
        let user = user.to_string();
        fields
            .get(rule.members)
            .and_then(Value::as_array)
            .is_some_and(|ids| ids.iter().any(|id| id.as_str() == Some(user.as_str())))
    }

    /// Whether `field` is one only a record's members read (see [`RowRule::private`]).
    pub fn is_private(&self, field: &str) -> bool {
        self.rows.is_some_and(|rule| rule.private.contains(&field))
    }

    /// Removes the member-only fields from a record `user` sees without being one of its
    /// members (the dispatcher's copy of a trip).
    pub fn hide_private(&self, fields: &mut Map<String, Value>, user: Option<UserId>) {
        if !self.member(fields, user) {
            fields.retain(|key, _| !self.is_private(key));
        }
    }

    /// Whether `user` with `permissions` may create records of the kind: under a row rule,
    /// only those who see every record.
    pub fn may_create_rows(
        &self,
        user: Option<UserId>,
        permissions: &BTreeSet<Permission>,
    ) -> bool {
        self.rows
            .is_none_or(|rule| user.is_none() || permissions.contains(&rule.all))
    }

    /// Whether `permissions` may delete records of this kind.
    pub fn may_delete(&self, permissions: &BTreeSet<Permission>) -> bool {
        self.delete.iter().all(|p| permissions.contains(p))
    }

    /// Why `permissions` may not write one of `keys` (`hub`: the hub itself writes, which sets
    /// its own fields too), or `None` when they may write them all: a field of a class they do
    /// not write, one needing a permission they lack, or one only the hub sets.
    pub fn write_refusal<'a>(
        &self,
        mut keys: impl Iterator<Item = &'a String>,
        permissions: &BTreeSet<Permission>,
        hub: bool,
    ) -> Option<String> {
        let classes = self.writable(permissions);
        keys.find_map(|key| {
            let field = self.field(key)?;
            if !classes.contains(&field.class) {
                return Some(format!(
                    "your role may not write {} fields",
                    field.class.as_str()
                ));
            }
            match field.written {
                Written::ByClass => None,
                Written::With(needed) if needed.iter().all(|p| permissions.contains(p)) => None,
                Written::ByHub if hub => None,
                Written::With(_) => Some(format!("your role may not write `{}`", field.name)),
                Written::ByHub => Some(format!(
                    "`{}` is set by the hub, not written directly",
                    field.name
                )),
            }
        })
    }

    /// [`Kind::write_refusal`] for a creation's `fields`: a field only the hub sets may come
    /// with the value the kind gives it when it is left out (a typed body carries every field:
    /// a new transport request's `draft`), and nothing else.
    pub fn creation_refusal(
        &self,
        fields: &Map<String, Value>,
        permissions: &BTreeSet<Permission>,
        hub: bool,
        today: NaiveDate,
    ) -> Option<String> {
        let by_hub = |key: &String| self.field(key).is_some_and(|f| f.written == Written::ByHub);
        let mut left: Map<String, Value> = fields.clone();
        left.retain(|key, _| !by_hub(key));
        // Fields that do not read are refused by the creation itself, with their reason.
        let Ok(defaults) = self.canonical(&left, today) else {
            return self.write_refusal(left.keys(), permissions, hub);
        };
        let restated = |key: &String| {
            by_hub(key)
                && fields
                    .get(key)
                    .is_some_and(|v| v.is_null() || defaults.get(key) == Some(v))
        };
        self.write_refusal(fields.keys().filter(|key| !restated(key)), permissions, hub)
    }

    /// Removes the fields of classes not in `classes`, for a reader who may not see them.
    pub fn redact(&self, fields: &mut Map<String, Value>, classes: &BTreeSet<FieldClass>) {
        fields.retain(|key, _| self.field(key).is_none_or(|f| classes.contains(&f.class)));
    }

    /// Whether a write with `changes` (every field for a creation) moves a slot this kind may
    /// not overlap, into a status that holds it: then the constraints are checked.
    pub fn moves_slot<'a>(
        &self,
        mut changed: impl Iterator<Item = &'a String>,
        after: &Map<String, Value>,
    ) -> Option<&NoOverlap> {
        let rule = self.no_overlap.as_ref()?;
        let holds = after
            .get(rule.status)
            .and_then(Value::as_str)
            .is_none_or(|s| !rule.inactive.contains(&s));
        let slot = [rule.group, rule.start, rule.end];
        let moved = changed.any(|f| slot.contains(&f.as_str()));
        (holds && moved).then_some(rule)
    }

    /// The merge groups of `fields`: a field outside any group is its own.
    pub fn merge_groups<'a>(&self, fields: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
        fields
            .map(|name| match self.field(name).and_then(|f| f.merge_group) {
                Some(group) => format!("group:{group}"),
                None => name.clone(),
            })
            .collect()
    }

    /// The search-key values of `fields` (lowercased), in [`Kind::search`] order.
    pub fn search_values(&self, fields: &Map<String, Value>) -> Vec<Option<String>> {
        self.search
            .iter()
            .map(|key| {
                fields
                    .get(key.field)
                    .and_then(Value::as_str)
                    .map(str::to_lowercase)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_is_no_newer_than_the_schema_that_changed_it_last_and_this_build_knows_all() {
        for entity in Entity::ALL {
            assert!(entity.schema() <= entity.changed_in(), "{entity}");
            assert!(
                entity.changed_in() <= crate::sync::SCHEMA_VERSION,
                "{entity}"
            );
        }
        // What a copy made by a schema 3 build reads again after its update: the kind it did
        // not know, and trips, whose patient is now their crew's alone.
        let again: Vec<Entity> = Entity::ALL
            .iter()
            .copied()
            .filter(|e| e.changed_in() > 3)
            .collect();
        assert_eq!(again, [Entity::UnitShift, Entity::Trip]);
    }
}
