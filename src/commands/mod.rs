//! What each subcommand does with its parsed arguments.

pub mod audit;
pub mod baseline;
pub mod docs;
pub mod events;
pub mod forwards;
pub mod history;
pub mod list;
pub mod listeners;
pub mod record;
pub mod scan;
pub mod selection;
pub mod watch;
pub mod who;

use std::cell::OnceCell;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{PortCategoryArg, SelectionArgs};
use crate::exit::{ExitCode, UsageError};
use crate::filter::parse;
use crate::filter::{Cond, Extras, bytecode};
use crate::inventory::Outcome;
use crate::model::{Netid, PortCategory, StateSet};
use crate::names::Services;
use crate::source::{Extensions, Selection, SocketFilter};
use crate::sys::Os;

/// A filter file larger than this is refused: a generated allow-list of
/// 100,000 ports takes about 2 MiB.
pub const FILTER_FILE_LIMIT: u64 = 16 << 20;

/// What to list: the selection flags and state words, and the filter
/// expression after them.
pub struct Query {
    pub selection: Selection,
    pub filter: Option<SocketFilter>,
}

/// Reads the selection flags, state words and filter expression.
pub fn query(
    args: &SelectionArgs,
    unflagged_states: Option<StateSet>,
    os: &Os<'_>,
    stderr: &mut dyn Write,
) -> Result<Query> {
    let (selection, expression) = selection_and_expression(args, unflagged_states)?;
    let mut words = expression.to_vec();
    if let Some(path) = &args.filter_file {
        words.extend(filter_file_words(os, path)?);
    }
    let filter = socket_filter(&words, &selection.netids, os, stderr)?;
    Ok(Query { selection, filter })
}

fn filter_file_words(os: &Os<'_>, path: &Path) -> Result<Vec<String>> {
    let text = os
        .files
        .read_text(path, FILTER_FILE_LIMIT)
        .with_context(|| format!("cannot read filter file {}", path.display()))?;
    let without_comments = text.lines().map(|line| line.split('#').next().unwrap_or_default());
    Ok(without_comments.map(str::to_owned).collect())
}

/// What a filter names, looked up on this host: port names (from
/// /etc/services, read only if a port is given by name, and only for the
/// protocols being listed), interfaces, cgroups and host names.
struct FilterResolver<'a> {
    os: &'a Os<'a>,
    netids: &'a [Netid],
    services: OnceCell<Services>,
}

impl parse::Resolver for FilterResolver<'_> {
    fn service_ports(&self, name: &str) -> Vec<(Netid, u16)> {
        let services =
            self.services.get_or_init(|| Services::load(self.os.files, self.os.proc, false));
        services
            .ports(name)
            .iter()
            .filter(|(netid, _)| self.netids.contains(netid))
            .copied()
            .collect()
    }

    fn interface_index(&self, name: &str) -> Option<u32> {
        self.os.resolver.interface_index(name)
    }

    fn cgroup_id(&self, path: &str) -> Option<u64> {
        self.os.resolver.cgroup_id(path)
    }

    fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
        self.os.resolver.host_addresses(name)
    }
}

/// Parses and compiles a filter expression; `None` when there is none.
pub fn socket_filter(
    words: &[String],
    netids: &[Netid],
    os: &Os<'_>,
    stderr: &mut dyn Write,
) -> Result<Option<SocketFilter>> {
    let tokens = parse::tokenize(words);
    let resolver = FilterResolver { os, netids, services: OnceCell::new() };
    let Some(parsed) = parse::parse(&tokens, &resolver).map_err(|e| UsageError(e.to_string()))?
    else {
        return Ok(None);
    };
    if parsed.mixes_and_or {
        writeln!(
            stderr,
            "portwatch: note: like ss, portwatch reads 'and' and 'or' left to right with equal \
             precedence ('a or b and c' means '(a or b) and c'); use parentheses to be explicit"
        )?;
    }
    let conditions = parsed.expr.conditions();
    if conditions.iter().any(|c| matches!(c, Cond::Mark { .. })) && os.env.effective_uid() != 0 {
        return Err(UsageError("filter: fwmark conditions need root (CAP_NET_ADMIN)".into()).into());
    }
    let autobound = conditions.iter().any(|c| matches!(c, Cond::AutoBound));
    let ephemeral_ports = match autobound {
        true => crate::names::ephemeral_ports(os.proc),
        false => (0, 0),
    };
    let (bytecode, userspace_reason) = match bytecode::compile(&parsed.expr) {
        Ok(code) => (Some(code), None),
        Err(too_long) => (None, Some(too_long.to_string())),
    };
    Ok(Some(SocketFilter {
        bytecode,
        userspace_reason,
        extras: Extras { ephemeral_ports },
        expr: parsed.expr,
    }))
}

/// Turns ss's selection flags and state words into a [`Selection`], and
/// returns the words after the state words (the filter expression).
/// `unflagged_states` applies when neither `-l`, `-a` nor a state word is
/// given; `None` takes ss's default states for the kinds selected.
pub fn selection_and_expression(
    args: &SelectionArgs,
    unflagged_states: Option<StateSet>,
) -> Result<(Selection, &[String]), UsageError> {
    let kinds = selection::kinds(args)?;
    let flagged = kinds.flagged_states.or(unflagged_states);

    let (states, expression) =
        parse_state_words(&args.filter, flagged.unwrap_or(kinds.default_states))?;
    let categories = args
        .category
        .iter()
        .map(|c| match c {
            PortCategoryArg::WellKnown => PortCategory::WellKnown,
            PortCategoryArg::Registered => PortCategory::Registered,
            PortCategoryArg::Dynamic => PortCategory::Dynamic,
        })
        .collect();
    let extensions = Extensions { memory: args.memory, tcp_info: args.info, ..Default::default() };
    let details = args.options || args.memory || args.info;
    let selection = Selection {
        netids: kinds.netids,
        families: kinds.families,
        optional: kinds.optional,
        states,
        categories,
        extensions,
        details,
    };
    Ok((selection, expression))
}

