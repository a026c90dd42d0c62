//! Makes untrusted text (process names, command lines, paths, host and
//! interface names) safe to print on a terminal, in one escape style:
//! `\\`, `\n`, `\t`, `\r`, and `\u{XX}` for every other character that
//! could move the cursor, recolour the screen or reorder what is shown
//! (C0 and C1 controls, DEL, and the bidirectional controls).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that reorder text on screen (Unicode's bidirectional
/// controls): a name holding them could make a line read as something else.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn needs_escape(c: char, quote: Option<char>) -> bool {
    c.is_control() || c == '\\' || is_bidi_control(c) || Some(c) == quote
}

fn escape(text: &str, quote: Option<char>) -> Cow<'_, str> {
    if !text.chars().any(|c| needs_escape(c, quote)) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\r' => escaped.push_str("\\r"),
            c if Some(c) == quote => {
                escaped.push('\\');
                escaped.push(c);
            }
            c if needs_escape(c, None) => {
                let _ = write!(escaped, "\\u{{{:x}}}", c as u32);
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Text as a terminal may show it. Text that needs nothing is returned as it is.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    escape(text, None)
}

/// Text to print inside double quotes (ss's `users:(("name",...))`): also
/// `"` is escaped, so the quoted string ends where it seems to end.
pub fn for_quotes(text: &str) -> Cow<'_, str> {
    escape(text, Some('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_in_one_style() {
        assert_eq!(for_terminal("lo"), "lo");
        assert_eq!(for_terminal("a\nb\tc\x1b[31m\\"), "a\\nb\\tc\\u{1b}[31m\\\\");
        assert_eq!(for_terminal("\u{9b}\u{7f}"), "\\u{9b}\\u{7f}", "C1 controls and DEL");
        assert_eq!(for_terminal("żółw"), "żółw");
    }

    #[test]
    fn escapes_bidirectional_controls() {
        assert_eq!(for_terminal("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        for c in ['\u{202a}', '\u{202d}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{061c}'] {
            assert!(!for_terminal(&format!("a{c}b")).contains(c), "{:x}", c as u32);
        }
    }

    #[test]
    fn quotes_are_escaped_inside_quotes_only() {
        assert_eq!(for_quotes("a\"b\\"), "a\\\"b\\\\");
        assert_eq!(for_terminal("a\"b"), "a\"b");
    }
}
