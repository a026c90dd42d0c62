//! Reference text that the manual page renders and README repeats: blocks
//! (paragraphs, lists, tables, examples) whose text uses two marks from
//! Markdown, `code` and **strong**, so README holds the same words.

/// One block of a reference section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Paragraph(&'static str),
    Bullets(&'static [&'static str]),
    Table(Table),
    /// Lines shown as they are (commands, JSON).
    Example(&'static str),
}

/// A table: a header, then rows of cells, each as wide as the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub header: &'static [&'static str],
    pub rows: Vec<Vec<String>>,
}

/// A run of text in one style.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    /// Code or strong text, set apart (bold in the manual page).
    pub marked: bool,
}

/// Splits `text` at its marks: backticks around code, `**` around strong
/// text. Inside code, `*` is a character like any other.
pub fn spans(text: &str) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let (mut in_code, mut in_strong) = (false, false);
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        if first == '`' {
            in_code = !in_code;
            rest = &rest[1..];
            continue;
        }
        if !in_code && rest.starts_with("**") {
            in_strong = !in_strong;
            rest = &rest[2..];
            continue;
        }
        push_char(&mut spans, first, in_code || in_strong);
        rest = &rest[first.len_utf8()..];
    }
    spans
}

fn push_char(spans: &mut Vec<Span>, character: char, marked: bool) {
    match spans.last_mut() {
        Some(last) if last.marked == marked => last.text.push(character),
        _ => spans.push(Span { text: character.to_string(), marked }),
    }
}

/// The text without its marks.
pub fn plain(text: &str) -> String {
    spans(text).into_iter().map(|span| span.text).collect()
}

/// Whether every mark in `text` is closed.
pub fn marks_are_balanced(text: &str) -> bool {
    let mut in_code = false;
    let mut strong_marks = 0;
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let width = if first == '`' {
            in_code = !in_code;
            1
        } else if !in_code && rest.starts_with("**") {
            strong_marks += 1;
            2
        } else {
            first.len_utf8()
        };
        rest = &rest[width..];
    }
    !in_code && strong_marks % 2 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(text: &str) -> Span {
        Span { text: text.to_owned(), marked: true }
    }

    fn roman(text: &str) -> Span {
        Span { text: text.to_owned(), marked: false }
    }

    #[test]
    fn code_and_strong_are_marked() {
        assert_eq!(spans("a `b*` c"), [roman("a "), marked("b*"), roman(" c")]);
        assert_eq!(spans("**`x` y:** z"), [marked("x y:"), roman(" z")]);
        assert_eq!(spans("cwnd × mss"), [roman("cwnd × mss")]);
        assert_eq!(plain("`| head` **ok**"), "| head ok");
    }

    #[test]
    fn unclosed_marks_are_found() {
        assert!(marks_are_balanced("`a` **b** `**`"));
        assert!(!marks_are_balanced("`a"));
        assert!(!marks_are_balanced("**a"));
    }
}
