//! iptables save format (iptables-save, ip6tables-save, iptables-nft-save,
//! iptables-legacy-save) into the rule model.
//!
//! The reader is strict about the document's structure (tables, chain
//! declarations, `-A` lines, quoting) and tolerant about everything inside a
//! rule: an option, module or target it does not model becomes
//! [`Match::Unknown`] or [`Action::Unknown`], never a guess and never an
//! error, so that one exotic rule cannot hide the rest of the ruleset.

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::{Result, anyhow};

use super::ruleset::{
    Action, AddressType, Backend, BaseChain, Chain, ChainKind, CtState, CtStatus, Hook, Key, Match,
    Nat, NatTarget, NatTo, Rule, RuleOrigin, Ruleset, TableFamily, Values,
};
use super::space::{Intervals, address_value, prefix};

/// Reads one save document. `v4`: iptables (true) or ip6tables (false)
/// output. `backend`: [`Backend::Nftables`] for iptables-nft-save output,
/// [`Backend::IptablesLegacy`] for iptables-legacy-save.
pub fn read(text: &str, v4: bool, backend: Backend) -> Result<Ruleset> {
    let tool = if v4 { "iptables-save" } else { "ip6tables-save" };
    let mut reader = Reader { v4, backend, done: Vec::new(), open: None };
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        reader.line(number, line).map_err(|why| anyhow!("{tool} line {number}: {why}"))?;
    }
    if let Some(table) = &reader.open {
        return Err(anyhow!("{tool} line {}: table {} is never committed", table.line, table.name));
    }
    Ok(Ruleset { chains: reader.done, sets: HashMap::new() })
}

/// Within a line, errors are plain text; [`read`] adds the tool and line.
type LineResult<T> = std::result::Result<T, String>;

/// Constructs and names taken from the input are cut to this many
/// characters, so a garbage megabyte token does not become a megabyte name.
const NAME_LIMIT: usize = 80;

struct Reader {
    v4: bool,
    backend: Backend,
    /// Chains of committed tables, in file order.
    done: Vec<Chain>,
    open: Option<OpenTable>,
}

/// The table between `*name` and `COMMIT`.
struct OpenTable {
    name: String,
    /// Where `*name` is, to name an uncommitted table.
    line: usize,
    chains: Vec<Chain>,
    by_name: HashMap<String, usize>,
}

impl Reader {
    fn line(&mut self, number: usize, raw: &str) -> LineResult<()> {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        if let Some(name) = line.strip_prefix('*') {
            return self.open_table(number, name.trim());
        }
        if line == "COMMIT" {
            return self.commit();
        }
        if let Some(declaration) = line.strip_prefix(':') {
            return self.declare(declaration);
        }
        if line.starts_with('-') || line.starts_with('[') {
            return self.rule(number, line);
        }
        Err(format!("not a save-format line: {}", short(line)))
    }

    fn open_table(&mut self, number: usize, name: &str) -> LineResult<()> {
        if let Some(table) = &self.open {
            return Err(format!("table {name} starts before table {} is committed", table.name));
        }
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("not a table name: {}", short(name)));
        }
        let name = name.to_string();
        self.open =
            Some(OpenTable { name, line: number, chains: Vec::new(), by_name: HashMap::new() });
        Ok(())
    }

    fn commit(&mut self) -> LineResult<()> {
        let table = self.open.take().ok_or("COMMIT outside any table")?;
        self.done.extend(table.chains);
        Ok(())
    }

    /// `:NAME POLICY [packets:bytes]`.
    fn declare(&mut self, declaration: &str) -> LineResult<()> {
        let mut words = declaration.split_whitespace();
        let name = words.next().ok_or("a chain declaration without a name")?;
        let policy = words.next().ok_or("a chain declaration without a policy")?;
        let (v4, backend) = (self.v4, self.backend);
        let table = self.open.as_mut().ok_or("a chain declaration outside any table")?;
        let chain = new_chain(v4, backend, &table.name, name, Some(policy));
        match table.by_name.get(name) {
            // Declared twice: the later policy wins, as in iptables-restore.
            Some(&index) => {
                if let Some(existing) = table.chains.get_mut(index) {
                    existing.base = chain.base;
                }
            }
            None => {
                table.by_name.insert(name.to_string(), table.chains.len());
                table.chains.push(chain);
            }
        }
        Ok(())
    }

    fn rule(&mut self, number: usize, line: &str) -> LineResult<()> {
        let (v4, backend) = (self.v4, self.backend);
        let table = self.open.as_mut().ok_or("a rule outside any table")?;
        let items = items(tokenize(line)?);
        let chain_name = appended_chain(&items)?;
        let (matches, action) = rule_body(items.get(1..).unwrap_or_default(), v4, &table.by_name);
        let origin = RuleOrigin { handle: None, line: Some(number), text: line.to_string() };
        let rule = Rule { matches, action, origin };
        let index = match table.by_name.get(chain_name) {
            Some(&index) => index,
            None => {
                // Not declared (iptables-restore would refuse): kept as a
                // chain of its own rather than dropped, so its rules still count.
                let chain = new_chain(v4, backend, &table.name, chain_name, None);
                table.by_name.insert(chain_name.to_string(), table.chains.len());
                table.chains.push(chain);
                table.chains.len() - 1
            }
        };
        if let Some(chain) = table.chains.get_mut(index) {
            chain.rules.push(rule);
        }
        Ok(())
    }
}

/// The chain of an `-A CHAIN ...` line (after an optional `[p:b]`).
fn appended_chain(items: &[Item]) -> LineResult<&str> {
    let first = items.first().ok_or("an empty rule")?;
    if !matches!(first.flag.as_str(), "-A" | "--append") {
        return Err(format!("expected -A CHAIN, found {}", short(&first.flag)));
    }
    first.args.first().map(String::as_str).ok_or_else(|| "-A without a chain name".to_string())
}

/// A chain as declared (`policy` is `None` when it never was).
fn new_chain(v4: bool, backend: Backend, table: &str, name: &str, policy: Option<&str>) -> Chain {
    let base = if policy == Some("-") { None } else { base_chain(table, name, policy) };
    Chain {
        backend,
        family: if v4 { TableFamily::Ip } else { TableFamily::Ip6 },
        table: table.to_string(),
        name: name.to_string(),
        base,
        rules: Vec::new(),
    }
}

