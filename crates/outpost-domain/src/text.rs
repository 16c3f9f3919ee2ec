//! The one rule for text that reaches Outpost from outside (request bodies, query strings,
//! command lines, devices): control characters are refused where they have no meaning, the
//! same way on both backends. NUL in particular: PostgreSQL cannot store it in `text`, SQLite
//! can, and no name, address or query ever means it.

use crate::error::ValidationError;

/// What the refusal says (the value itself is never echoed: it may be PHI).
pub const CONTROL_RULE: &str = "must not contain control characters";

/// Whether `c` may appear in multi-line text (an address, a note, an audit event's details):
/// anything but the control characters, of which tab, line feed and carriage return are kept.
pub fn allowed_in_text(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\n' | '\r')
}

/// Multi-line text: refuses NUL and the other control characters that mean nothing in text.
pub fn check_text(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.chars().all(allowed_in_text) {
        Ok(())
    } else {
        Err(ValidationError::malformed(field, CONTROL_RULE))
    }
}

/// One line of text (a name, an e-mail address, a search, a cursor): no control character at
/// all.
pub fn check_line(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        Err(ValidationError::malformed(field, CONTROL_RULE))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn text_keeps_line_breaks_and_tabs_but_no_other_control() {
        assert!(check_text("address", "1 Main St\r\nSuite\t4").is_ok());
        for bad in ["a\0b", "\u{1}", "x\u{7f}", "\u{85}next line", "\u{1b}[31m"] {
            let err = check_text("address", bad).expect_err(bad);
            assert_eq!(err.code(), ErrorCode::InvalidInput);
            assert_eq!(
                err.to_string(),
                "address: must not contain control characters"
            );
        }
    }

    #[test]
    fn a_line_holds_no_control_at_all() {
        assert!(check_line("q", "Zoë O'Brien-Smith 555").is_ok());
        for bad in ["a\0", "a\nb", "a\tb", "\r"] {
            assert!(check_line("q", bad).is_err(), "{bad:?}");
        }
    }
}