/// Applies the leading `state WORD` and `exclude WORD` pairs as ss does: the
/// first `state` starts from no state, the first `exclude` from all states,
/// and later words add to or subtract from that. Returns the words after them.
fn parse_state_words(
    words: &[String],
    initial: StateSet,
) -> Result<(StateSet, &[String]), UsageError> {
    let mut states = initial;
    let mut saw_state_word = false;
    let mut at = 0;
    while let Some(keyword) = words.get(at) {
        let exclude = match keyword.as_str() {
            "state" => false,
            "exclude" | "excl" => true,
            _ => break,
        };
        let word = words
            .get(at + 1)
            .ok_or_else(|| UsageError(format!("'{keyword}' needs a state word after it")))?;
        at += 2;
        let named = StateSet::parse_word(word).ok_or_else(|| {
            UsageError(format!(
                "unknown state '{word}' (states: established, syn-sent, syn-recv, fin-wait-1, \
                 fin-wait-2, time-wait, closed, close-wait, last-ack, listening, closing; \
                 groups: all, connected, synchronized, bucket, big)"
            ))
        })?;
        if !saw_state_word {
            states = if exclude { StateSet::all() } else { StateSet::EMPTY };
            saw_state_word = true;
        }
        states = if exclude { states.without(named) } else { states.union(named) };
    }
    Ok((states, &words[at..]))
}

/// Tells the user, after the rows, when they may not be the whole truth,
/// and what that means for the exit code.
pub fn report(outcome: &Outcome, stderr: &mut dyn Write) -> Result<ExitCode> {
    for notice in &outcome.source.notices {
        writeln!(stderr, "portwatch: {notice}")?;
    }
    if let Some(hint) = &outcome.owner_hint {
        writeln!(stderr, "portwatch: {hint}")?;
    }
    for namespace in &outcome.unlisted_namespaces {
        writeln!(stderr, "portwatch: warning: {namespace}")?;
    }
    if outcome.source.interrupted {
        writeln!(
            stderr,
            "portwatch: warning: the kernel interrupted a socket dump (NLM_F_DUMP_INTR): \
             sockets may be missing or listed twice; run again"
        )?;
    }
    if outcome.source.undecodable > 0 {
        writeln!(
            stderr,
            "portwatch: warning: {} socket replies could not be decoded and were left out",
            outcome.source.undecodable
        )?;
    }
    Ok(if outcome.is_complete() { ExitCode::Success } else { ExitCode::Incomplete })
}

/// `--color`: auto colours a terminal, unless NO_COLOR is set to anything.
pub fn colour(when: crate::cli::ColorArg, os: &Os<'_>) -> bool {
    use crate::cli::ColorArg;
    match when {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            os.env.stdout_is_terminal() && os.env.env_var("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SocketState::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn state_words_follow_ss() {
        let default = StateSet::ss_default();
        assert_eq!(parse_state_words(&[], default).unwrap().0, default);
        let listening = parse_state_words(&words("state listening"), StateSet::all()).unwrap().0;
        assert_eq!(listening, StateSet::of(&[Listening]));
        let two =
            parse_state_words(&words("state established state time-wait"), default).unwrap().0;
        assert_eq!(two, StateSet::of(&[Established, TimeWait]));
        let excluded = parse_state_words(&words("exclude listening"), default).unwrap().0;
        assert_eq!(excluded, StateSet::all().without(StateSet::of(&[Listening])));
        let mixed = parse_state_words(&words("state connected excl time-wait"), default).unwrap().0;
        assert!(!mixed.contains(TimeWait) && mixed.contains(Established));
    }

    #[test]
    fn bad_state_words_are_named() {
        let error = parse_state_words(&words("state bogus"), StateSet::all()).unwrap_err();
        assert!(error.0.starts_with("unknown state 'bogus'"), "{error}");
        let error = parse_state_words(&words("state"), StateSet::all()).unwrap_err();
        assert!(error.0.contains("'state' needs"), "{error}");
        let words = words("state listening sport = :22");
        let (states, rest) = parse_state_words(&words, StateSet::all()).unwrap();
        assert_eq!((states, rest), (StateSet::of(&[Listening]), &words[2..]));
    }

    #[test]
    fn protocol_and_family_flags() {
        use crate::model::IpFamily;
        let args = SelectionArgs { udp: true, ipv6: true, ..Default::default() };
        let chosen = selection_and_expression(&args, None).unwrap().0;
        assert_eq!(chosen.netids, [Netid::Udp]);
        assert_eq!(chosen.families, [IpFamily::Inet6]);
        assert_eq!(chosen.states, StateSet::ss_default(), "-6 brings the connected states");
        let udp = SelectionArgs { udp: true, ..Default::default() };
        let chosen = selection_and_expression(&udp, None).unwrap().0;
        assert_eq!(chosen.states, StateSet::of(&[Established]), "ss's default for UDP alone");
        let args = SelectionArgs { tcp: true, udp: true, all: true, ..Default::default() };
        let chosen = selection_and_expression(&args, None).unwrap().0;
        assert_eq!(chosen.netids, [Netid::Udp, Netid::Tcp], "ss lists UDP before TCP");
        assert_eq!(chosen.states, StateSet::all());
        let nothing = SelectionArgs::default();
        let recorded = selection_and_expression(&nothing, Some(StateSet::all())).unwrap().0;
        assert_eq!(recorded.states, StateSet::all(), "a recording keeps every state");
    }
}