/// A built-in chain's place: its hook and the priority the kernel gives
/// the table (NF_IP_PRI_*); `None` for a user chain.
fn base_chain(table: &str, name: &str, policy: Option<&str>) -> Option<BaseChain> {
    use ChainKind::{Filter, Nat, Route};
    use Hook::{Forward, Input, Other, Output, Prerouting};
    let (hook, priority, kind) = match (table, name) {
        ("raw", "PREROUTING") => (Prerouting, -300, Filter),
        ("raw", "OUTPUT") => (Output, -300, Filter),
        ("mangle", "PREROUTING") => (Prerouting, -150, Filter),
        ("mangle", "INPUT") => (Input, -150, Filter),
        ("mangle", "OUTPUT") => (Output, -150, Route),
        ("mangle", "FORWARD") => (Forward, -150, Filter),
        ("mangle", "POSTROUTING") => (Other, -150, Filter),
        ("nat", "PREROUTING") => (Prerouting, -100, Nat),
        ("nat", "INPUT") => (Input, 100, Nat),
        ("nat", "OUTPUT") => (Output, -100, Nat),
        ("nat", "POSTROUTING") => (Other, 100, Nat),
        ("filter", "INPUT") => (Input, 0, Filter),
        ("filter", "FORWARD") => (Forward, 0, Filter),
        ("filter", "OUTPUT") => (Output, 0, Filter),
        ("security", "INPUT") => (Input, 50, Filter),
        ("security", "FORWARD") => (Forward, 50, Filter),
        ("security", "OUTPUT") => (Output, 50, Filter),
        _ => return None,
    };
    // An undeclared built-in chain has the kernel's default policy, ACCEPT.
    let policy_accepts = policy != Some("DROP");
    Some(BaseChain { hook, priority, kind, policy_accepts, devices: Vec::new() })
}

