//! Makes untrusted text (names from DNS, interfaces, later process names
//! and command lines) safe to print on a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Replaces control characters with visible escapes (`\n`, `\t`, `\x1b`,
/// `\u{9b}`) and doubles backslashes, so the text cannot move the cursor or
/// forge lines. Text without such characters is returned as it is.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\r' => escaped.push_str("\\r"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(escaped, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        assert_eq!(for_terminal("lo"), "lo");
        assert_eq!(for_terminal("a\nb\tc\x1b[31m\\"), "a\\nb\\tc\\x1b[31m\\\\");
        assert_eq!(for_terminal("\u{9b}"), "\\u{9b}");
        assert_eq!(for_terminal("żółw"), "żółw");
    }
}
