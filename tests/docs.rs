//! The manual page, `--help`, README and the shell completions: generated
//! from the clap definition and the crate's reference tables, they render,
//! load, name every subcommand, reference only pages that exist, and say
//! what README says.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::stdout_of;
use portwatch::commands::docs::text::{self, Block};
use portwatch::commands::docs::{
    audit_json, exit_statuses_help, exit_statuses_table, filters, json_schema,
};
use portwatch::exit::EXIT_STATUSES;

const SUBCOMMANDS: [&str; 8] =
    ["list", "record", "who", "audit", "baseline", "history", "completions", "man"];

/// Runs `man` on the page `portwatch man` prints, with `options`.
fn man_on_the_page(options: &[&str]) -> Output {
    let page = stdout_of(&["man"]);
    let mut man = Command::new("man")
        .args(options)
        .args(["-l", "-"])
        .env("MANWIDTH", "100")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("man(1) is installed by scripts/test");
    man.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    man.wait_with_output().unwrap()
}

/// The page as `man` shows it, without hyphenation, whitespace collapsed.
fn rendered_page() -> String {
    let rendered = man_on_the_page(&["--nh", "--nj"]);
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    normalize(&String::from_utf8_lossy(&rendered.stdout))
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_man_page_renders_and_names_every_subcommand() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH portwatch"), "roff: {}", &page[..200.min(page.len())]);
    let text = rendered_page();
    for section in ["NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "EXAMPLES", "SEE ALSO"] {
        assert!(text.contains(section), "{section} missing");
    }
    for subcommand in SUBCOMMANDS {
        assert!(
            page.contains(&format!("\\fBportwatch {subcommand}\\fR")),
            "{subcommand} missing from the man page's COMMANDS"
        );
    }
}

#[test]
fn groff_has_no_warning_about_the_man_page() {
    let rendered = man_on_the_page(&["--warnings=w"]);
    assert!(rendered.status.success());
    assert_eq!(String::from_utf8_lossy(&rendered.stderr), "", "groff warned");
}

/// Every `name(section)` in `text`.
fn page_references(text: &str) -> BTreeSet<(String, String)> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || "._-+:".contains(c);
    let mut references = BTreeSet::new();
    for (open, _) in text.match_indices('(') {
        let after = &text[open + 1..];
        let Some(close) = after.find(')') else { continue };
        let section = &after[..close];
        let is_section = section.starts_with(|c: char| ('1'..='9').contains(&c))
            && section.chars().all(|c| c.is_ascii_alphanumeric());
        let name: String = text[..open].chars().rev().take_while(|&c| is_name_char(c)).collect();
        let name: String = name.chars().rev().skip_while(|c| !c.is_ascii_alphabetic()).collect();
        if is_section && !name.is_empty() {
            references.insert((name, section.to_owned()));
        }
    }
    references
}

#[test]
fn references_are_found() {
    let found = page_references("see ss(8), foo-bar(1) and port(s) in (0-1023) or x (3)");
    let expected = [("ss", "8"), ("foo-bar", "1")].map(|(n, s)| (n.to_owned(), s.to_owned()));
    assert_eq!(found, BTreeSet::from(expected));
}

#[test]
fn the_man_page_references_only_pages_that_exist() {
    let references = page_references(&rendered_page());
    assert!(references.contains(&("ss".to_owned(), "8".to_owned())), "{references:?}");
    for (name, section) in references {
        if name == "portwatch" {
            continue;
        }
        let found = Command::new("man").args(["-w", &section, &name]).output().unwrap();
        assert!(
            found.status.success(),
            "the man page refers to {name}({section}), which is not installed \
             (scripts/test installs the packages that provide its references)"
        );
    }
}

#[test]
fn the_man_page_carries_filters_json_keys_and_exit_statuses() {
    let text = rendered_page();
    for section in ["FILTERS", "JSON OUTPUT", "EXIT STATUS"] {
        assert!(text.contains(section), "{section} missing");
    }
    for condition in filters::CONDITIONS {
        assert!(text.contains(&normalize(&text::plain(condition.syntax))), "{condition:?}");
    }
    let keys = [json_schema::SOCKET_KEYS, json_schema::KIND_KEYS, json_schema::PROCESS_KEYS];
    for key in keys.iter().copied().flatten() {
        assert!(text.contains(&normalize(&text::plain(key.meaning))), "{key:?}");
    }
    for status in &EXIT_STATUSES {
        let entry = format!("{} {}", status.code.number(), normalize(&text::plain(status.meaning)));
        assert!(text.contains(&entry), "{entry} missing");
    }
}

