//! Whether a pushed change applies to the hub's record, decided once for both backends. The
//! backends read which fields changed on the hub since the change's base version, leaving out
//! the versions made by the same user on the same device (the device's own earlier changes,
//! which it built on); these functions decide.

use std::collections::BTreeSet;

use outpost_domain::sync::OpStatus;

/// An update: `Applied` when nobody else changed the record since its base, `Merged` when
/// others changed only other fields, `None` (a conflict) when they changed one of its fields.
pub fn update_status<'a>(
    changed_by_others: &BTreeSet<String>,
    mut fields: impl Iterator<Item = &'a String>,
) -> Option<OpStatus> {
    if changed_by_others.is_empty() {
        Some(OpStatus::Applied)
    } else if fields.any(|f| changed_by_others.contains(f)) {
        None
    } else {
        Some(OpStatus::Merged)
    }
}

/// A delete applies only to a record nobody else changed since its base.
pub fn delete_applies(changed_by_others: &BTreeSet<String>) -> bool {
    changed_by_others.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(fields: &[&str]) -> BTreeSet<String> {
        fields.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn a_change_applies_merges_or_conflicts_by_what_others_changed() {
        // Fields others changed, the change's fields, its update status, whether a delete applies.
        type Case = (Vec<&'static str>, Vec<&'static str>, Option<OpStatus>, bool);
        let cases: Vec<Case> = vec![
            (vec![], vec!["phone"], Some(OpStatus::Applied), true),
            (
                vec!["address"],
                vec!["phone"],
                Some(OpStatus::Merged),
                false,
            ),
            (vec!["address", "phone"], vec!["phone"], None, false),
            (vec!["phone"], vec!["bmi", "phone"], None, false),
        ];
        for (others, mine, update, delete) in cases {
            let others = set(&others);
            let mine = set(&mine);
            assert_eq!(
                update_status(&others, mine.iter()),
                update,
                "{others:?} {mine:?}"
            );
            assert_eq!(delete_applies(&others), delete, "{others:?}");
        }
    }
}
