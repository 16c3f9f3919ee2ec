//! Refresh-token rotation, decided once for both backends: they read the presented token's
//! row, its successor's and its session's, ask [`step`], and write what it says.
//!
//! A refresh token is spent at its first use and its successor stored (hashed) in its place.
//! The successor is derived from the token by the hub (a keyed hash), so a client whose answer
//! was lost, on a link that drops answers again and again, may present the spent token any
//! number of times within the retry window and is answered with the same successor each
//! time: no token is minted that no client holds. Presented after the window, or once the
//! successor has been used, a spent token can only be a copy: the session is revoked.

use chrono::{DateTime, Duration, Utc};

/// What the store holds about a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    /// When it was spent (`None`: it is the session's current token).
    pub spent_at: Option<DateTime<Utc>>,
    /// The hash of the token that replaced it.
    pub replaced_by: Option<String>,
    /// Whether that successor exists and has not been spent.
    pub successor_unused: bool,
    /// Whether the token's session has ended.
    pub session_ended: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStep {
    /// The current token: spend it and store the successor in its place.
    Rotate,
    /// A retry of a rotation whose answer was lost: answer with the same successor and
    /// change nothing but the session's last activity.
    Repeat,
    /// A spent token presented outside the retry rules: end the session.
    Revoke,
    /// The session is over already: refuse. `spent` tells a replayed token from a current one.
    Refuse { spent: bool },
}

/// Decides a refresh: `successor` is the hash of the successor the hub derived from the
/// presented token, `at` the hub's time, `window` how long a spent token may be retried.
pub fn step(
    token: &PresentedToken,
    successor: &str,
    at: DateTime<Utc>,
    window: Duration,
) -> RefreshStep {
    let Some(spent_at) = token.spent_at else {
        return if token.session_ended {
            RefreshStep::Refuse { spent: false }
        } else {
            RefreshStep::Rotate
        };
    };
    if token.session_ended {
        return RefreshStep::Refuse { spent: true };
    }
    let same_successor = token.replaced_by.as_deref() == Some(successor);
    if at - spent_at <= window && token.successor_unused && same_successor {
        RefreshStep::Repeat
    } else {
        RefreshStep::Revoke
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(spent_secs_ago: Option<i64>, successor_unused: bool, ended: bool) -> PresentedToken {
        PresentedToken {
            spent_at: spent_secs_ago.map(|s| now() - Duration::seconds(s)),
            replaced_by: spent_secs_ago.map(|_| "next".to_owned()),
            successor_unused,
            session_ended: ended,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn each_presented_token_gets_its_step() {
        let window = Duration::seconds(15);
        let cases = [
            (
                "current token",
                token(None, false, false),
                "next",
                RefreshStep::Rotate,
            ),
            (
                "current token of an ended session",
                token(None, false, true),
                "next",
                RefreshStep::Refuse { spent: false },
            ),
            (
                "lost answer, retried at once",
                token(Some(0), true, false),
                "next",
                RefreshStep::Repeat,
            ),
            (
                "lost answer, retried at the window's end",
                token(Some(15), true, false),
                "next",
                RefreshStep::Repeat,
            ),
            (
                "retried after the window",
                token(Some(16), true, false),
                "next",
                RefreshStep::Revoke,
            ),
            (
                "replayed after the successor was used",
                token(Some(1), false, false),
                "next",
                RefreshStep::Revoke,
            ),
            (
                "a successor derived differently",
                token(Some(1), true, false),
                "other",
                RefreshStep::Revoke,
            ),
            (
                "replayed after the session ended",
                token(Some(1), true, true),
                "next",
                RefreshStep::Refuse { spent: true },
            ),
        ];
        for (what, presented, successor, expected) in cases {
            assert_eq!(
                step(&presented, successor, now(), window),
                expected,
                "{what}"
            );
        }
    }

    #[test]
    fn a_lost_answer_may_be_lost_any_number_of_times_within_the_window() {
        let presented = token(Some(2), true, false);
        for _ in 0..5 {
            assert_eq!(
                step(&presented, "next", now(), Duration::seconds(15)),
                RefreshStep::Repeat
            );
        }
    }
}
