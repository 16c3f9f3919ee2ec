//! The cache's name order and word index: how a search answers in a bounded time however many
//! patients match.
//!
//! A patient's rowid is its rank in name order (`sort_key`), spaced by `GAP` so that a new or
//! renamed patient takes a rowid between its neighbours. The full-text index is keyed by that
//! rowid, so its matches come out in name order and a search reads only the page it returns:
//! `MATCH … ORDER BY rowid LIMIT n` never sorts. When two neighbours have no rowid left
//! between them (after about thirty insertions at one spot), every row is renumbered.
//!
//! The index is written here, not by triggers: a trigger makes every patient write a
//! multi-row statement, which costs a statement journal and makes FTS5 flush its pending
//! terms to disk at every statement. Only live (not deleted) patients are indexed.

use rusqlite::{Connection, OptionalExtension, params};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use outpost_domain::patient::Patient;

use crate::error::ClientResult;

/// The spacing of ranks after a renumbering: about thirty halvings before the next one, room
/// for 2^33 patients.
const GAP: i64 = 1 << 30;

/// The words of a text as search sees them: split at anything but letters and digits,
/// without diacritics, lowercased. The same on both sides (what is stored, what is typed),
/// so user input can never be FTS syntax.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            w.nfd()
                .filter(|c| !is_combining_mark(*c))
                .collect::<String>()
                .to_lowercase()
        })
}

/// What a patient is found by: the words of the names, MRN and phone.
pub fn search_text(p: &Patient) -> String {
    let f = &p.fields;
    [&f.given_name, &f.family_name, &f.mrn]
        .into_iter()
        .chain(f.phone.as_ref())
        .flat_map(|part| words(part))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lowercased family, given and id: the list order (unique, since it ends with the id).
pub fn sort_key(p: &Patient) -> String {
    format!(
        "{}\u{1}{}\u{1}{}",
        p.fields.family_name.to_lowercase(),
        p.fields.given_name.to_lowercase(),
        p.id
    )
}

/// An FTS5 query for the words of `q`: every word a prefix, all required (`None`: no words).
pub fn fts_query(q: &str) -> Option<String> {
    let terms: Vec<String> = words(q).map(|w| format!("\"{w}\"*")).collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

pub fn index(tx: &Connection, rowid: i64, text: &str) -> ClientResult<()> {
    tx.prepare_cached("INSERT INTO patients_fts (rowid, terms) VALUES (?1, ?2)")?
        .execute(params![rowid, text])?;
    Ok(())
}

pub fn unindex(tx: &Connection, rowid: i64) -> ClientResult<()> {
    tx.prepare_cached("DELETE FROM patients_fts WHERE rowid = ?1")?
        .execute([rowid])?;
    Ok(())
}

/// The rowid for a patient with `key`, between its neighbours in name order (`current`: the
/// patient's present rowid, kept when it is still in place). `None`: no room, renumber first.
pub fn rank(tx: &Connection, key: &str, current: Option<i64>) -> ClientResult<Option<i64>> {
    let me = current.unwrap_or(i64::MIN);
    let before: Option<i64> = tx
        .prepare_cached(
            "SELECT rowid FROM patients WHERE sort_key < ?1 AND rowid <> ?2 \
             ORDER BY sort_key DESC LIMIT 1",
        )?
        .query_row(params![key, me], |r| r.get(0))
        .optional()?;
    let after: Option<i64> = tx
        .prepare_cached(
            "SELECT rowid FROM patients WHERE sort_key > ?1 AND rowid <> ?2 \
             ORDER BY sort_key LIMIT 1",
        )?
        .query_row(params![key, me], |r| r.get(0))
        .optional()?;
    if let Some(current) = current
        && before.is_none_or(|b| b < current)
        && after.is_none_or(|a| current < a)
    {
        return Ok(Some(current));
    }
    let low = before.unwrap_or(0);
    Ok(match after {
        None => low.checked_add(GAP),
        Some(high) if high - low >= 2 => Some(low + (high - low) / 2),
        Some(_) => None,
    })
}

/// Gives every patient the rowid `GAP`·(position in name order) and rebuilds the word index.
/// Two passes (through negative rowids) so that no move lands on a row not yet moved.
pub fn renumber(tx: &Connection) -> ClientResult<()> {
    let rowids: Vec<i64> = tx
        .prepare("SELECT rowid FROM patients ORDER BY sort_key")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut moving = tx.prepare("UPDATE patients SET rowid = ?2 WHERE rowid = ?1")?;
    for (position, rowid) in (1..).zip(&rowids) {
        moving.execute(params![rowid, -position * GAP])?;
    }
    tx.execute("UPDATE patients SET rowid = -rowid WHERE rowid < 0", [])?;
    rebuild(tx)
}

/// The word index from scratch, in rowid order (the order FTS5 appends fastest).
pub fn rebuild(tx: &Connection) -> ClientResult<()> {
    tx.execute_batch(
        "INSERT INTO patients_fts (patients_fts) VALUES ('delete-all');
         INSERT INTO patients_fts (rowid, terms)
             SELECT rowid, search_text FROM patients WHERE deleted = 0 ORDER BY rowid;",
    )?;
    Ok(())
}

/// The rowids of the first `limit` live patients matching every word of `q` as a prefix of
/// one of their words, in name order; every live patient when `q` has no words.
pub fn search(conn: &Connection, q: &str, limit: u32) -> ClientResult<Vec<i64>> {
    Ok(match fts_query(q) {
        Some(query) => conn
            .prepare_cached(
                "SELECT rowid FROM patients_fts WHERE patients_fts MATCH ?1 ORDER BY rowid LIMIT ?2",
            )?
            .query_map(params![query, limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
        None => conn
            .prepare_cached(
                "SELECT rowid FROM patients WHERE deleted = 0 ORDER BY rowid LIMIT ?1",
            )?
            .query_map([limit], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?,
    })
}