fn short(text: &str) -> String {
    match text.char_indices().nth(NAME_LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

// ---------------------------------------------------------------------
// Tokens and items

/// A word of a rule line; a quoted word is always an argument, even when
/// it looks like an option (`--log-prefix "-x"`) or a negation.
struct Token {
    text: String,
    quoted: bool,
}

/// Splits a rule line as iptables-restore does: blanks separate words,
/// double quotes group them, a backslash takes the next character as is.
fn tokenize(line: &str) -> LineResult<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let (mut in_word, mut quoted, mut in_quotes) = (false, false, false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                // A trailing backslash has nothing to escape: kept as is.
                current.push(chars.next().unwrap_or('\\'));
                in_word = true;
            }
            '"' => {
                in_quotes = !in_quotes;
                quoted = true;
                in_word = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if in_word {
                    tokens.push(Token { text: std::mem::take(&mut current), quoted });
                }
                (in_word, quoted) = (false, false);
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_quotes {
        return Err("unbalanced quote".to_string());
    }
    if in_word {
        tokens.push(Token { text: current, quoted });
    }
    Ok(tokens)
}

/// An option with its arguments: `! --dport 22` is negated `--dport` with
/// `["22"]`.
#[derive(Debug)]
struct Item {
    negated: bool,
    flag: String,
    args: Vec<String>,
}

impl Item {
    fn first_arg(&self) -> &str {
        self.args.first().map_or("", String::as_str)
    }
}

fn is_flag(token: &Token) -> bool {
    let mut chars = token.text.chars();
    // `-1` is a number (an argument), not an option.
    !token.quoted
        && chars.next() == Some('-')
        && chars.next().is_some_and(|second| !second.is_ascii_digit())
}

fn is_bang(token: &Token) -> bool {
    !token.quoted && token.text == "!"
}

/// Groups tokens into options and their arguments. Arity is not needed:
/// save output quotes any argument that could pass for an option.
fn items(tokens: Vec<Token>) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    let mut negate_next = false;
    let mut tokens = tokens.into_iter().peekable();
    // A leading `[packets:bytes]` (iptables-save -c) is a counter.
    if tokens.peek().is_some_and(|t| !t.quoted && t.text.starts_with('[') && t.text.ends_with(']'))
    {
        tokens.next();
    }
    while let Some(token) = tokens.next() {
        if is_bang(&token) {
            let before_flag = tokens.peek().is_some_and(is_flag);
            match out.last_mut() {
                // Old style `-s ! 10.0.0.0/8`: negates the option before it.
                Some(last) if !before_flag && last.args.is_empty() && !negate_next => {
                    last.negated = true;
                }
                _ if tokens.peek().is_none() => {
                    // A dangling `!` negates nothing: kept, to become unknown.
                    out.push(Item { negated: false, flag: "!".to_string(), args: Vec::new() });
                }
                _ => negate_next = true,
            }
        } else if is_flag(&token) || out.is_empty() {
            out.push(Item { negated: negate_next, flag: token.text, args: Vec::new() });
            negate_next = false;
        } else if negate_next {
            // `! word`: a negation of no option, kept to become unknown
            // rather than negate whatever option comes next.
            out.push(Item { negated: false, flag: "!".to_string(), args: vec![token.text] });
            negate_next = false;
        } else if let Some(last) = out.last_mut() {
            last.args.push(token.text);
        }
    }
    out
}

// ---------------------------------------------------------------------
// A rule's options into matches and an action

/// The parts of a rule after `-A CHAIN`: base options, `-m` modules with
/// their options, and the `-j`/`-g` target with its options.
enum Section<'a> {
    Base(&'a Item),
    Module { name: String, options: Vec<&'a Item> },
    Target { goto: bool, name: String, options: Vec<&'a Item> },
}

/// Options of iptables itself (not of a module), in their long forms.
const BASE_LONG: &[&str] = &[
    "--source",
    "--src",
    "--destination",
    "--dst",
    "--protocol",
    "--in-interface",
    "--out-interface",
    "--fragment",
    "--set-counters",
    "--ipv4",
    "--ipv6",
];

fn is_base(flag: &str) -> bool {
    !flag.starts_with("--") || BASE_LONG.contains(&flag)
}

fn rule_body(items: &[Item], v4: bool, chains: &HashMap<String, usize>) -> (Vec<Match>, Action) {
    let protocol = rule_protocol(items);
    let mut matches = Vec::new();
    let mut action = None;
    for section in sections(items, protocol, v4) {
        match section {
            Section::Base(item) => matches.extend(base_match(item, v4)),
            Section::Module { name, options } => {
                matches.extend(module_matches(&name, &options, protocol));
            }
            // iptables allows one target; a second one would be refused.
            Section::Target { goto, name, options } => {
                action.get_or_insert_with(|| target(goto, &name, &options, chains));
            }
        }
    }
    (matches, action.unwrap_or(Action::Continue))
}

/// The protocol of a (not negated) `-p`, which the port options refer to.
fn rule_protocol(items: &[Item]) -> Option<u8> {
    items
        .iter()
        .find(|item| matches!(item.flag.as_str(), "-p" | "--protocol") && !item.negated)
        .and_then(|item| protocol_number(item.first_arg()))
}

fn sections(items: &[Item], protocol: Option<u8>, v4: bool) -> Vec<Section<'_>> {
    let mut out = Vec::new();
    // The module or target that `--option`s belong to; base options, which
    // getopt reads anywhere, do not close it.
    let mut open: Option<usize> = None;
    for item in items {
        let flag = item.flag.as_str();
        if matches!(flag, "-m" | "--match") {
            open = Some(out.len());
            out.push(Section::Module { name: item.first_arg().to_string(), options: Vec::new() });
        } else if matches!(flag, "-j" | "--jump" | "-g" | "--goto") {
            open = Some(out.len());
            let goto = matches!(flag, "-g" | "--goto");
            out.push(Section::Target {
                goto,
                name: item.first_arg().to_string(),
                options: Vec::new(),
            });
        } else if is_base(flag) {
            out.push(Section::Base(item));
        } else {
            let index = *open.get_or_insert_with(|| {
                // `-p tcp --dport 22` without `-m tcp`: iptables loads the
                // protocol's module itself.
                out.push(Section::Module {
                    name: implicit_module(protocol, v4),
                    options: Vec::new(),
                });
                out.len() - 1
            });
            if let Some(Section::Module { options, .. } | Section::Target { options, .. }) =
                out.get_mut(index)
            {
                options.push(item);
            }
        }
    }
    out
}

/// The module iptables loads for a protocol's options; empty when none.
fn implicit_module(protocol: Option<u8>, v4: bool) -> String {
    match protocol {
        Some(6) => "tcp",
        Some(17) => "udp",
        Some(1) if v4 => "icmp",
        Some(58) if !v4 => "icmp6",
        _ => "",
    }
    .to_string()
}

fn unknown(construct: &str) -> Match {
    Match::Unknown { construct: short(construct) }
}

fn is(key: Key, negated: bool, values: Intervals) -> Match {
    Match::Is { key, negated, values: Values::Numbers(values) }
}

/// `-s`, `-d`, `-p`, `-i`, `-o` and the like; `None` for what constrains
/// nothing (`-p all`, counters).
fn base_match(item: &Item, v4: bool) -> Option<Match> {
    let arg = item.first_arg();
    let found = match item.flag.as_str() {
        "-s" | "--source" | "--src" => {
            address_set(arg, v4).map(|set| is(Key::SourceAddress { v4 }, item.negated, set))
        }
        "-d" | "--destination" | "--dst" => {
            address_set(arg, v4).map(|set| is(Key::DestinationAddress { v4 }, item.negated, set))
        }
        "-p" | "--protocol" => return protocol_match(item),
        "-i" | "--in-interface" => interface(Key::InInterface, item),
        "-o" | "--out-interface" => interface(Key::OutInterface, item),
        "-c" | "--set-counters" => return None,
        _ => None,
    };
    Some(found.unwrap_or_else(|| unknown(format!("{} {arg}", item.flag).trim_end())))
}

fn interface(key: Key, item: &Item) -> Option<Match> {
    let name = item.args.first()?;
    Some(Match::Is { key, negated: item.negated, values: Values::Names(vec![name.clone()]) })
}

fn protocol_match(item: &Item) -> Option<Match> {
    let arg = item.first_arg();
    match protocol_number(arg) {
        // `-p all` constrains nothing; `! -p all` matches nothing.
        Some(0) if item.negated => Some(is(Key::Protocol, false, Intervals::empty())),
        Some(0) => None,
        Some(number) => Some(is(Key::Protocol, item.negated, Intervals::point(number.into()))),
        None => Some(unknown(&format!("-p {arg}"))),
    }
}

/// `-p`'s word: a name, a number, or `all` (0, no constraint).
fn protocol_number(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().as_str() {
        "all" => Some(0),
        other => super::ruleset::protocol_number(other).or_else(|| other.parse().ok()),
    }
}

/// `ADDR[/LEN|/MASK][,...]`, or `None` when any part is not an address
/// of the family.
fn address_set(text: &str, v4: bool) -> Option<Intervals> {
    let mut ranges = Vec::new();
    for part in text.split(',') {
        ranges.extend_from_slice(one_address(part, v4)?.ranges());
    }
    if ranges.is_empty() { None } else { Some(Intervals::from_ranges(ranges)) }
}

fn one_address(text: &str, v4: bool) -> Option<Intervals> {
    let (address, mask) = match text.split_once('/') {
        Some((address, mask)) => (address, Some(mask)),
        None => (text, None),
    };
    let address: IpAddr = address.parse().ok()?;
    if address.is_ipv4() != v4 {
        return None;
    }
    let length = match mask {
        None => {
            if v4 {
                32
            } else {
                128
            }
        }
        Some(mask) => match mask.parse::<u8>() {
            Ok(length) => length,
            Err(_) => mask_length(mask.parse().ok()?, v4)?,
        },
    };
    prefix(address, length)
}

/// A dotted mask's prefix length; `None` for a mask with holes, whose
/// addresses are not one range.
fn mask_length(mask: IpAddr, v4: bool) -> Option<u8> {
    if mask.is_ipv4() != v4 {
        return None;
    }
    let bits = if v4 { 32 } else { 128 };
    // Left-aligned in 128 bits, a contiguous mask is ones then zeros.
    let value = address_value(mask) << (128 - bits);
    let ones = value.leading_ones();
    let rest = value.checked_shl(ones).unwrap_or(0);
    if rest != 0 {
        return None;
    }
    u8::try_from(ones).ok()
}

// ---------------------------------------------------------------------
// Modules

fn module_matches(name: &str, options: &[&Item], protocol: Option<u8>) -> Vec<Match> {
    match name {
        "tcp" => transport(6, options),
        "udp" => transport(17, options),
        "multiport" => multiport(options, protocol),
        "conntrack" | "state" => conntrack(name, options),
        "addrtype" => addrtype(options),
        "limit" | "hashlimit" | "connlimit" => vec![rate_limit(name, options)],
        "recent" => recent(options),
        // A comment is for people; the origin text keeps it.
        "comment" => Vec::new(),
        // The type is not looked at: a new TCP or UDP connection is not ICMP
        // whatever the type, and ICMP itself is not a listener's traffic.
        "icmp" => vec![is(Key::Protocol, false, Intervals::point(1))],
        "icmp6" => vec![is(Key::Protocol, false, Intervals::point(58))],
        // Options with no module to hold them (no `-p tcp` before `--dport`).
        "" => options.iter().map(|option| unknown(&option.flag)).collect(),
        _ => vec![unknown(&format!("-m {name}"))],
    }
}

/// `-m tcp` / `-m udp`: ports and, for TCP, the flags of the packet.
fn transport(protocol: u8, options: &[&Item]) -> Vec<Match> {
    options.iter().map(|option| transport_option(protocol, option)).collect()
}

fn transport_option(protocol: u8, option: &Item) -> Match {
    let module = if protocol == 6 { "tcp" } else { "udp" };
    let arg = option.first_arg();
    let port_key = match option.flag.as_str() {
        "--dport" | "--destination-port" => Key::DestinationPort { protocol: Some(protocol) },
        "--sport" | "--source-port" => Key::SourcePort { protocol: Some(protocol) },
        "--syn" if protocol == 6 => {
            return tcp_flags_match(option.negated, SYN | RST | ACK | FIN, SYN);
        }
        "--tcp-flags" if protocol == 6 => {
            let compare = option.args.get(1).and_then(|compare| tcp_flags(compare));
            return match tcp_flags(arg).zip(compare) {
                Some((mask, compare)) => tcp_flags_match(option.negated, mask, compare),
                None => unknown("tcp --tcp-flags"),
            };
        }
        other => return unknown(&format!("{module} {other}")),
    };
    match port_range(arg) {
        Some((low, high)) => is(port_key, option.negated, Intervals::range(low, high)),
        None => unknown(&format!("{module} {} {arg}", option.flag)),
    }
}

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;
const ECE: u8 = 0x40;
const CWR: u8 = 0x80;

fn tcp_flags(list: &str) -> Option<u8> {
    let mut bits = 0;
    for word in list.split(',') {
        bits |= match word.to_ascii_uppercase().as_str() {
            "FIN" => FIN,
            "SYN" => SYN,
            "RST" => RST,
            "PSH" => PSH,
            "ACK" => ACK,
            "URG" => URG,
            "ECE" => ECE,
            "CWR" => CWR,
            "ALL" => 0xff,
            "NONE" => 0,
            _ => return None,
        };
    }
    Some(bits)
}

/// Flags decided against a new connection's first packet, a bare SYN:
/// a match on TCP when they hold, a match on nothing when they do not.
fn tcp_flags_match(negated: bool, mask: u8, compare: u8) -> Match {
    let holds = (SYN & mask == compare) != negated;
    let values = if holds { Intervals::point(6) } else { Intervals::empty() };
    is(Key::Protocol, false, values)
}

fn port_range(text: &str) -> Option<(u128, u128)> {
    let (low, high) = match text.split_once(':') {
        Some((low, high)) => {
            let low = if low.is_empty() { 0 } else { port(low)? };
            let high = if high.is_empty() { 65535 } else { port(high)? };
            (low, high)
        }
        None => (port(text)?, port(text)?),
    };
    // iptables refuses a reversed range; one here is not understood.
    (low <= high).then_some((u128::from(low), u128::from(high)))
}

fn port(text: &str) -> Option<u16> {
    text.parse().ok().or_else(|| super::ruleset::service_port(text))
}

/// A comma list of ports and `low:high` ranges.
fn port_list(text: &str) -> Option<Intervals> {
    let ranges: Option<Vec<_>> = text.split(',').map(port_range).collect();
    Some(Intervals::from_ranges(ranges?))
}

fn multiport(options: &[&Item], protocol: Option<u8>) -> Vec<Match> {
    // The key's protocol narrows to TCP or UDP; for sctp and the others the
    // rule's own `-p` match does that.
    let protocol = protocol.filter(|p| matches!(p, 6 | 17));
    let mut out = Vec::new();
    for option in options {
        let ports = port_list(option.first_arg());
        let negated = option.negated;
        match (option.flag.as_str(), ports) {
            ("--dports" | "--destination-ports", Some(ports)) => {
                out.push(is(Key::DestinationPort { protocol }, negated, ports));
            }
            ("--sports" | "--source-ports", Some(ports)) => {
                out.push(is(Key::SourcePort { protocol }, negated, ports));
            }
            // `! --ports`: neither port is in the list, a conjunction. The
            // plain form (either port is) is a disjunction, not modelled.
            ("--ports", Some(ports)) if negated => {
                out.push(is(Key::SourcePort { protocol }, true, ports.clone()));
                out.push(is(Key::DestinationPort { protocol }, true, ports));
            }
            ("--ports", Some(_)) => out.push(unknown("multiport --ports")),
            (flag, _) => out.push(unknown(&format!("multiport {flag}"))),
        }
    }
    out
}

/// Bits of a comma list by a parser; `None` when a word is not known.
fn bits(list: &str, parse: impl Fn(&str) -> Option<u128>) -> Option<Intervals> {
    let mut all = 0;
    for word in list.split(',') {
        all |= parse(word)?;
    }
    Some(Intervals::point(all))
}

/// `-m conntrack` and `-m state`.
fn conntrack(module: &str, options: &[&Item]) -> Vec<Match> {
    options.iter().map(|option| conntrack_option(module, option)).collect()
}

fn conntrack_option(module: &str, option: &Item) -> Match {
    let arg = option.first_arg();
    let found = match option.flag.as_str() {
        // The virtual states SNAT and DNAT are not CtState bits: unknown.
        "--ctstate" | "--state" => bits(arg, CtState::parse).map(|set| (Key::CtState, set)),
        // iptables writes statuses in capitals with `_` (SEEN_REPLY).
        "--ctstatus" => {
            bits(arg, |word| CtStatus::parse(&word.to_ascii_lowercase().replace('_', "-")))
                .map(|set| (Key::CtStatus, set))
        }
        "--ctorigdstport" => port_range(arg)
            .map(|(low, high)| (Key::OriginalDestinationPort, Intervals::range(low, high))),
        // The other original and reply tuples, expiry, direction: not
        // modelled.
        flag => return unknown(&format!("{module} {flag}")),
    };
    match found {
        Some((key, set)) => is(key, option.negated, set),
        None => unknown(&format!("{module} {} {arg}", option.flag)),
    }
}

fn addrtype(options: &[&Item]) -> Vec<Match> {
    let mut out = Vec::new();
    for option in options {
        match option.flag.as_str() {
            "--dst-type" => out.push(match bits(option.first_arg(), AddressType::parse) {
                Some(set) => is(Key::DestinationType, option.negated, set),
                None => unknown(&format!("addrtype --dst-type {}", option.first_arg())),
            }),
            // The type as seen from the incoming (outgoing) interface only;
            // for the local addresses a listener is on, the same answer.
            "--limit-iface-in" | "--limit-iface-out" => {}
            flag => out.push(unknown(&format!("addrtype {flag}"))),
        }
    }
    out
}

/// `-m recent`: `--update`, `--rcheck` and `--remove` match only for
/// addresses seen before (traffic the ruleset cannot know); `--set` alone
/// always matches, its effect is a side effect.
fn recent(options: &[&Item]) -> Vec<Match> {
    let checks_history =
        |option: &&Item| matches!(option.flag.as_str(), "--update" | "--rcheck" | "--remove");
    if options.iter().any(checks_history) {
        return vec![rate_limit("recent", options)];
    }
    if options.iter().any(|option| option.flag == "--set" && option.negated) {
        // `! --set` never matches; not worth a model of its own.
        return vec![unknown("recent ! --set")];
    }
    Vec::new()
}

fn rate_limit(module: &str, options: &[&Item]) -> Match {
    Match::RateLimit { what: short(&section_text(module, options)) }
}

/// A module as written: `-m limit --limit 3/min --limit-burst 10`.
fn section_text(module: &str, options: &[&Item]) -> String {
    let mut text = format!("-m {module}");
    for option in options {
        if option.negated {
            text.push_str(" !");
        }
        text.push(' ');
        text.push_str(&option.flag);
        for arg in &option.args {
            text.push(' ');
            text.push_str(arg);
        }
    }
    text
}

// ---------------------------------------------------------------------
// Targets

/// Targets that leave the verdict to the next rule: they log, mark, count
/// or change the packet in ways that do not decide where it goes.
const NO_VERDICT: &[&str] = &[
    "LOG",
    "NFLOG",
    "ULOG",
    "TRACE",
    "MARK",
    "CONNMARK",
    "CT",
    "TOS",
    "DSCP",
    "TCPMSS",
    "SET",
    "AUDIT",
    "CLASSIFY",
    "CHECKSUM",
    "SECMARK",
    "CONNSECMARK",
    "TTL",
    "HL",
    "IDLETIMER",
    "LED",
    "RATEEST",
];

fn target(goto: bool, name: &str, options: &[&Item], chains: &HashMap<String, usize>) -> Action {
    if name.is_empty() {
        return Action::Unknown(if goto { "-g" } else { "-j" }.to_string());
    }
    if goto {
        return Action::Goto(name.to_string());
    }
    let nat = |what: &str| Action::Nat(Nat::named(what));
    match name {
        "ACCEPT" => Action::Accept,
        "DROP" => Action::Drop,
        "REJECT" => Action::Reject,
        "RETURN" => Action::Return,
        // Chain names cannot clash with target names, so a declared chain
        // is a jump whatever it looks like (DOCKER, DOCKER-USER).
        _ if chains.contains_key(name) => Action::Jump(name.to_string()),
        "DNAT" => Action::Nat(Nat { kind: "dnat".into(), to: nat_to(options, "--to-destination") }),
        "SNAT" => nat("snat"),
        "MASQUERADE" => nat("masquerade"),
        "REDIRECT" => {
            Action::Nat(Nat { kind: "redirect".into(), to: nat_to(options, "--to-ports") })
        }
        "NETMAP" => nat("netmap"),
        "TPROXY" => nat("tproxy"),
        // Untracked packets are not NEW: the state matches after it change.
        "CT" if options.iter().any(|option| option.flag == "--notrack") => {
            Action::Unknown("-j CT --notrack".to_string())
        }
        _ if NO_VERDICT.contains(&name) => Action::Continue,
        _ if looks_like_target(name) => Action::Unknown(format!("-j {}", short(name))),
        _ => Action::Jump(name.to_string()),
    }
}

/// Where DNAT (`--to-destination 10.0.0.5:8080`, `[fd00::5]:80`,
/// `10.0.0.5`) or REDIRECT (`--to-ports 8080-8090`) sends a connection;
/// unread for an address range or several destinations.
fn nat_to(options: &[&Item], flag: &str) -> NatTo {
    let given: Vec<&str> = options
        .iter()
        .filter(|option| option.flag == flag)
        .map(|option| option.first_arg())
        .collect();
    let [text] = given[..] else { return NatTo::Unread };
    let target = match flag {
        "--to-ports" => nat_ports(text).map(|ports| NatTarget { addr: None, ports: Some(ports) }),
        _ => destination(text),
    };
    target.map_or(NatTo::Unread, NatTo::One)
}

/// `ADDR`, `ADDR:PORT[-PORT]`, `[ADDR6]:PORT[-PORT]` or a bare IPv6 address.
fn destination(text: &str) -> Option<NatTarget> {
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Some(NatTarget { addr: Some(addr), ports: None });
    }
    let (addr, ports) = match text.strip_prefix('[') {
        Some(rest) => {
            let (addr, ports) = rest.split_once("]:")?;
            (addr, ports)
        }
        None => text.split_once(':')?,
    };
    Some(NatTarget { addr: Some(addr.parse().ok()?), ports: Some(nat_ports(ports)?) })
}

/// A NAT target's ports: `8080` or `8080-8090`.
fn nat_ports(text: &str) -> Option<(u16, u16)> {
    match text.split_once('-') {
        Some((low, high)) => Some((low.parse().ok()?, high.parse().ok()?)),
        None => text.parse().ok().map(|port| (port, port)),
    }
}

/// An undeclared all-capitals name is a target extension (NFQUEUE,
/// NOTRACK, SYNPROXY...), not a chain.
fn looks_like_target(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const UFW: &str = include_str!("../../fixtures/firewall/ufw.iptables-save");

    fn ufw() -> Ruleset {
        read(UFW, true, Backend::Nftables).unwrap()
    }

    fn chain<'a>(ruleset: &'a Ruleset, table: &str, name: &str) -> &'a Chain {
        ruleset.chains.iter().find(|c| c.table == table && c.name == name).unwrap()
    }

    /// The one-rule document `-A INPUT <options>` in the filter table.
    fn one_rule(options: &str, v4: bool) -> Rule {
        let doc = format!("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {options}\nCOMMIT\n");
        let ruleset = read(&doc, v4, Backend::Nftables).unwrap();
        chain(&ruleset, "filter", "INPUT").rules[0].clone()
    }

    fn v4(text: &str) -> u128 {
        address_value(text.parse().unwrap())
    }

    fn numbers(key: Key, negated: bool, values: Intervals) -> Match {
        Match::Is { key, negated, values: Values::Numbers(values) }
    }

    fn line_of(text: &str, wanted: &str) -> usize {
        text.lines().position(|line| line == wanted).unwrap() + 1
    }

    #[test]
    fn ufw_input_is_a_dropping_base_chain_of_jumps() {
        let ruleset = ufw();
        let input = chain(&ruleset, "filter", "INPUT");
        assert_eq!(input.family, TableFamily::Ip);
        assert_eq!(input.backend, Backend::Nftables);
        assert_eq!(
            input.base,
            Some(BaseChain {
                hook: Hook::Input,
                priority: 0,
                kind: ChainKind::Filter,
                policy_accepts: false,
                devices: Vec::new(),
            })
        );
        assert_eq!(input.rules.len(), 6);
        for rule in &input.rules {
            assert!(rule.matches.is_empty());
            assert!(matches!(&rule.action, Action::Jump(to) if to.starts_with("ufw-")));
        }
        let output = chain(&ruleset, "filter", "OUTPUT").base.clone().unwrap();
        assert_eq!((output.hook, output.policy_accepts), (Hook::Output, true));
        assert!(chain(&ruleset, "filter", "ufw-user-input").base.is_none());
        // Every declared chain, in file order.
        assert_eq!(ruleset.chains.len(), 35);
        assert_eq!(ruleset.chains[0].name, "INPUT");
        assert!(ruleset.has_input_path());
    }

    #[test]
    fn ufw_user_rule_with_source_and_port() {
        let ruleset = ufw();
        let text = "-A ufw-user-input -s 192.0.2.0/24 -p tcp -m tcp --dport 22 -j ACCEPT";
        let rule = &chain(&ruleset, "filter", "ufw-user-input").rules[0];
        assert_eq!(
            rule.origin,
            RuleOrigin { handle: None, line: Some(line_of(UFW, text)), text: text.to_string() }
        );
        assert_eq!(rule.origin.line, Some(100));
        assert_eq!(
            rule.matches,
            vec![
                numbers(
                    Key::SourceAddress { v4: true },
                    false,
                    prefix("192.0.2.0".parse().unwrap(), 24).unwrap()
                ),
                numbers(Key::Protocol, false, Intervals::point(6)),
                numbers(Key::DestinationPort { protocol: Some(6) }, false, Intervals::point(22)),
            ]
        );
        assert_eq!(rule.action, Action::Accept);
    }

    #[test]
    fn ufw_recent_set_and_update() {
        let ruleset = ufw();
        let rules = &chain(&ruleset, "filter", "ufw-user-input").rules;
        let set = &rules[2];
        assert!(set.origin.text.contains("--set"));
        assert!(!set.matches.iter().any(|m| matches!(m, Match::RateLimit { .. })));
        assert!(!set.matches.iter().any(|m| matches!(m, Match::Unknown { .. })));
        assert_eq!(set.action, Action::Continue);
        let update = &rules[3];
        assert!(update.origin.text.contains("--update"));
        assert!(update.matches.iter().any(
            |m| matches!(m, Match::RateLimit { what } if what.starts_with("-m recent --update"))
        ));
        assert_eq!(update.action, Action::Jump("ufw-user-limit".to_string()));
        let ct_new = numbers(Key::CtState, false, Intervals::point(CtState::NEW));
        assert!(update.matches.contains(&ct_new));
    }

    #[test]
    fn ufw_addrtype_log_reject_conntrack_interface() {
        let ruleset = ufw();
        let not_local = &chain(&ruleset, "filter", "ufw-not-local").rules;
        assert_eq!(
            not_local[0].matches,
            vec![numbers(Key::DestinationType, false, Intervals::point(AddressType::LOCAL))]
        );
        assert_eq!(not_local[0].action, Action::Return);
        assert!(
            matches!(&not_local[3].matches[0], Match::RateLimit { what } if what == "-m limit --limit 3/min --limit-burst 10")
        );

        let limit = &chain(&ruleset, "filter", "ufw-user-limit").rules;
        assert_eq!(limit[0].action, Action::Continue);
        assert!(matches!(&limit[0].matches[0], Match::RateLimit { .. }));
        assert!(limit[0].origin.text.ends_with("--log-prefix \"[UFW LIMIT BLOCK] \""));
        assert_eq!(limit[1].action, Action::Reject);
        assert!(limit[1].matches.is_empty());

        let before = &chain(&ruleset, "filter", "ufw-before-input").rules;
        assert_eq!(
            before[0].matches,
            vec![Match::Is {
                key: Key::InInterface,
                negated: false,
                values: Values::Names(vec!["lo".to_string()])
            }]
        );
        let related_established = CtState::RELATED | CtState::ESTABLISHED;
        assert_eq!(
            before[1].matches,
            vec![numbers(Key::CtState, false, Intervals::point(related_established))]
        );
        // `-p icmp -m icmp --icmp-type 3`: ICMP only.
        assert!(
            before[4]
                .matches
                .iter()
                .all(|m| *m == numbers(Key::Protocol, false, Intervals::point(1)))
        );
        // `-d 224.0.0.251/32 -p udp -m udp --dport 5353`
        assert_eq!(
            before[10].matches[0],
            numbers(
                Key::DestinationAddress { v4: true },
                false,
                Intervals::point(v4("224.0.0.251"))
            )
        );
        assert_eq!(
            before[10].matches[2],
            numbers(Key::DestinationPort { protocol: Some(17) }, false, Intervals::point(5353))
        );
        // Nothing in the ufw ruleset is beyond the model.
        for chain in &ruleset.chains {
            for rule in &chain.rules {
                assert!(
                    !rule.matches.iter().any(|m| matches!(m, Match::Unknown { .. })),
                    "{rule:?}"
                );
                assert!(!matches!(rule.action, Action::Unknown(_)), "{rule:?}");
            }
        }
    }

    #[test]
    fn multiport_negation_and_masks() {
        let rule = one_rule("-p tcp -m multiport --dports 22,80,8000:8010 -j ACCEPT", true);
        let ports = Intervals::from_ranges(vec![(22, 22), (80, 80), (8000, 8010)]);
        assert_eq!(
            rule.matches[1],
            numbers(Key::DestinationPort { protocol: Some(6) }, false, ports)
        );

        let rule = one_rule("! -s 10.0.0.0/8 -j DROP", true);
        let ten = Intervals::range(v4("10.0.0.0"), v4("10.255.255.255"));
        assert_eq!(rule.matches, vec![numbers(Key::SourceAddress { v4: true }, true, ten.clone())]);
        assert_eq!(rule.action, Action::Drop);

        let rule = one_rule("-s 10.0.0.0/255.0.0.0 -j DROP", true);
        assert_eq!(
            rule.matches,
            vec![numbers(Key::SourceAddress { v4: true }, false, ten.clone())]
        );
        // Old style negation, and a mask with holes.
        assert_eq!(
            one_rule("-s ! 10.0.0.0/8", true).matches[0],
            numbers(Key::SourceAddress { v4: true }, true, ten)
        );
        assert!(matches!(
            &one_rule("-s 10.0.0.0/255.0.255.0", true).matches[0],
            Match::Unknown { .. }
        ));

        let rule = one_rule("-d 224.0.0.251/32 -j ACCEPT", true);
        assert_eq!(
            rule.matches,
            vec![numbers(
                Key::DestinationAddress { v4: true },
                false,
                Intervals::point(v4("224.0.0.251"))
            )]
        );

        let rule = one_rule("-p udp ! --dport 53 -s 1.2.3.4,5.6.7.0/24", true);
        assert_eq!(
            rule.matches[1],
            numbers(Key::DestinationPort { protocol: Some(17) }, true, Intervals::point(53))
        );
        let both = Intervals::from_ranges(vec![
            (v4("1.2.3.4"), v4("1.2.3.4")),
            (v4("5.6.7.0"), v4("5.6.7.255")),
        ]);
        assert_eq!(rule.matches[2], numbers(Key::SourceAddress { v4: true }, false, both));
    }

    #[test]
    fn ip6tables_document() {
        let doc = "# Generated by ip6tables-save v1.8.9 (nf_tables)\n*filter\n:INPUT DROP [0:0]\n\
                   -A INPUT -s 2001:db8::/32 -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\nCOMMIT\n";
        let ruleset = read(doc, false, Backend::Nftables).unwrap();
        let input = chain(&ruleset, "filter", "INPUT");
        assert_eq!(input.family, TableFamily::Ip6);
        let net: IpAddr = "2001:db8::".parse().unwrap();
        assert_eq!(
            input.rules[0].matches,
            vec![
                numbers(Key::SourceAddress { v4: false }, false, prefix(net, 32).unwrap()),
                numbers(Key::Protocol, false, Intervals::point(58)),
                numbers(Key::Protocol, false, Intervals::point(58)),
            ]
        );
        // A v4 address in an ip6tables document is not understood.
        assert!(matches!(&one_rule("-s 10.0.0.1", false).matches[0], Match::Unknown { .. }));
    }

    #[test]
    fn legacy_document() {
        let doc = "# Generated by iptables-save v1.8.9 on Sat Nov 21 23:58:29 2026\n*filter\n\
                   :INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 9 -j DROP\nCOMMIT\n\
                   # Completed on Sat Nov 21 23:58:29 2026\n";
        let ruleset = read(doc, true, Backend::IptablesLegacy).unwrap();
        let input = chain(&ruleset, "filter", "INPUT");
        assert_eq!(input.backend, Backend::IptablesLegacy);
        assert!(input.base.as_ref().unwrap().policy_accepts);
        assert_eq!(input.rules[0].origin.line, Some(4));
        assert_eq!(input.rules[0].action, Action::Drop);
        assert_eq!(
            input.rules[0].matches[1],
            numbers(Key::DestinationPort { protocol: Some(6) }, false, Intervals::point(9))
        );
    }

    #[test]
    fn nat_prerouting_dnat() {
        let doc = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                   :POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n\
                   -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n\
                   -A DOCKER -p tcp -m tcp --dport 2222 -j DNAT --to-destination 10.0.0.5:22\n\
                   -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n";
        let ruleset = read(doc, true, Backend::Nftables).unwrap();
        let pre = chain(&ruleset, "nat", "PREROUTING");
        let base = pre.base.clone().unwrap();
        assert_eq!((base.hook, base.priority, base.kind), (Hook::Prerouting, -100, ChainKind::Nat));
        assert_eq!(pre.rules[0].action, Action::Jump("DOCKER".to_string()));
        let input = chain(&ruleset, "nat", "INPUT").base.clone().unwrap();
        assert_eq!((input.hook, input.priority, input.kind), (Hook::Input, 100, ChainKind::Nat));
        assert_eq!(
            chain(&ruleset, "nat", "DOCKER").rules[0].action,
            Action::Nat(Nat {
                kind: "dnat".into(),
                to: NatTo::One(NatTarget {
                    addr: Some("10.0.0.5".parse().unwrap()),
                    ports: Some((22, 22))
                })
            })
        );
        let post = &chain(&ruleset, "nat", "POSTROUTING").rules[0];
        assert_eq!(post.action, Action::Nat(Nat::named("masquerade")));
        assert_eq!(
            post.matches[1],
            Match::Is {
                key: Key::OutInterface,
                negated: true,
                values: Values::Names(vec!["docker0".to_string()])
            }
        );
    }

    #[test]
    fn tables_priorities() {
        let doc = "*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n\
                   :INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*security\n:INPUT ACCEPT [0:0]\nCOMMIT\n";
        let ruleset = read(doc, true, Backend::Nftables).unwrap();
        let place = |table: &str, name: &str| {
            let base = chain(&ruleset, table, name).base.clone().unwrap();
            (base.hook, base.priority, base.kind)
        };
        assert_eq!(place("raw", "PREROUTING"), (Hook::Prerouting, -300, ChainKind::Filter));
        assert_eq!(place("mangle", "PREROUTING"), (Hook::Prerouting, -150, ChainKind::Filter));
        assert_eq!(place("mangle", "INPUT"), (Hook::Input, -150, ChainKind::Filter));
        assert_eq!(place("mangle", "OUTPUT"), (Hook::Output, -150, ChainKind::Route));
        assert_eq!(place("security", "INPUT"), (Hook::Input, 50, ChainKind::Filter));
    }

    #[test]
    fn unknown_module_keeps_other_matches() {
        let rule = one_rule(
            "-p tcp -m iprange --src-range 1.2.3.4-1.2.3.9 -m tcp --dport 22 -j ACCEPT",
            true,
        );
        assert_eq!(
            rule.matches,
            vec![
                numbers(Key::Protocol, false, Intervals::point(6)),
                Match::Unknown { construct: "-m iprange".to_string() },
                numbers(Key::DestinationPort { protocol: Some(6) }, false, Intervals::point(22)),
            ]
        );
        assert_eq!(rule.action, Action::Accept);
        for (options, construct) in [
            ("-m owner --uid-owner 0", "-m owner"),
            ("-m set --match-set blocklist src", "-m set"),
            ("-m conntrack --ctorigdst 10.0.0.1", "conntrack --ctorigdst"),
            ("-m addrtype --src-type LOCAL", "addrtype --src-type"),
            ("-p tcp -m multiport --ports 22,80", "multiport --ports"),
            ("-m conntrack --ctstate DNAT", "conntrack --ctstate DNAT"),
            ("-p tcp -m tcp --dport nosuchservice", "tcp --dport nosuchservice"),
            ("-f", "-f"),
        ] {
            let rule = one_rule(options, true);
            let found = rule
                .matches
                .iter()
                .any(|m| *m == Match::Unknown { construct: construct.to_string() });
            assert!(found, "{options}: {:?}", rule.matches);
        }
    }

    #[test]
    fn state_status_and_rate_limits() {
        let rule = one_rule(
            "-m state --state NEW,UNTRACKED -m conntrack ! --ctstatus DNAT,SEEN_REPLY",
            true,
        );
        assert_eq!(
            rule.matches,
            vec![
                numbers(Key::CtState, false, Intervals::point(CtState::NEW | CtState::UNTRACKED)),
                numbers(Key::CtStatus, true, Intervals::point(CtStatus::DNAT | 2)),
            ]
        );
        for (options, what) in [
            (
                "-m hashlimit --hashlimit-above 5/sec --hashlimit-name x",
                "-m hashlimit --hashlimit-above 5/sec --hashlimit-name x",
            ),
            ("-p tcp -m connlimit --connlimit-above 10", "-m connlimit --connlimit-above 10"),
            ("-m recent --rcheck --name x", "-m recent --rcheck --name x"),
        ] {
            let rule = one_rule(options, true);
            assert!(
                rule.matches.contains(&Match::RateLimit { what: what.to_string() }),
                "{:?}",
                rule.matches
            );
        }
        let rule = one_rule("-m addrtype ! --dst-type LOCAL,BROADCAST --limit-iface-in", true);
        let types = Intervals::point(AddressType::LOCAL | AddressType::BROADCAST);
        assert_eq!(rule.matches, vec![numbers(Key::DestinationType, true, types)]);
        // Options with no module: iptables loads the protocol's own.
        let rule = one_rule("-p udp --dport 53", true);
        assert_eq!(
            rule.matches[1],
            numbers(Key::DestinationPort { protocol: Some(17) }, false, Intervals::point(53))
        );
        let rule = one_rule("-p tcp -m tcp --dport ssh:https ! --sport :1023", true);
        assert_eq!(
            rule.matches[1],
            numbers(Key::DestinationPort { protocol: Some(6) }, false, Intervals::range(22, 443))
        );
        assert_eq!(
            rule.matches[2],
            numbers(Key::SourcePort { protocol: Some(6) }, true, Intervals::range(0, 1023))
        );
    }

    #[test]
    fn targets() {
        let action = |target: &str| one_rule(&format!("-j {target}"), true).action;
        assert_eq!(action("LOG --log-prefix \"a \\\"b\\\"\""), Action::Continue);
        assert_eq!(action("NFQUEUE --queue-num 1"), Action::Unknown("-j NFQUEUE".to_string()));
        assert_eq!(action("CT --notrack"), Action::Unknown("-j CT --notrack".to_string()));
        assert_eq!(action("CT --zone 1"), Action::Continue);
        assert_eq!(action("TPROXY --on-port 1"), Action::Nat(Nat::named("tproxy")));
        let to = |addr: Option<&str>, ports| {
            NatTo::One(NatTarget { addr: addr.map(|a| a.parse().unwrap()), ports: Some(ports) })
        };
        let redirect = Nat { kind: "redirect".into(), to: to(None, (8080, 8090)) };
        assert_eq!(action("REDIRECT --to-ports 8080-8090"), Action::Nat(redirect));
        let dnat = |to| Action::Nat(Nat { kind: "dnat".into(), to });
        assert_eq!(
            action("DNAT --to-destination [fd00::5]:80"),
            dnat(to(Some("fd00::5"), (80, 80)))
        );
        let bare = NatTo::One(NatTarget { addr: Some("10.0.0.5".parse().unwrap()), ports: None });
        assert_eq!(action("DNAT --to-destination 10.0.0.5"), dnat(bare));
        assert_eq!(action("DNAT --to-destination 10.0.0.5-10.0.0.9"), dnat(NatTo::Unread));
        assert_eq!(action("SOMETHINGNEW"), Action::Unknown("-j SOMETHINGNEW".to_string()));
        assert_eq!(action("my-chain"), Action::Jump("my-chain".to_string()));
        assert_eq!(one_rule("-g other", true).action, Action::Goto("other".to_string()));
        assert_eq!(one_rule("-p tcp", true).action, Action::Continue);
    }

    #[test]
    fn tcp_flags_against_a_syn() {
        let tcp = numbers(Key::Protocol, false, Intervals::point(6));
        let never = numbers(Key::Protocol, false, Intervals::empty());
        assert_eq!(one_rule("-p tcp -m tcp --syn", true).matches[1], tcp);
        assert_eq!(one_rule("-p tcp -m tcp ! --syn", true).matches[1], never);
        assert_eq!(one_rule("-p tcp -m tcp --tcp-flags SYN,ACK SYN", true).matches[1], tcp);
        assert_eq!(one_rule("-p tcp -m tcp --tcp-flags ALL NONE", true).matches[1], never);
        assert_eq!(
            one_rule("-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN", true).matches[1],
            never
        );
        // `-p all` is no constraint at all.
        assert!(one_rule("-p all -j ACCEPT", true).matches.is_empty());
    }

    #[test]
    fn quoting_and_counters() {
        let rule = one_rule("-m comment --comment \"a \\\"b\\\" -j DROP\" -j ACCEPT", true);
        assert!(rule.matches.is_empty());
        assert_eq!(rule.action, Action::Accept);
        let doc =
            "*filter\n:INPUT ACCEPT [5:100]\n[3:120] -A INPUT -c 1 2 -p udp -j DROP\nCOMMIT\n";
        let ruleset = read(doc, true, Backend::Nftables).unwrap();
        let rule = &chain(&ruleset, "filter", "INPUT").rules[0];
        assert_eq!(rule.matches, vec![numbers(Key::Protocol, false, Intervals::point(17))]);
        assert_eq!(rule.action, Action::Drop);
    }

    #[test]
    fn broken_documents() {
        let error = |doc: &str| read(doc, true, Backend::Nftables).unwrap_err().to_string();
        let message = error("# header\n-A INPUT -j ACCEPT\n*filter\nCOMMIT\n");
        assert_eq!(message, "iptables-save line 2: a rule outside any table");
        let message =
            error("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j LOG --log-prefix \"oops\nCOMMIT\n");
        assert_eq!(message, "iptables-save line 3: unbalanced quote");
        assert!(
            error("*filter\n:INPUT ACCEPT [0:0]\n")
                .contains("line 1: table filter is never committed")
        );
        assert!(error("COMMIT\n").contains("line 1: COMMIT outside any table"));
        assert!(error("*filter\n*nat\n").contains("line 2:"));
        assert!(error("*filter\n:INPUT\nCOMMIT\n").contains("line 2:"));
        assert!(error("*filter\nhello\nCOMMIT\n").contains("line 2:"));
        assert!(error("*filter\n-I INPUT -j DROP\nCOMMIT\n").contains("line 2:"));
        assert!(error("*filter\n-A\nCOMMIT\n").contains("line 2:"));
        assert!(read("", true, Backend::Nftables).unwrap().chains.is_empty());
    }

    #[test]
    fn garbage_megabyte_line_is_quick_and_harmless() {
        let words = [
            "-m",
            "!",
            "-j",
            "\\",
            "--dport",
            "x:y",
            "-s",
            "1.2.3.4/99",
            "-A",
            "-p",
            "\"q\"",
            "::",
            "--tcp-flags",
        ];
        let mut line = String::from("-A INPUT");
        let mut index = 0usize;
        while line.len() < 1 << 20 {
            line.push(' ');
            line.push_str(words[index % words.len()]);
            index = index.wrapping_mul(31).wrapping_add(7) % 1000;
        }
        let doc = format!("*filter\n:INPUT ACCEPT [0:0]\n{line}\nCOMMIT\n");
        let start = std::time::Instant::now();
        let _ = read(&doc, true, Backend::Nftables);
        let _ =
            read(&format!("*filter\n{}\nCOMMIT\n", "x".repeat(1 << 20)), true, Backend::Nftables);
        let _ = read(&"\"".repeat(1 << 20), true, Backend::Nftables);
        assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
    }

    proptest::proptest! {
        /// Any document of save-format words, well formed or not, reads
        /// to a ruleset or an error, never a panic.
        #[test]
        fn never_panics(words in proptest::collection::vec(proptest::sample::select(vec![
            "*filter", "*nat", "COMMIT", ":INPUT DROP [0:0]", ":x - [0:0]", "\n", "-A", "INPUT", "x",
            "!", "-s", "-d", "10.0.0.0/8", "::1/200", "1.2.3.4/255.0.255.0", "-p", "tcp", "udp", "all",
            "-m", "tcp", "multiport", "conntrack", "recent", "--dport", "--dports", "1:", ":2", "9:1",
            "--ctstate", "NEW,BOGUS", "--tcp-flags", "ALL", "--syn", "-j", "-g", "DROP", "CT",
            "--notrack", "\"", "\\", "[1:2]", "-c", "#", "é",
        ]), 0..60)) {
            let text = words.join(" ");
            let _ = read(&text, true, Backend::Nftables);
            // Mostly inside a rule, where most of the reading is.
            let rule = format!("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {text}\nCOMMIT\n");
            let _ = read(&rule, false, Backend::IptablesLegacy);
        }
    }

    #[test]
    fn five_thousand_rules_are_quick() {
        let mut doc = String::from("*filter\n:INPUT DROP [0:0]\n:user - [0:0]\n");
        for n in 0..5000 {
            doc.push_str(&format!(
                "-A user -s 10.{}.{}.0/24 -p tcp -m tcp --dport {} -m conntrack --ctstate NEW -m comment --comment \"rule {n}\" -j ACCEPT\n",
                n / 256,
                n % 256,
                1000 + n
            ));
        }
        doc.push_str("COMMIT\n");
        let start = std::time::Instant::now();
        let ruleset = read(&doc, true, Backend::Nftables).unwrap();
        assert!(start.elapsed().as_secs_f64() < 0.5, "{:?}", start.elapsed());
        assert_eq!(chain(&ruleset, "filter", "user").rules.len(), 5000);
    }
}
