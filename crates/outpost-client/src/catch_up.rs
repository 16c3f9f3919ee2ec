//! Reading kinds of record again after an update. A build of a newer sync schema knows kinds
//! an older one was never sent (a unit's shifts), or receives a kind in a new shape (a trip
//! without its patient, for those who do not ride it): the copy an older build filled lacks
//! the one and holds the other. And an older build sharing the copy (the command line of
//! another release, on the same home) moves its cursor past changes it is not sent. The cache
//! notes which schema's pulls reached which cursor; from that, the decision here says which
//! kinds to read again from the hub's change feed, and from where. The sync engine reads them,
//! a page at a time, noting its progress so that an interrupted catch-up resumes.

use outpost_domain::sync::{SCHEMA_VERSION, UNSAID_SCHEMA};

/// The meta key of the sync schema of the build whose pulls last moved the copy's cursor.
pub const SCHEMA_KEY: &str = "schema";
/// The meta key of the cursor those pulls reached.
pub const SCHEMA_CURSOR_KEY: &str = "schema_cursor";
/// The meta key of a catch-up under way.
pub const CATCH_UP_KEY: &str = "catch_up";

/// What the copy notes about the pulls that filled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The schema of the build that last pulled (`None`: one from before schema 4, which did
    /// not note it).
    pub schema: Option<i64>,
    /// The cursor that build's pulls reached (`None`: not noted).
    pub upto: Option<i64>,
    /// The copy's cursor now.
    pub cursor: i64,
}

/// A catch-up: the kinds changed after schema `learned_after`, read from cursor `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    pub learned_after: i64,
    pub from: i64,
}

impl CatchUp {
    /// As the cache's meta keeps it.
    pub fn to_meta(self) -> String {
        format!("{}:{}", self.learned_after, self.from)
    }

    pub fn from_meta(text: &str) -> Option<Self> {
        let (after, from) = text.split_once(':')?;
        Some(Self {
            learned_after: after.parse().ok()?,
            from: from.parse().ok()?,
        })
    }
}

/// The catch-up a copy needs when none is under way, if it needs one.
pub fn needed(held: Held) -> Option<CatchUp> {
    let schema = held.schema.unwrap_or(UNSAID_SCHEMA);
    if schema < SCHEMA_VERSION {
        // Kinds that build was not sent, or was sent in an older shape: from the start.
        return Some(CatchUp {
            learned_after: schema,
            from: 0,
        });
    }
    match held.upto {
        // A build that does not note its schema moved the cursor since this one's pulls.
        Some(upto) if upto < held.cursor => Some(CatchUp {
            learned_after: UNSAID_SCHEMA,
            from: upto,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_an_older_build_filled_reads_the_new_and_changed_kinds_again_from_the_start() {
        let held = |schema, upto, cursor| Held {
            schema,
            upto,
            cursor,
        };
        let from_start = |after| {
            Some(CatchUp {
                learned_after: after,
                from: 0,
            })
        };
        // Filled before builds noted their schema.
        assert_eq!(needed(held(None, None, 900)), from_start(UNSAID_SCHEMA));
        // Filled by a build that noted an older schema.
        assert_eq!(
            needed(held(Some(SCHEMA_VERSION - 1), Some(900), 900)),
            from_start(SCHEMA_VERSION - 1)
        );
        // This build's own pulls, up to the cursor: nothing.
        assert_eq!(needed(held(Some(SCHEMA_VERSION), Some(900), 900)), None);
        // A newer build's: nothing this build could read.
        assert_eq!(needed(held(Some(SCHEMA_VERSION + 1), Some(900), 900)), None);
        // An older build that notes nothing moved the cursor on from 700.
        assert_eq!(
            needed(held(Some(SCHEMA_VERSION), Some(700), 900)),
            Some(CatchUp {
                learned_after: UNSAID_SCHEMA,
                from: 700
            })
        );
    }

    #[test]
    fn a_catch_up_under_way_is_kept_as_text_and_read_back() {
        let plan = CatchUp {
            learned_after: 3,
            from: 1234,
        };
        assert_eq!(CatchUp::from_meta(&plan.to_meta()), Some(plan));
        assert_eq!(CatchUp::from_meta("3"), None);
        assert_eq!(CatchUp::from_meta("x:1"), None);
    }
}
