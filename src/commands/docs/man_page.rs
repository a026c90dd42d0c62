//! The manual page: clap_mangen's title, synopsis and options, then the
//! commands, filter language, JSON schema, exit statuses and examples,
//! each rendered from the one place that defines it.

use std::io::{self, Write};

use clap::Arg;
use roff::{Inline, Roff, bold, italic, roman};

use super::text::{self, Block, Table};
use super::{exit_statuses_table, filters, json_schema};
use crate::cli::{LIST_EXAMPLES, WHO_EXAMPLES};

/// Other manual pages worth reading, each one installed on a Debian host
/// with iproute2, net-tools and lsof.
const SEE_ALSO: [(&str, &str); 4] =
    [("ss", "8"), ("ip-netns", "8"), ("netstat", "8"), ("lsof", "8")];

pub fn render(mut command: clap::Command, out: &mut dyn Write) -> io::Result<()> {
    command.build();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    let mut page = Roff::new();
    // Identifiers and JSON read best neither hyphenated nor stretched.
    page.control("nh", []).control("ad", ["l"]);
    commands_section(&mut page, &command);
    blocks_section(&mut page, "FILTERS", &filters::section());
    blocks_section(&mut page, "JSON OUTPUT", &json_schema::section());
    blocks_section(&mut page, "AUDIT JSON", &super::audit_json::section());
    blocks_section(&mut page, "EXIT STATUS", &[Block::Table(exit_statuses_table())]);
    examples_section(&mut page);
    see_also_section(&mut page);
    page.to_writer(out)?;
    man.render_version_section(out)
}

/// Every subcommand with its usage, its description and the arguments it
/// does not share with `portwatch` itself (which OPTIONS describes).
fn commands_section(page: &mut Roff, top: &clap::Command) {
    page.control("SH", ["COMMANDS"]);
    for subcommand in top.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        command_entry(page, subcommand, top);
    }
}

fn command_entry(page: &mut Roff, subcommand: &clap::Command, top: &clap::Command) {
    page.control("TP", []).text(usage_line(subcommand));
    let about = subcommand.get_long_about().or(subcommand.get_about());
    page.text(markup(&about.map(ToString::to_string).unwrap_or_default()));
    let (shared, own): (Vec<&Arg>, Vec<&Arg>) =
        documented_args(subcommand).partition(|arg| is_shared(arg, top));
    if !own.is_empty() {
        page.control("RS", []);
        for arg in own {
            page.control("TP", []).text(arg_term(arg)).text(markup(&arg_help(arg)));
        }
        page.control("RE", []);
    }
    if !shared.is_empty() {
        page.control("IP", []).text([roman(shared_args_sentence(&shared, top))]);
    }
}

fn usage_line(subcommand: &clap::Command) -> Vec<Inline> {
    let name = format!("portwatch {}", subcommand.get_name());
    let usage = subcommand.clone().render_usage().to_string();
    let usage = usage.lines().next().unwrap_or_default();
    let usage = usage.strip_prefix("Usage: ").unwrap_or(usage);
    match usage.strip_prefix(&name) {
        Some(arguments) => vec![bold(name), roman(arguments)],
        None => vec![roman(usage)],
    }
}

fn documented_args(command: &clap::Command) -> impl Iterator<Item = &Arg> {
    command.get_arguments().filter(|arg| !arg.is_hide_set() && !is_generated(arg))
}