#[test]
fn help_lists_every_exit_status_once() {
    let statuses = exit_statuses_help();
    for status in &EXIT_STATUSES {
        assert!(statuses.contains(status.summary), "{status:?}");
    }
    for args in [&["--help"][..], &["-h"], &["list", "--help"], &["who", "--help"]] {
        let help = stdout_of(args);
        assert!(help.contains(&statuses), "portwatch {args:?}: no exit statuses");
        assert_eq!(help.matches("Exit status").count(), 1, "portwatch {args:?}");
    }
}

#[test]
fn bash_completion_loads() {
    let script = stdout_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portwatch.bash");
    std::fs::write(&file, &script).unwrap();
    let output = Command::new("bash")
        .args(["-c", &format!("source {} && complete -p portwatch", file.display())])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let complete = String::from_utf8(output.stdout).unwrap();
    assert!(
        complete.starts_with("complete ") && complete.trim_end().ends_with("portwatch"),
        "{complete}"
    );
    for subcommand in SUBCOMMANDS {
        assert!(script.contains(subcommand), "{subcommand} missing from the bash completion");
    }
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for subcommand in SUBCOMMANDS {
            assert!(
                script.contains(subcommand),
                "{subcommand} missing from the {shell} completion"
            );
        }
    }
    common::portwatch().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn every_subcommand_has_examples_in_its_help() {
    for subcommand in SUBCOMMANDS {
        let help = stdout_of(&[subcommand, "--help"]);
        assert!(help.contains("Example"), "portwatch {subcommand} --help has no examples");
    }
}

#[test]
fn every_reference_text_closes_its_marks() {
    let sections =
        [filters::section(), json_schema::section(), audit_json::section(), vec![exit_table()]];
    for block in sections.iter().flatten() {
        for text in markup_of(block) {
            assert!(text::marks_are_balanced(&text), "{text}");
        }
    }
}

fn exit_table() -> Block {
    Block::Table(exit_statuses_table())
}

fn markup_of(block: &Block) -> Vec<String> {
    match block {
        Block::Paragraph(text) => vec![text.to_string()],
        Block::Bullets(items) => items.iter().map(ToString::to_string).collect(),
        Block::Table(table) => table.rows.iter().flatten().cloned().collect(),
        Block::Example(_) => Vec::new(),
    }
}

#[test]
fn readme_exit_codes_are_exit_rs_table() {
    assert_readme_section("Exit codes", &[exit_table()], "EXIT_STATUSES in src/exit.rs");
}

#[test]
fn readme_filters_are_the_man_pages() {
    assert_readme_section("Filters", &filters::section(), "src/commands/docs/filters.rs");
}

#[test]
fn readme_audit_json_is_the_man_pages() {
    assert_readme_section("Audit JSON", &audit_json::section(), "src/commands/docs/audit_json.rs");
}

#[test]
fn readme_json_schema_is_the_man_pages() {
    assert_readme_section(
        "JSON schema",
        &json_schema::section(),
        "src/commands/docs/json_schema.rs",
    );
}

/// README's `## title` section says what `blocks` say, line breaks aside.
fn assert_readme_section(title: &str, blocks: &[Block], source: &str) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let found = markdown::parse(&markdown::section(&readme, title));
    let expected: Vec<markdown::Md> = blocks.iter().map(markdown::Md::from).collect();
    if let Some((want, got)) = markdown::first_difference(&expected, &found) {
        panic!(
            "README's \"{title}\" differs from {source}, which the man page renders\n\
             expected: {want}\n\
             found:    {got}\n\n\
             The section should read:\n\n{}",
            markdown::render(&expected)
        );
    }
}

#[test]
fn markdown_tables_split_at_unescaped_bars() {
    let blocks =
        markdown::parse("a\nb\n\n| k | v |\n|---|---|\n| `a \\| b` | c |\n\n- x\n  y\n- z\n");
    assert_eq!(
        blocks,
        [
            markdown::Md::Paragraph("a b".into()),
            markdown::Md::Table(vec![
                vec!["k".into(), "v".into()],
                vec!["`a | b`".into(), "c".into()]
            ]),
            markdown::Md::Bullets(vec!["x y".into(), "z".into()]),
        ]
    );
}

/// Just enough Markdown to read README's reference sections.
mod markdown {
    use super::{Block, normalize};

    #[derive(Debug, PartialEq)]
    pub enum Md {
        Paragraph(String),
        Bullets(Vec<String>),
        /// The header, then the rows.
        Table(Vec<Vec<String>>),
        Code(String),
    }

    impl From<&Block> for Md {
        fn from(block: &Block) -> Md {
            match block {
                Block::Paragraph(text) => Md::Paragraph(normalize(text)),
                Block::Bullets(items) => Md::Bullets(items.iter().map(|i| normalize(i)).collect()),
                Block::Table(table) => {
                    let header = table.header.iter().map(ToString::to_string).collect();
                    let rows =
                        table.rows.iter().map(|row| row.iter().map(|c| normalize(c)).collect());
                    Md::Table(std::iter::once(header).chain(rows).collect())
                }
                Block::Example(lines) => Md::Code(lines.trim_end().to_owned()),
            }
        }
    }

