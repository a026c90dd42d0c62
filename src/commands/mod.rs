//! What each subcommand does with its parsed arguments.

pub mod list;
pub mod record;
pub mod who;

use crate::cli::{FamilyArg, SelectionArgs};
use crate::exit::UsageError;
use crate::model::{Family, Netid};
use crate::source::Selection;
use crate::state::StateSet;

/// Turns ss's selection flags and state words into a [`Selection`].
/// `unflagged_states` applies when neither `-l`, `-a` nor a state word is given.
pub fn selection(
    args: &SelectionArgs,
    unflagged_states: StateSet,
) -> Result<Selection, UsageError> {
    let netids = match (args.tcp, args.udp) {
        (false, false) => Netid::SS_ORDER.to_vec(),
        (tcp, udp) => Netid::SS_ORDER
            .into_iter()
            .filter(|n| (*n == Netid::Tcp && tcp) || (*n == Netid::Udp && udp))
            .collect(),
    };
    let mut wanted: Vec<Family> = args
        .family
        .iter()
        .map(|f| match f {
            FamilyArg::Inet => Family::Inet,
            FamilyArg::Inet6 => Family::Inet6,
        })
        .collect();
    if args.ipv4 {
        wanted.push(Family::Inet);
    }
    if args.ipv6 {
        wanted.push(Family::Inet6);
    }
    let families = match wanted.is_empty() {
        true => Family::ALL.to_vec(),
        false => Family::ALL.into_iter().filter(|f| wanted.contains(f)).collect(),
    };
    let flagged = if args.all {
        Some(StateSet::all())
    } else if args.listening {
        Some(StateSet::listening())
    } else {
        None
    };
    let states = parse_state_words(&args.filter, flagged.unwrap_or(unflagged_states))?;
    Ok(Selection { netids, families, states })
}

/// Applies `state WORD` and `exclude WORD` as ss does: the first `state`
/// starts from no state, the first `exclude` from all states, and later
/// words add to or subtract from that.
fn parse_state_words(words: &[String], initial: StateSet) -> Result<StateSet, UsageError> {
    let mut states = initial;
    let mut saw_state_word = false;
    let mut words = words.iter();
    while let Some(keyword) = words.next() {
        let exclude = match keyword.as_str() {
            "state" => false,
            "exclude" | "excl" => true,
            other => {
                return Err(UsageError(format!(
                    "unexpected argument '{other}': expected 'state WORD' or 'exclude WORD'"
                )));
            }
        };
        let word = words
            .next()
            .ok_or_else(|| UsageError(format!("'{keyword}' needs a state word after it")))?;
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
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SocketState::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn state_words_follow_ss() {
        let default = StateSet::ss_default();
        assert_eq!(parse_state_words(&[], default).unwrap(), default);
        let listening = parse_state_words(&words("state listening"), StateSet::all()).unwrap();
        assert_eq!(listening, StateSet::of(&[Listening]));
        let two = parse_state_words(&words("state established state time-wait"), default).unwrap();
        assert_eq!(two, StateSet::of(&[Established, TimeWait]));
        let excluded = parse_state_words(&words("exclude listening"), default).unwrap();
        assert_eq!(excluded, StateSet::all().without(StateSet::of(&[Listening])));
        let mixed = parse_state_words(&words("state connected excl time-wait"), default).unwrap();
        assert!(!mixed.contains(TimeWait) && mixed.contains(Established));
    }

    #[test]
    fn bad_state_words_are_named() {
        let error = parse_state_words(&words("state bogus"), StateSet::all()).unwrap_err();
        assert!(error.0.starts_with("unknown state 'bogus'"), "{error}");
        let error = parse_state_words(&words("state"), StateSet::all()).unwrap_err();
        assert!(error.0.contains("'state' needs"), "{error}");
        let error = parse_state_words(&words("sport"), StateSet::all()).unwrap_err();
        assert!(error.0.contains("'sport'"), "{error}");
    }

    #[test]
    fn protocol_and_family_flags() {
        let args = SelectionArgs { udp: true, ipv6: true, ..Default::default() };
        let chosen = selection(&args, StateSet::ss_default()).unwrap();
        assert_eq!(chosen.netids, [Netid::Udp]);
        assert_eq!(chosen.families, [Family::Inet6]);
        let args = SelectionArgs { all: true, ..Default::default() };
        let chosen = selection(&args, StateSet::ss_default()).unwrap();
        assert_eq!(chosen.netids, [Netid::Udp, Netid::Tcp], "ss lists UDP before TCP");
        assert_eq!(chosen.states, StateSet::all());
    }
}