/// `--help` and `--version`, which every command has.
fn is_generated(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

/// Whether `portwatch` itself takes `arg`, with the same spelling and help.
fn is_shared(arg: &Arg, top: &clap::Command) -> bool {
    top.get_arguments().any(|other| {
        other.get_id() == arg.get_id()
            && other.get_short() == arg.get_short()
            && other.get_long() == arg.get_long()
            && arg_help(other) == arg_help(arg)
    })
}

fn shared_args_sentence(shared: &[&Arg], top: &clap::Command) -> String {
    if shared.len() == documented_args(top).count() {
        return "Takes every option described under OPTIONS.".to_owned();
    }
    let names: Vec<String> = shared.iter().map(|arg| arg_name(arg)).collect();
    format!("Also takes {}, as described under OPTIONS.", names.join(", "))
}

fn arg_name(arg: &Arg) -> String {
    match (arg.get_short(), arg.get_long()) {
        (Some(short), _) => format!("-{short}"),
        (None, Some(long)) => format!("--{long}"),
        (None, None) => value_name(arg),
    }
}

fn value_name(arg: &Arg) -> String {
    match arg.get_value_names().and_then(|names| names.first()) {
        Some(name) => name.to_string(),
        None => arg.get_id().as_str().to_uppercase(),
    }
}

fn arg_term(arg: &Arg) -> Vec<Inline> {
    if arg.is_positional() {
        return vec![italic(value_name(arg))];
    }
    let mut term = Vec::new();
    if let Some(short) = arg.get_short() {
        term.push(bold(format!("-{short}")));
    }
    if let Some(long) = arg.get_long() {
        if !term.is_empty() {
            term.push(roman(", "));
        }
        term.push(bold(format!("--{long}")));
    }
    if arg.get_action().takes_values() {
        term.extend([roman(" "), italic(value_name(arg))]);
    }
    term
}

fn arg_help(arg: &Arg) -> String {
    let help = arg.get_long_help().or(arg.get_help()).map(ToString::to_string).unwrap_or_default();
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| value.get_name().to_owned())
        .collect();
    match (help.is_empty(), values.is_empty()) {
        (_, true) => help,
        (true, false) => format!("One of: {}.", values.join(", ")),
        (false, false) => format!("{help}. One of: {}.", values.join(", ")),
    }
}

fn blocks_section(page: &mut Roff, title: &str, blocks: &[Block]) {
    page.control("SH", [title]);
    for block in blocks {
        match block {
            Block::Paragraph(paragraph) => {
                page.control("PP", []).text(markup(paragraph));
            }
            Block::Bullets(items) => {
                for item in *items {
                    page.control("IP", [r"\(bu", "2"]).text(markup(item));
                }
            }
            Block::Table(table) => definitions(page, table),
            Block::Example(lines) => example(page, lines),
        }
    }
}

/// A table as a list of definitions: the first cell is the term, cells
/// between first and last follow it in parentheses (a type, say), the
/// last is the definition.
fn definitions(page: &mut Roff, table: &Table) {
    for row in &table.rows {
        let Some((definition, terms)) = row.split_last() else { continue };
        let Some((term, qualifiers)) = terms.split_first() else { continue };
        let mut line = vec![bold(text::plain(term))];
        for qualifier in qualifiers {
            line.push(roman(" ("));
            line.extend(markup(qualifier));
            line.push(roman(")"));
        }
        page.control("TP", []).text(line).text(markup(definition));
    }
}

fn example(page: &mut Roff, lines: &str) {
    page.control("PP", []).control("RS", ["4"]).control("nf", []);
    for line in lines.lines() {
        page.text([roman(line)]);
    }
    page.control("fi", []).control("RE", []);
}

/// `--help`'s examples, the command in bold and its description below.
fn examples_section(page: &mut Roff) {
    page.control("SH", ["EXAMPLES"]);
    for examples in [LIST_EXAMPLES, WHO_EXAMPLES] {
        for line in examples.lines().skip(1).take_while(|line| !line.is_empty()) {
            let (command, description) = split_example(line);
            page.control("TP", []).text([bold(command)]);
            if !description.is_empty() {
                page.text([roman(description)]);
            }
        }
    }
}

/// An example line is the command, two or more spaces, then what it does.
fn split_example(line: &str) -> (&str, &str) {
    let line = line.trim();
    match line.split_once("  ") {
        Some((command, description)) => (command.trim_end(), description.trim_start()),
        None => (line, ""),
    }
}

fn see_also_section(page: &mut Roff) {
    page.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (index, (name, section)) in SEE_ALSO.iter().enumerate() {
        if index > 0 {
            line.push(roman(", "));
        }
        line.extend([bold(*name), roman(format!("({section})"))]);
    }
    page.text(line);
}

/// Text with `code` and **strong** marks, the marked parts in bold.
fn markup(text: &str) -> Vec<Inline> {
    text::spans(text)
        .into_iter()
        .map(|span| if span.marked { bold(span.text) } else { roman(span.text) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_example_splits_at_the_first_wide_gap() {
        assert_eq!(
            split_example("  portwatch -tuln     listening, numeric"),
            ("portwatch -tuln", "listening, numeric")
        );
        assert_eq!(
            split_example("  if portwatch who :80; then x; fi"),
            ("if portwatch who :80; then x; fi", "")
        );
    }
}