    /// The lines under `## title`, up to the next `## `.
    pub fn section(markdown: &str, title: &str) -> String {
        let heading = format!("## {title}");
        let mut lines = markdown.lines().skip_while(|line| *line != heading);
        assert!(lines.next().is_some(), "README has no {heading}");
        lines.take_while(|line| !line.starts_with("## ")).collect::<Vec<_>>().join("\n")
    }

    pub fn parse(text: &str) -> Vec<Md> {
        let mut blocks = Vec::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            if line.trim().is_empty() {
                continue;
            }
            if line.starts_with("```") {
                let code: Vec<&str> =
                    lines.by_ref().take_while(|l| !l.starts_with("```")).collect();
                blocks.push(Md::Code(code.join("\n")));
            } else if line.starts_with('|') {
                let mut rows = vec![cells(line)];
                while let Some(row) = lines.next_if(|l| l.starts_with('|')) {
                    rows.push(cells(row));
                }
                rows.remove(1); // the |---|---| line
                blocks.push(Md::Table(rows));
            } else if let Some(first) = line.strip_prefix("- ") {
                let mut items = vec![first.to_owned()];
                while let Some(next) = lines.next_if(|l| !l.trim().is_empty()) {
                    match next.strip_prefix("- ") {
                        Some(item) => items.push(item.to_owned()),
                        None => items.last_mut().unwrap().push_str(&format!(" {next}")),
                    }
                }
                blocks.push(Md::Bullets(items.iter().map(|item| normalize(item)).collect()));
            } else {
                let mut paragraph = line.to_owned();
                while let Some(next) = lines.next_if(|l| !l.trim().is_empty()) {
                    paragraph.push_str(&format!(" {next}"));
                }
                blocks.push(Md::Paragraph(normalize(&paragraph)));
            }
        }
        blocks
    }

    /// A table row's cells, `\|` read as `|`.
    fn cells(row: &str) -> Vec<String> {
        let row = row.trim().trim_start_matches('|');
        let mut cells = vec![String::new()];
        let mut chars = row.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    cells.last_mut().unwrap().push('|');
                    chars.next();
                }
                '|' => cells.push(String::new()),
                _ => cells.last_mut().unwrap().push(c),
            }
        }
        if cells.last().is_some_and(|cell| cell.trim().is_empty()) {
            cells.pop();
        }
        cells.iter().map(|cell| normalize(cell)).collect()
    }

    /// The first block, or table row, that differs, as Markdown.
    pub fn first_difference(expected: &[Md], found: &[Md]) -> Option<(String, String)> {
        let length = expected.len().max(found.len());
        let index = (0..length).find(|&i| expected.get(i) != found.get(i))?;
        let (want, got) = (expected.get(index), found.get(index));
        match (want, got) {
            (Some(Md::Table(want)), Some(Md::Table(got))) => {
                return first_different_item(want, got, |row| table_line(row));
            }
            (Some(Md::Bullets(want)), Some(Md::Bullets(got))) => {
                return first_different_item(want, got, |item| format!("- {item}"));
            }
            _ => {}
        }
        let text = |block: Option<&Md>| {
            block.map_or("(nothing)".into(), |b| render(std::slice::from_ref(b)))
        };
        Some((text(want), text(got)))
    }

    fn first_different_item<T: PartialEq>(
        want: &[T],
        got: &[T],
        line: impl Fn(&T) -> String,
    ) -> Option<(String, String)> {
        let index = (0..want.len().max(got.len())).find(|&i| want.get(i) != got.get(i))?;
        let text = |items: &[T]| items.get(index).map_or("(nothing)".into(), &line);
        Some((text(want), text(got)))
    }

    /// Markdown for `blocks`, one line per paragraph, to paste into README.
    pub fn render(blocks: &[Md]) -> String {
        let rendered: Vec<String> = blocks
            .iter()
            .map(|block| match block {
                Md::Paragraph(text) => text.clone(),
                Md::Bullets(items) => {
                    items.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n")
                }
                Md::Table(rows) => table(rows),
                Md::Code(code) => format!("```\n{code}\n```"),
            })
            .collect();
        rendered.join("\n\n")
    }

    fn table_line(cells: &[String]) -> String {
        let cells: Vec<String> = cells.iter().map(|cell| cell.replace('|', "\\|")).collect();
        format!("| {} |", cells.join(" | "))
    }

    fn table(rows: &[Vec<String>]) -> String {
        let mut lines: Vec<String> = rows.iter().map(|row| table_line(row)).collect();
        let width = rows.first().map_or(0, Vec::len);
        lines.insert(1.min(lines.len()), format!("|{}", "---|".repeat(width)));
        lines.join("\n")
    }
}
