//! `nft -j list ruleset` into the rule model.
//!
//! The reader walks `serde_json::Value`s object by object rather than
//! deserializing into typed structs: nft's JSON has many shapes (verdict
//! maps, concatenations, xt stubs from iptables-nft) and one shape we do not
//! know must cost only that rule's certainty, never the whole read. Whatever
//! is not understood becomes [`Match::Unknown`] or [`Action::Unknown`].

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::anyhow;
use serde_json::{Map, Value};

use super::ruleset::{
    Action, AddressType, Backend, BaseChain, Chain, ChainKind, CtState, CtStatus, Hook, Key, Match,
    Rule, RuleOrigin, Ruleset, SetContents, TableFamily, Values, VerdictMapRef,
};
use super::space::{self, Intervals};

mod nat;

/// Expressions nested deeper than this are not looked into.
const MAX_EXPRESSION_DEPTH: usize = 16;

/// JSON nested deeper than this is cut before parsing: serde_json refuses
/// documents deeper than 128 levels, and a refused document would lose every
/// rule, not just the absurd one.
const MAX_JSON_DEPTH: usize = 100;

const TOO_DEEP: &str = "expression nested too deep";

/// Reads `nft -j list ruleset` output. Fails only when the text is not JSON
/// or has no top-level `nftables` array.
pub fn read(json: &str) -> anyhow::Result<Ruleset> {
    let text = cut_deep_nesting(json);
    let document: Value =
        serde_json::from_str(&text).map_err(|error| anyhow!("nft's JSON: not JSON ({error})"))?;
    let objects = document
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("nft's JSON: no \"nftables\" array"))?;
    let mut reader = Reader::default();
    for object in objects {
        reader.object(object);
    }
    Ok(reader.ruleset)
}

/// What the kernel's bytes of a named set's elements are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElementKind {
    Address {
        v4: bool,
    },
    Port,
    Protocol,
    /// Interface names, NUL-padded to 16 bytes.
    Names,
}

/// A named set or map as a terse listing (`nft -j -t list ruleset`, which
/// leaves out named sets' elements) declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetDeclaration {
    pub family: String,
    pub table: String,
    pub name: String,
    /// `None` for a map, or for a key the kernel's bytes cannot be read as.
    pub element: Option<ElementKind>,
    pub interval: bool,
    /// Filled by the datapath (`dynamic`): its elements are not rules.
    pub dynamic: bool,
}

/// Every named set and map a listing declares (unreadable objects skipped).
pub fn set_declarations(json: &str) -> Vec<SetDeclaration> {
    let document: Value = match serde_json::from_str(&cut_deep_nesting(json)) {
        Ok(document) => document,
        Err(_) => return Vec::new(),
    };
    let objects = document.get("nftables").and_then(Value::as_array).into_iter().flatten();
    objects
        .filter_map(|object| {
            let (is_map, body) = match (object.get("set"), object.get("map")) {
                (Some(body), _) => (false, body.as_object()?),
                (None, Some(body)) => (true, body.as_object()?),
                _ => return None,
            };
            let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
            let flags = words(body.get("flags"));
            let element = match set_key_kind(body) {
                Ok(Kind::Address { v4 }) => Some(ElementKind::Address { v4 }),
                Ok(Kind::Port) => Some(ElementKind::Port),
                Ok(Kind::Protocol) => Some(ElementKind::Protocol),
                Ok(Kind::Names) => Some(ElementKind::Names),
                _ => None,
            };
            Some(SetDeclaration {
                family: text("family")?,
                table: text("table")?,
                name: text("name")?,
                element: if is_map || body.contains_key("map") { None } else { element },
                interval: flags.contains(&"interval"),
                dynamic: flags.contains(&"dynamic"),
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Depth cut

/// Replaces every array or object opened deeper than [`MAX_JSON_DEPTH`] by
/// `{"too deep":null}`, in one linear pass over the text. Text that is not
/// JSON stays not JSON (the parser then says so).
fn cut_deep_nesting(json: &str) -> std::borrow::Cow<'_, str> {
    if max_depth(json.as_bytes()) <= MAX_JSON_DEPTH {
        return std::borrow::Cow::Borrowed(json);
    }
    let bytes = json.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut scan = Scanner::default();
    let mut skip_until: Option<usize> = None;
    for &byte in bytes {
        let depth_before = scan.depth;
        let opens = scan.step(byte);
        match skip_until {
            Some(level) => {
                if scan.depth < level {
                    skip_until = None;
                }
            }
            None if opens && depth_before >= MAX_JSON_DEPTH => {
                out.extend_from_slice(br#"{"too deep":null}"#);
                skip_until = Some(scan.depth);
            }
            None => out.push(byte),
        }
    }
    // Only whole ASCII structural bytes were replaced, so the text stays UTF-8.
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn max_depth(bytes: &[u8]) -> usize {
    let mut scan = Scanner::default();
    let mut deepest = 0;
    for &byte in bytes {
        scan.step(byte);
        deepest = deepest.max(scan.depth);
    }
    deepest
}

/// Tracks bracket depth outside JSON strings.
#[derive(Default)]
struct Scanner {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Scanner {
    /// Advances over one byte; true when it opens an array or object.
    fn step(&mut self, byte: u8) -> bool {
        if self.in_string {
            match (self.escaped, byte) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
            return false;
        }
        match byte {
            b'"' => self.in_string = true,
            b'[' | b'{' => {
                self.depth += 1;
                return true;
            }
            b']' | b'}' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        false
    }
}

// ---------------------------------------------------------------------------
// Top-level objects

#[derive(Default)]
struct Reader {
    ruleset: Ruleset,
    /// (family, table, chain) → index in `ruleset.chains`.
    chain_index: HashMap<(TableFamily, String, String), usize>,
}

impl Reader {
    fn object(&mut self, object: &Value) {
        let Some((kind, body)) = single_entry(object) else { return };
        let Some(body) = body.as_object() else { return };
        match kind {
            "chain" => self.chain(body),
            "rule" => self.rule(body),
            "set" | "map" => self.set(body),
            // Tables are implied by their chains; metainfo, flowtables,
            // named counters and the like decide nothing.
            _ => {}
        }
    }

    fn chain(&mut self, body: &Map<String, Value>) {
        let family = TableFamily::parse(str_field(body, "family"));
        let table = str_field(body, "table").to_string();
        let name = str_field(body, "name").to_string();
        let key = (family, table.clone(), name.clone());
        if self.chain_index.contains_key(&key) {
            return;
        }
        let base = body.get("hook").and_then(Value::as_str).map(|hook| base_chain(hook, body));
        let chain =
            Chain { backend: Backend::Nftables, family, table, name, base, rules: Vec::new() };
        self.chain_index.insert(key, self.ruleset.chains.len());
        self.ruleset.chains.push(chain);
    }

    fn rule(&mut self, body: &Map<String, Value>) {
        let family = TableFamily::parse(str_field(body, "family"));
        let table = str_field(body, "table").to_string();
        let name = str_field(body, "chain").to_string();
        let rule = read_rule(body);
        let key = (family, table.clone(), name.clone());
        let index = match self.chain_index.get(&key) {
            Some(&index) => index,
            None => {
                // A rule whose chain was not listed: keep it in a regular chain.
                let chain = Chain {
                    backend: Backend::Nftables,
                    family,
                    table,
                    name,
                    base: None,
                    rules: Vec::new(),
                };
                self.ruleset.chains.push(chain);
                self.chain_index.insert(key, self.ruleset.chains.len() - 1);
                self.ruleset.chains.len() - 1
            }
        };
        if let Some(chain) = self.ruleset.chains.get_mut(index) {
            chain.rules.push(rule);
        }
    }

    fn set(&mut self, body: &Map<String, Value>) {
        let family = TableFamily::parse(str_field(body, "family"));
        let table = str_field(body, "table").to_string();
        let name = str_field(body, "name").to_string();
        let contents = set_contents(body);
        self.ruleset.sets.insert((Backend::Nftables, family, table, name), contents);
    }
}

fn base_chain(hook: &str, body: &Map<String, Value>) -> BaseChain {
    let kind = match str_field(body, "type") {
        "nat" => ChainKind::Nat,
        "route" => ChainKind::Route,
        _ => ChainKind::Filter,
    };
    BaseChain {
        hook: Hook::parse(hook),
        priority: body.get("prio").map(priority).unwrap_or(0),
        kind,
        policy_accepts: str_field(body, "policy") != "drop",
        devices: devices(body),
    }
}

/// nft -j prints the priority as a number; older or hand-written JSON may
/// carry the standard names.
fn priority(value: &Value) -> i32 {
    if let Some(number) = value.as_i64() {
        return number.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    }
    match value.as_str().unwrap_or("") {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" => -100,
        "security" => 50,
        "srcnat" => 100,
        _ => 0,
    }
}

fn devices(body: &Map<String, Value>) -> Vec<String> {
    let value = body.get("dev").or_else(|| body.get("devices"));
    match value {
        Some(Value::String(device)) => vec![device.clone()],
        Some(Value::Array(list)) => {
            list.iter().filter_map(Value::as_str).map(String::from).collect()
        }
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Rules

fn read_rule(body: &Map<String, Value>) -> Rule {
    let statements: &[Value] = match body.get("expr") {
        Some(Value::Array(list)) => list,
        _ => &[],
    };
    let mut matches = Vec::new();
    let mut action = None;
    let mut text: Vec<String> = Vec::new();
    for statement in statements {
        text.push(render_statement(statement));
        if action.is_some() {
            // The first verdict ends the rule for the packet.
            continue;
        }
        match read_statement(statement) {
            Statement::Match(found) => matches.push(found),
            Statement::Verdict(found) => action = Some(found),
            Statement::NoEffect => {}
        }
    }
    let mut text = text.join(" ");
    if let Some(comment) = body.get("comment").and_then(Value::as_str) {
        text.push_str(&format!(" comment {comment:?}"));
    }
    let origin =
        RuleOrigin { handle: body.get("handle").and_then(Value::as_u64), line: None, text };
    Rule { matches, action: action.unwrap_or(Action::Continue), origin }
}

enum Statement {
    Match(Match),
    Verdict(Action),
    NoEffect,
}

fn unknown(construct: impl Into<String>) -> Statement {
    Statement::Match(Match::Unknown { construct: construct.into() })
}

fn read_statement(statement: &Value) -> Statement {
    let Some((kind, body)) = single_entry(statement) else {
        return unknown("statement that is not an object");
    };
    if let Some(action) = verdict(kind, body) {
        return Statement::Verdict(action);
    }
    match kind {
        "match" => Statement::Match(read_match(body)),
        "limit" | "meter" | "quota" | "ct count" => {
            Statement::Match(Match::RateLimit { what: rate_limit_text(kind, body) })
        }
        "set" | "map" => set_update(body),
        "dnat" | "snat" | "masquerade" | "redirect" | "tproxy" => {
            Statement::Verdict(Action::Nat(nat::statement(kind, body)))
        }
        "xt" => xt(body),
        "vmap" => Statement::Verdict(verdict_map(body)),
        // notrack makes the connection untracked: ct state matches change.
        "notrack" => unknown("notrack"),
        // The packet leaves by another path or is answered by the kernel.
        "synproxy" | "fwd" => Statement::Verdict(Action::Unknown(kind.into())),
        "counter" | "log" | "comment" | "mangle" | "ct helper" | "ct timeout"
        | "ct expectation" | "flow" | "dup" | "secmark" | "last" | "reset" => Statement::NoEffect,
        other => unknown(other),
    }
}

/// A verdict statement, or `None` when `kind` is no verdict.
fn verdict(kind: &str, body: &Value) -> Option<Action> {
    let target = || body.get("target").and_then(Value::as_str).unwrap_or("").to_string();
    Some(match kind {
        "accept" => Action::Accept,
        "drop" => Action::Drop,
        "reject" => Action::Reject,
        "jump" => Action::Jump(target()),
        "goto" => Action::Goto(target()),
        "return" => Action::Return,
        "continue" => Action::Continue,
        "queue" => Action::Unknown("queue".to_string()),
        _ => return None,
    })
}

/// `set add/update @x { key limit ... }`: a per-key rate limit; without a
/// nested statement the update only fills the set.
fn set_update(body: &Value) -> Statement {
    let limits = body
        .get("stmt")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(single_entry)
        .find(|(kind, _)| matches!(*kind, "limit" | "quota" | "ct count"));
    match limits {
        Some((kind, nested)) => {
            Statement::Match(Match::RateLimit { what: rate_limit_text(kind, nested) })
        }
        None => Statement::NoEffect,
    }
}

fn xt(body: &Value) -> Statement {
    let name = body.get("name").and_then(Value::as_str).unwrap_or("?");
    match body.get("type").and_then(Value::as_str) {
        Some("target") => Statement::Verdict(Action::Unknown(format!("xt {name}"))),
        _ => unknown(format!("xt {name}")),
    }
}

fn verdict_map(body: &Value) -> Action {
    let Some(left) = body.get("key") else { return Action::Unknown("verdict map".into()) };
    let (key, kind) = match read_left(left) {
        Left::Key(key, kind) => (key, kind),
        _ => return Action::Unknown(format!("verdict map on {}", describe(left))),
    };
    let data = body.get("data");
    if let Some(name) = data.and_then(Value::as_str).and_then(|s| s.strip_prefix('@')) {
        return Action::VerdictMap { key, map: VerdictMapRef::Named(name.to_string()) };
    }
    let elements = data.and_then(|data| data.get("set")).and_then(Value::as_array);
    match elements.map(|list| verdict_elements(list, kind)) {
        Some(Ok(literal)) => Action::VerdictMap { key, map: VerdictMapRef::Literal(literal) },
        Some(Err(why)) => Action::Unknown(format!("verdict map: {why}")),
        None => Action::Unknown("verdict map".into()),
    }
}

/// `[key, verdict]` pairs of a verdict map.
fn verdict_elements(list: &[Value], kind: Kind) -> Result<Vec<(Values, Action)>, String> {
    let mut out = Vec::with_capacity(list.len());
    for element in list {
        let pair = element.as_array().filter(|pair| pair.len() == 2).ok_or("malformed element")?;
        let action = single_entry(&pair[1])
            .and_then(|(verdict_kind, body)| verdict(verdict_kind, body))
            .ok_or("unknown verdict")?;
        out.push((values(&pair[0], kind)?, action));
    }
    Ok(out)
}

fn rate_limit_text(kind: &str, body: &Value) -> String {
    match kind {
        "limit" => limit_text(body),
        "meter" => {
            let nested = body.get("stmt").and_then(single_entry);
            let inner = nested.map(|(kind, body)| rate_limit_text(kind, body));
            let name = scalar_text(body.get("name"));
            format!("meter {name} {}", inner.unwrap_or_default()).trim_end().to_string()
        }
        "ct count" => format!("ct count {}", scalar_text(body.get("val"))),
        _ => kind.to_string(),
    }
}

fn limit_text(body: &Value) -> String {
    if let Some(name) = body.as_str() {
        return format!("limit {name}");
    }
    let over = if body.get("inv").and_then(Value::as_bool) == Some(true) { "over " } else { "" };
    let rate = scalar_text(body.get("rate"));
    let per = body.get("per").and_then(Value::as_str).unwrap_or("second");
    let unit =
        body.get("rate_unit").and_then(Value::as_str).map(|u| format!(" {u}")).unwrap_or_default();
    format!("limit rate {over}{rate}{unit}/{per}")
}

// ---------------------------------------------------------------------------
// Matches

/// What a match's left side is, for reading its right side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Address {
        v4: bool,
    },
    Port,
    Protocol,
    Names,
    NfProto,
    /// `meta protocol`: the ethertype; only ip and ip6 are modelled.
    Ethertype,
    CtState,
    CtStatus,
    AddressType,
}

enum Left {
    Key(Key, Kind),
    /// `tcp flags & mask`; `None` mask is all flags.
    TcpFlags(Option<u128>),
    /// An icmp/icmpv6 header match: it implies that protocol.
    Implies(u128),
    RateLimit(String),
    Unknown(String),
}

fn read_match(body: &Value) -> Match {
    let (Some(left), Some(right)) = (body.get("left"), body.get("right")) else {
        return Match::Unknown { construct: "match without sides".into() };
    };
    let op = body.get("op").and_then(Value::as_str).unwrap_or("==");
    match read_left(left) {
        Left::Key(key, kind) => key_match(key, kind, op, right),
        Left::TcpFlags(mask) => tcp_flags_match(mask, op, right),
        Left::Implies(protocol) => protocol_is(Intervals::point(protocol)),
        Left::RateLimit(what) => Match::RateLimit { what },
        Left::Unknown(construct) => Match::Unknown { construct },
    }
}

fn protocol_is(values: Intervals) -> Match {
    Match::Is { key: Key::Protocol, negated: false, values: Values::Numbers(values) }
}

fn key_match(key: Key, kind: Kind, op: &str, right: &Value) -> Match {
    let values = match op {
        "==" | "in" | "!=" => values(right, kind),
        "<" | "<=" | ">" | ">=" => comparison(op, right, kind),
        _ => Err(format!("operator {op}")),
    };
    match values {
        Ok(values) => Match::Is { key, negated: op == "!=", values },
        Err(why) => {
            let what = if kind == Kind::Ethertype { "meta protocol" } else { key_name(key) };
            Match::Unknown { construct: format!("{what} {why}") }
        }
    }
}

/// `tcp dport < 1024` and the like, as a range.
fn comparison(op: &str, right: &Value, kind: Kind) -> Result<Values, String> {
    if !matches!(kind, Kind::Port | Kind::Protocol) {
        return Err(format!("operator {op}"));
    }
    let top = if kind == Kind::Port { 65535 } else { 255 };
    let value = number(right, kind)?;
    let range = match op {
        "<" if value == 0 => Intervals::empty(),
        "<" => Intervals::range(0, value - 1),
        "<=" => Intervals::range(0, value),
        ">" => Intervals::range(value.saturating_add(1), top),
        _ => Intervals::range(value, top),
    };
    Ok(Values::Numbers(range))
}

fn read_left(left: &Value) -> Left {
    let Some((kind, body)) = single_entry(left) else {
        return Left::Unknown(describe(left));
    };
    match kind {
        "payload" => payload(body),
        "meta" => meta(body),
        "ct" => ct(body),
        "fib" => fib(body),
        "&" => bitmask(body),
        _ => Left::Unknown(describe(left)),
    }
}

fn payload(body: &Value) -> Left {
    let protocol = body.get("protocol").and_then(Value::as_str);
    let field = body.get("field").and_then(Value::as_str).unwrap_or("");
    let Some(protocol) = protocol else { return Left::Unknown("raw payload".into()) };
    let l4 = match protocol {
        "tcp" => Some(Some(6)),
        "udp" => Some(Some(17)),
        "sctp" => Some(Some(132)),
        "dccp" => Some(Some(33)),
        "udplite" => Some(Some(136)),
        "th" => Some(None),
        _ => None,
    };
    match (protocol, field, l4) {
        ("ip" | "ip6", "saddr", _) => {
            Left::Key(Key::SourceAddress { v4: protocol == "ip" }, address(protocol))
        }
        ("ip" | "ip6", "daddr", _) => {
            Left::Key(Key::DestinationAddress { v4: protocol == "ip" }, address(protocol))
        }
        ("ip", "protocol", _) | ("ip6", "nexthdr", _) => Left::Key(Key::Protocol, Kind::Protocol),
        (_, "dport", Some(protocol)) => Left::Key(Key::DestinationPort { protocol }, Kind::Port),
        (_, "sport", Some(protocol)) => Left::Key(Key::SourcePort { protocol }, Kind::Port),
        ("tcp", "flags", _) => Left::TcpFlags(None),
        ("icmp", _, _) => Left::Implies(1),
        ("icmpv6", _, _) => Left::Implies(58),
        _ => Left::Unknown(format!("{protocol} {field}")),
    }
}

fn address(protocol: &str) -> Kind {
    Kind::Address { v4: protocol == "ip" }
}

fn meta(body: &Value) -> Left {
    let key = body.get("key").and_then(Value::as_str).unwrap_or("");
    match key {
        "l4proto" => Left::Key(Key::Protocol, Kind::Protocol),
        "protocol" => Left::Key(Key::NfProto, Kind::Ethertype),
        "iif" | "iifname" => Left::Key(Key::InInterface, Kind::Names),
        "oif" | "oifname" => Left::Key(Key::OutInterface, Kind::Names),
        "nfproto" => Left::Key(Key::NfProto, Kind::NfProto),
        _ => Left::Unknown(format!("meta {key}")),
    }
}

fn ct(body: &Value) -> Left {
    let key = body.get("key").and_then(Value::as_str).unwrap_or("");
    match key {
        "state" => Left::Key(Key::CtState, Kind::CtState),
        "status" => Left::Key(Key::CtStatus, Kind::CtStatus),
        "count" => Left::RateLimit("ct count".into()),
        "proto-dst" if body.get("dir").and_then(Value::as_str) == Some("original") => {
            Left::Key(Key::OriginalDestinationPort, Kind::Port)
        }
        _ => Left::Unknown(format!("ct {key}")),
    }
}

fn fib(body: &Value) -> Left {
    let result = body.get("result").and_then(Value::as_str).unwrap_or("");
    let flags = words(body.get("flags"));
    if result == "type" && flags == ["daddr"] {
        return Left::Key(Key::DestinationType, Kind::AddressType);
    }
    Left::Unknown(format!("fib {} {result}", flags.join(" . ")))
}

/// `x & mask`: only `tcp flags & mask` is modelled.
fn bitmask(body: &Value) -> Left {
    let Some([inner, mask]) = body.as_array().map(Vec::as_slice) else {
        return Left::Unknown("bitmask".into());
    };
    if nesting_exceeds(inner, MAX_EXPRESSION_DEPTH) {
        return Left::Unknown(TOO_DEEP.into());
    }
    let is_tcp_flags = inner.get("payload").is_some_and(|payload| {
        payload.get("protocol").and_then(Value::as_str) == Some("tcp")
            && payload.get("field").and_then(Value::as_str) == Some("flags")
    });
    match (is_tcp_flags, tcp_flag_word(mask)) {
        (true, Some(mask)) => Left::TcpFlags(Some(mask)),
        _ => Left::Unknown(format!("bitmask on {}", describe(inner))),
    }
}

/// Whether binary operators nest deeper than `limit` along their first
/// operand (walked in a loop, not by recursion).
fn nesting_exceeds(mut value: &Value, limit: usize) -> bool {
    for _ in 0..limit {
        let next = single_entry(value)
            .filter(|(kind, _)| matches!(*kind, "&" | "|" | "^" | "<<" | ">>"))
            .and_then(|(_, operands)| operands.as_array()?.first());
        match next {
            Some(inner) => value = inner,
            None => return false,
        }
    }
    true
}

const SYN: u128 = 2;

/// A TCP flags match evaluated for a new connection's first packet (a bare
/// SYN): it either holds, and then only implies TCP, or never matches.
fn tcp_flags_match(mask: Option<u128>, op: &str, right: &Value) -> Match {
    let masked = SYN & mask.unwrap_or(0xff);
    let holds = match (op, right.get("set").and_then(Value::as_array)) {
        (_, Some(words)) => {
            let any = words.iter().filter_map(tcp_flag_word).any(|word| word == masked);
            if op == "!=" { !any } else { any }
        }
        ("in", None) if mask.is_none() => {
            tcp_flag_word(right).is_some_and(|word| masked & word != 0)
        }
        ("!=", None) => tcp_flag_word(right).is_some_and(|word| masked != word),
        (_, None) => tcp_flag_word(right).is_some_and(|word| masked == word),
    };
    protocol_is(if holds { Intervals::point(6) } else { Intervals::empty() })
}

/// A flag word: a name, a number, a list of names or an `|` of them.
fn tcp_flag_word(value: &Value) -> Option<u128> {
    match value {
        Value::Number(number) => number.as_u64().map(u128::from),
        Value::String(name) => tcp_flag(name),
        Value::Array(list) => {
            list.iter().try_fold(0, |word, item| Some(word | tcp_flag(item.as_str()?)?))
        }
        Value::Object(_) => {
            let list = value.get("|")?.as_array()?;
            list.iter().try_fold(0, |word, item| Some(word | tcp_flag(item.as_str()?)?))
        }
        _ => None,
    }
}

fn tcp_flag(name: &str) -> Option<u128> {
    let bit = ["fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"]
        .iter()
        .position(|flag| *flag == name)?;
    Some(1 << bit)
}

// ---------------------------------------------------------------------------
// Values

/// The right side of a match (or a set element list) as [`Values`].
fn values(right: &Value, kind: Kind) -> Result<Values, String> {
    if let Some(name) = right.as_str().and_then(|s| s.strip_prefix('@')) {
        return Ok(Values::Set(name.to_string()));
    }
    let elements: &[Value] = match right {
        Value::Array(list) => list,
        Value::Object(map) => match map.get("set") {
            Some(Value::Array(list)) => list,
            _ => std::slice::from_ref(right),
        },
        _ => std::slice::from_ref(right),
    };
    elements_values(elements, kind)
}

fn elements_values(elements: &[Value], kind: Kind) -> Result<Values, String> {
    if kind == Kind::Names {
        let names = elements.iter().map(name).collect::<Result<Vec<_>, _>>()?;
        return Ok(Values::Names(names));
    }
    let mut ranges = Vec::with_capacity(elements.len());
    for element in elements {
        element_ranges(element, kind, &mut ranges)?;
    }
    Ok(Values::Numbers(Intervals::from_ranges(ranges)))
}

fn name(element: &Value) -> Result<String, String> {
    let element = unwrap_elem(element);
    element.as_str().map(String::from).ok_or_else(|| format!("interface {}", render(element, 0)))
}

/// `{"elem": {"val": x, "timeout": ..}}` → x.
fn unwrap_elem(element: &Value) -> &Value {
    element.get("elem").and_then(|elem| elem.get("val")).unwrap_or(element)
}

fn element_ranges(element: &Value, kind: Kind, out: &mut Vec<(u128, u128)>) -> Result<(), String> {
    let element = unwrap_elem(element);
    if let Some(prefix) = element.get("prefix") {
        let addr =
            prefix.get("addr").and_then(Value::as_str).and_then(|a| a.parse::<IpAddr>().ok());
        let len = prefix.get("len").and_then(Value::as_u64).and_then(|len| u8::try_from(len).ok());
        let set = addr.zip(len).and_then(|(addr, len)| space::prefix(addr, len));
        out.extend_from_slice(
            set.ok_or_else(|| format!("prefix {}", render(element, 0)))?.ranges(),
        );
        return Ok(());
    }
    if let Some([low, high]) = element.get("range").and_then(Value::as_array).map(Vec::as_slice) {
        out.push((number(low, kind)?, number(high, kind)?));
        return Ok(());
    }
    if is_bits(kind) {
        for bit in bits(element, kind)? {
            out.push((bit, bit));
        }
        return Ok(());
    }
    let value = number(element, kind)?;
    out.push((value, value));
    Ok(())
}

fn is_bits(kind: Kind) -> bool {
    matches!(kind, Kind::CtState | Kind::CtStatus | Kind::AddressType)
}

/// A bit key's value as one point per bit set: `established,related` is
/// {2, 4}, so that both "contains the packet's state" and "any bit in
/// common" read it right.
fn bits(element: &Value, kind: Kind) -> Result<Vec<u128>, String> {
    let word = match element {
        Value::Number(number) => number.as_u64().map(u128::from),
        Value::String(word) => match kind {
            Kind::CtState => CtState::parse(word),
            Kind::CtStatus => CtStatus::parse(word),
            _ => AddressType::parse(word),
        },
        _ => None,
    };
    let word = word.ok_or_else(|| render(element, 0))?;
    Ok((0..128).map(|bit| 1u128 << bit).filter(|bit| word & bit != 0).collect())
}

/// One scalar value of a numeric kind.
fn number(value: &Value, kind: Kind) -> Result<u128, String> {
    let unknown = || render(value, 0);
    if let Some(number) = value.as_u64() {
        return Ok(u128::from(number));
    }
    let word = value.as_str().ok_or_else(unknown)?;
    let found = match kind {
        Kind::Address { v4 } => word
            .parse::<IpAddr>()
            .ok()
            .filter(|addr| addr.is_ipv4() == v4)
            .map(space::address_value),
        Kind::Port => super::ruleset::service_port(word).map(u128::from),
        Kind::Protocol => super::ruleset::protocol_number(word).map(u128::from),
        Kind::NfProto => match word {
            "ipv4" => Some(2),
            "ipv6" => Some(10),
            _ => None,
        },
        Kind::Ethertype => match word {
            "ip" => Some(2),
            "ip6" => Some(10),
            _ => None,
        },
        Kind::Names | Kind::CtState | Kind::CtStatus | Kind::AddressType => None,
    };
    found.ok_or_else(unknown)
}

/// The strings of a JSON array (`"flags": ["interval", "timeout"]`).
fn words(list: Option<&Value>) -> Vec<&str> {
    list.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
}

// ---------------------------------------------------------------------------
// Sets and maps

fn set_contents(body: &Map<String, Value>) -> SetContents {
    let kind = match set_key_kind(body) {
        Ok(kind) => kind,
        Err(why) => return SetContents::Unknown(why),
    };
    let flags = words(body.get("flags"));
    let elements = body.get("elem").and_then(Value::as_array);
    // A set the datapath fills holds what traffic put there, not a rule.
    if flags.contains(&"dynamic") || (flags.contains(&"timeout") && elements.is_none()) {
        return SetContents::Unknown("dynamic set filled by the datapath".into());
    }
    let elements: &[Value] = elements.map(Vec::as_slice).unwrap_or(&[]);
    match body.get("map") {
        None => match elements_values(elements, kind) {
            Ok(values) => SetContents::Values(values),
            Err(why) => SetContents::Unknown(format!("set element {why}")),
        },
        Some(Value::String(data)) if data == "verdict" => match verdict_elements(elements, kind) {
            Ok(verdicts) => SetContents::Verdicts(verdicts),
            Err(why) => SetContents::Unknown(format!("verdict map: {why}")),
        },
        Some(data) => match nat::map_elements(elements, kind, data) {
            Some(Ok(targets)) => SetContents::NatTargets(targets),
            Some(Err(why)) => SetContents::Unknown(format!("NAT map: {why}")),
            None => SetContents::Unknown(format!("map {}", map_data_type(data))),
        },
    }
}

/// The kind of a set's elements, from its `type` (or, when only that is
/// given, its `typeof` expression).
fn set_key_kind(body: &Map<String, Value>) -> Result<Kind, String> {
    let concatenated = || "concatenated set key".to_string();
    match (body.get("type"), body.get("typeof")) {
        (Some(Value::String(word)), _) if word.contains(" . ") => Err(concatenated()),
        (Some(Value::String(word)), _) => set_kind(word).ok_or_else(|| format!("set type {word}")),
        (Some(Value::Array(_)), _) => Err(concatenated()),
        (None, Some(expression)) if expression.get("concat").is_some() => Err(concatenated()),
        (None, Some(expression)) => match read_left(expression) {
            Left::Key(_, kind) => Ok(kind),
            _ => Err(format!("set typeof {}", describe(expression))),
        },
        _ => Err("set without a type".into()),
    }
}

fn map_data_type(data: &Value) -> String {
    match data {
        Value::String(word) => word.clone(),
        Value::Array(words) => {
            words.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" . ")
        }
        _ => "?".into(),
    }
}

fn set_kind(set_type: &str) -> Option<Kind> {
    Some(match set_type {
        "ipv4_addr" => Kind::Address { v4: true },
        "ipv6_addr" => Kind::Address { v4: false },
        "inet_service" => Kind::Port,
        "inet_proto" => Kind::Protocol,
        "ifname" => Kind::Names,
        "ct_state" => Kind::CtState,
        "ct_status" => Kind::CtStatus,
        "fib_addrtype" => Kind::AddressType,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------
// Text

/// The statement in nft syntax, best effort, for reports.
fn render_statement(statement: &Value) -> String {
    let Some((kind, body)) = single_entry(statement) else { return render(statement, 0) };
    match kind {
        "match" => render_match(body),
        "accept" | "drop" | "return" | "continue" | "counter" | "notrack" | "masquerade" => {
            kind.into()
        }
        "jump" | "goto" => format!("{kind} {}", scalar_text(body.get("target"))),
        "reject" => render_reject(body),
        "limit" => render_limit(body),
        "meter" => render_meter(body),
        "xt" => format!("xt {} {:?}", scalar_text(body.get("type")), scalar_text(body.get("name"))),
        "vmap" => format!("{} vmap {}", render_or(body.get("key")), render_or(body.get("data"))),
        "dnat" | "snat" => render_nat(kind, body),
        "redirect" => match body.get("port") {
            Some(port) => format!("redirect to :{}", render(port, 0)),
            None => "redirect".into(),
        },
        "log" => match body.get("prefix").and_then(Value::as_str) {
            Some(prefix) => format!("log prefix {prefix:?}"),
            None => "log".into(),
        },
        _ => kind.into(),
    }
}

fn render_match(body: &Value) -> String {
    let left = render_or(body.get("left"));
    let quote = ["iif", "iifname", "oif", "oifname"].contains(&left.as_str());
    let right = match body.get("right") {
        Some(Value::String(word)) if quote => format!("{word:?}"),
        other => render_or(other),
    };
    match body.get("op").and_then(Value::as_str).unwrap_or("==") {
        // nft spells out == after a bitmask, where it is no membership.
        "==" if left.contains(" & ") => format!("{left} == {right}"),
        "==" | "in" => format!("{left} {right}"),
        op => format!("{left} {op} {right}"),
    }
}

fn render_reject(body: &Value) -> String {
    let kind = body.get("type").and_then(Value::as_str);
    let code = body.get("expr").and_then(Value::as_str);
    match (kind, code) {
        (Some(kind), Some(code)) => format!("reject with {kind} {code}"),
        (Some(kind), None) => format!("reject with {kind}"),
        _ => "reject".into(),
    }
}

fn render_limit(body: &Value) -> String {
    match body.get("burst").and_then(Value::as_u64) {
        Some(burst) if burst > 0 => format!("{} burst {burst} packets", limit_text(body)),
        _ => limit_text(body),
    }
}

fn render_meter(body: &Value) -> String {
    let name = scalar_text(body.get("name"));
    let inner = body.get("stmt").map(render_statement).unwrap_or_default();
    format!("meter {name} {{ {} {inner} }}", render_or(body.get("key")))
}

fn render_nat(kind: &str, body: &Value) -> String {
    let family =
        body.get("family").and_then(Value::as_str).map(|f| format!(" {f}")).unwrap_or_default();
    let addr = body.get("addr").map(|addr| render(addr, 0)).unwrap_or_default();
    let port = body.get("port").map(|port| format!(":{}", render(port, 0))).unwrap_or_default();
    format!("{kind}{family} to {addr}{port}")
}

fn render_or(value: Option<&Value>) -> String {
    value.map(|value| render(value, 0)).unwrap_or_else(|| "?".into())
}

/// An expression in nft syntax, cut at [`MAX_EXPRESSION_DEPTH`].
fn render(value: &Value, depth: usize) -> String {
    if depth >= MAX_EXPRESSION_DEPTH {
        return "…".into();
    }
    match value {
        Value::Null => String::new(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        Value::String(word) => word.clone(),
        Value::Array(list) => {
            list.iter().map(|item| render(item, depth + 1)).collect::<Vec<_>>().join(",")
        }
        Value::Object(_) => render_object(value, depth),
    }
}

fn render_object(value: &Value, depth: usize) -> String {
    let Some((kind, body)) = single_entry(value) else { return "{…}".into() };
    let sub = |key: &str| body.get(key).map(|inner| render(inner, depth + 1)).unwrap_or_default();
    match kind {
        "payload" if body.get("protocol").is_some() => {
            format!("{} {}", sub("protocol"), sub("field"))
        }
        "payload" => format!("@{},{},{}", sub("base"), sub("offset"), sub("len")),
        "meta" if is_bare_meta(body) => sub("key"),
        "meta" | "ct" => format!("{kind} {}", sub("key")),
        "fib" => format!("fib {} {}", render_list(body.get("flags"), " . ", depth), sub("result")),
        "prefix" => format!("{}/{}", sub("addr"), sub("len")),
        "range" => render_list(Some(body), "-", depth),
        "set" => format!("{{ {} }}", render_list(Some(body), ", ", depth)),
        "concat" => render_list(Some(body), " . ", depth),
        "elem" => sub("val"),
        "&" => render_bitmask(body, depth),
        "|" | "^" | "<<" | ">>" => render_list(Some(body), &format!(" {kind} "), depth),
        "map" => format!("{} map {}", sub("key"), sub("data")),
        _ => kind.to_string(),
    }
}

/// `tcp flags & (fin|syn)`: a flag list in a bitmask is an or of flags.
fn render_bitmask(body: &Value, depth: usize) -> String {
    let Some([inner, mask]) = body.as_array().map(Vec::as_slice) else { return "&".into() };
    let mask = match mask {
        Value::Array(flags) => {
            let flags: Vec<String> = flags.iter().map(|flag| render(flag, depth + 1)).collect();
            format!("({})", flags.join("|"))
        }
        other => render(other, depth + 1),
    };
    format!("{} & {mask}", render(inner, depth + 1))
}

fn is_bare_meta(body: &Value) -> bool {
    let key = body.get("key").and_then(Value::as_str).unwrap_or("");
    matches!(key, "iif" | "iifname" | "oif" | "oifname" | "iifgroup" | "oifgroup")
}

fn render_list(value: Option<&Value>, separator: &str, depth: usize) -> String {
    let Some(Value::Array(list)) = value else {
        return value.map(|v| render(v, depth + 1)).unwrap_or_default();
    };
    list.iter().map(|item| render(item, depth + 1)).collect::<Vec<_>>().join(separator)
}

/// A short name for an expression the model does not cover.
fn describe(value: &Value) -> String {
    match single_entry(value) {
        Some(("payload", body)) if body.get("protocol").is_none() => "raw payload".into(),
        Some(("payload", body)) => {
            format!("{} {}", scalar_text(body.get("protocol")), scalar_text(body.get("field")))
        }
        Some(("meta" | "ct" | "rt" | "socket" | "osf" | "exthdr", body))
            if body.get("key").is_some() =>
        {
            let kind = single_entry(value).map(|(kind, _)| kind).unwrap_or("");
            format!("{kind} {}", scalar_text(body.get("key")))
        }
        Some(("concat", _)) => "concatenation".into(),
        Some(("jhash" | "symhash", _)) => "hash".into(),
        Some((kind, _)) => kind.to_string(),
        None => render(value, MAX_EXPRESSION_DEPTH - 1),
    }
}

fn key_name(key: Key) -> &'static str {
    match key {
        Key::InInterface => "iifname",
        Key::OutInterface => "oifname",
        Key::SourceAddress { .. } => "saddr",
        Key::DestinationAddress { .. } => "daddr",
        Key::Protocol => "l4proto",
        Key::NfProto => "nfproto",
        Key::SourcePort { .. } => "sport",
        Key::DestinationPort { .. } => "dport",
        Key::OriginalDestinationPort => "ct original proto-dst",
        Key::CtState => "ct state",
        Key::CtStatus => "ct status",
        Key::DestinationType => "fib daddr type",
    }
}

fn scalar_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(word)) => word.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------
// JSON helpers

/// nft wraps every object and statement as `{"kind": body}`.
fn single_entry(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.iter().next().map(|(kind, body)| (kind.as_str(), body))
}

fn str_field<'a>(body: &'a Map<String, Value>, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::ruleset::{Nat, NatMapRef, NatTarget, NatTo};

    const A: &str = include_str!("../../../fixtures/firewall/a.json");
    const B: &str = include_str!("../../../fixtures/firewall/b.json");
    const C: &str = include_str!("../../../fixtures/firewall/c.json");
    const C2: &str = include_str!("../../../fixtures/firewall/c2.json");
    const DOCKER29: &str = include_str!("../../../fixtures/firewall/docker29.json");
    const FIREWALLD: &str = include_str!("../../../fixtures/firewall/firewalld.json");
    const FWD_DOCKER29: &str = include_str!("../../../fixtures/firewall/fwd_docker29.json");
    const IPT_MISC: &str = include_str!("../../../fixtures/firewall/ipt_misc.json");
    const UFW: &str = include_str!("../../../fixtures/firewall/ufw.json");

    fn load(json: &str) -> Ruleset {
        match read(json) {
            Ok(ruleset) => ruleset,
            Err(error) => panic!("read failed: {error}"),
        }
    }

    fn chain<'a>(ruleset: &'a Ruleset, name: &str) -> &'a Chain {
        match ruleset.chains.iter().find(|chain| chain.name == name) {
            Some(chain) => chain,
            None => panic!("no chain {name}"),
        }
    }

    fn rule(ruleset: &Ruleset, handle: u64) -> &Rule {
        let found = ruleset
            .chains
            .iter()
            .flat_map(|chain| &chain.rules)
            .find(|rule| rule.origin.handle == Some(handle));
        match found {
            Some(rule) => rule,
            None => panic!("no rule {handle}"),
        }
    }

    fn set<'a>(
        ruleset: &'a Ruleset,
        family: TableFamily,
        table: &str,
        name: &str,
    ) -> &'a SetContents {
        match ruleset.sets.get(&(Backend::Nftables, family, table.to_string(), name.to_string())) {
            Some(contents) => contents,
            None => panic!("no set {name}"),
        }
    }

    fn numbers(ranges: &[(u128, u128)]) -> Values {
        Values::Numbers(Intervals::from_ranges(ranges.to_vec()))
    }

    fn is(key: Key, negated: bool, values: Values) -> Match {
        Match::Is { key, negated, values }
    }

    fn v4(text: &str) -> u128 {
        match text.parse::<IpAddr>() {
            Ok(addr) => space::address_value(addr),
            Err(error) => panic!("{error}"),
        }
    }

    fn unknown(construct: &str) -> Match {
        Match::Unknown { construct: construct.to_string() }
    }

    #[test]
    fn every_fixture_reads() {
        for fixture in [A, B, C, C2, DOCKER29, FIREWALLD, FWD_DOCKER29, IPT_MISC, UFW] {
            let ruleset = load(fixture);
            assert!(!ruleset.chains.is_empty());
            assert!(ruleset.chains.iter().all(|chain| chain.backend == Backend::Nftables));
        }
    }

    #[test]
    fn a_input_chain_is_a_dropping_base_chain() {
        let ruleset = load(A);
        let input = chain(&ruleset, "input");
        let base = BaseChain {
            hook: Hook::Input,
            priority: 0,
            kind: ChainKind::Filter,
            policy_accepts: false,
            devices: Vec::new(),
        };
        assert_eq!(input.base, Some(base));
        assert_eq!(input.family, TableFamily::Inet);
        assert_eq!(input.table, "filter");
        assert_eq!(input.rules.len(), 9);
        assert_eq!(chain(&ruleset, "extra").base, None);
        assert!(ruleset.has_input_path());
    }

    #[test]
    fn a_ssh_rule_matches_port_and_prefix() {
        let ruleset = load(A);
        let ssh = rule(&ruleset, 6);
        let prefix = (v4("192.0.2.0"), v4("192.0.2.255"));
        let expected = vec![
            is(Key::DestinationPort { protocol: Some(6) }, false, numbers(&[(22, 22)])),
            is(Key::SourceAddress { v4: true }, false, numbers(&[prefix])),
        ];
        assert_eq!(ssh.matches, expected);
        assert_eq!(ssh.action, Action::Accept);
        assert_eq!(ssh.origin.text, "tcp dport 22 ip saddr 192.0.2.0/24 accept");
        assert_eq!(ssh.origin.line, None);
        let contents = set(&ruleset, TableFamily::Inet, "filter", "ssh_allowed4");
        assert_eq!(contents, &SetContents::Values(numbers(&[prefix])));
    }

    #[test]
    fn a_statements() {
        let ruleset = load(A);
        let established = rule(&ruleset, 4);
        let bits = numbers(&[
            (CtState::ESTABLISHED, CtState::ESTABLISHED),
            (CtState::RELATED, CtState::RELATED),
        ]);
        assert_eq!(established.matches, vec![is(Key::CtState, false, bits)]);
        assert_eq!(established.origin.text, "ct state established,related accept");
        let lo = rule(&ruleset, 5);
        assert_eq!(lo.matches, vec![is(Key::InInterface, false, Values::Names(vec!["lo".into()]))]);
        assert_eq!(lo.origin.text, "iif \"lo\" accept");
        let set_rule = rule(&ruleset, 9);
        assert_eq!(
            set_rule.matches[0],
            is(
                Key::DestinationPort { protocol: Some(6) },
                false,
                numbers(&[(443, 443), (8443, 8443)])
            )
        );
        assert_eq!(
            set_rule.matches[1],
            is(Key::SourceAddress { v4: true }, false, Values::Set("ssh_allowed4".into()))
        );
        let limited = rule(&ruleset, 10);
        assert!(limited.matches.contains(&Match::RateLimit { what: "limit rate 3/minute".into() }));
        assert_eq!(limited.action, Action::Accept);
        let metered = rule(&ruleset, 12);
        assert!(
            metered
                .matches
                .contains(&Match::RateLimit { what: "meter sshmeter limit rate 4/minute".into() })
        );
        assert_eq!(rule(&ruleset, 13).action, Action::Reject);
        assert_eq!(rule(&ruleset, 13).origin.text, "tcp dport 23 reject with tcp reset");
        let jump = rule(&ruleset, 14);
        assert_eq!(jump.action, Action::Jump("extra".into()));
        assert!(jump.matches.is_empty());
    }

    #[test]
    fn docker29_verdict_map() {
        let ruleset = load(DOCKER29);
        let forward = rule(&ruleset, 8);
        let map = VerdictMapRef::Named("filter-forward-in-jumps".into());
        assert_eq!(forward.action, Action::VerdictMap { key: Key::OutInterface, map });
        let contents = set(&ruleset, TableFamily::Ip, "docker-bridges", "filter-forward-in-jumps");
        let element = (
            Values::Names(vec!["docker0".into()]),
            Action::Jump("filter-forward-in__docker0".into()),
        );
        assert_eq!(contents, &SetContents::Verdicts(vec![element]));
        let docker = NatTarget { addr: Some("172.17.0.2".parse().unwrap()), ports: Some((80, 80)) };
        let dnat = Nat { kind: "dnat".into(), to: NatTo::One(docker) };
        assert_eq!(rule(&ruleset, 11).action, Action::Nat(dnat));
        assert!(rule(&ruleset, 11).origin.text.ends_with(" comment \"DNAT\""));
        let local = rule(&ruleset, 10);
        let bits = numbers(&[(AddressType::LOCAL, AddressType::LOCAL)]);
        assert_eq!(local.matches, vec![is(Key::DestinationType, false, bits)]);
        assert_eq!(
            chain(&ruleset, "filter-FORWARD").base.as_ref().map(|base| base.hook),
            Some(Hook::Forward)
        );
    }

    #[test]
    fn b_xt_stubs() {
        let ruleset = load(B);
        assert_eq!(rule(&ruleset, 2).matches, vec![unknown("xt conntrack")]);
        assert_eq!(rule(&ruleset, 2).action, Action::Accept);
        assert_eq!(rule(&ruleset, 6).matches[1..], [unknown("xt conntrack"), unknown("xt recent")]);
        assert_eq!(rule(&ruleset, 6).action, Action::Continue);
        assert_eq!(rule(&ruleset, 14).action, Action::Unknown("xt LOG".into()));
        assert_eq!(rule(&ruleset, 13).action, Action::Unknown("xt REJECT".into()));
        assert!(rule(&ruleset, 2).origin.text.starts_with("xt match \"conntrack\""));
        let tcp = rule(&ruleset, 9);
        assert_eq!(tcp.matches[0], is(Key::Protocol, false, numbers(&[(6, 6)])));
    }

    #[test]
    fn c2_maps_and_nat() {
        let ruleset = load(C2);
        let hostports = set(&ruleset, TableFamily::Inet, "netavark", "hostports");
        let target = |addr: Option<&str>, ports| NatTarget {
            addr: addr.map(|addr| addr.parse().unwrap()),
            ports,
        };
        let port_9090 = Values::Numbers(Intervals::point(9090));
        let expected = vec![(port_9090, target(Some("10.88.0.3"), Some((80, 80))))];
        assert_eq!(hostports, &SetContents::NatTargets(expected));
        let nat = |kind: &str, to| Action::Nat(Nat { kind: kind.into(), to });
        let one = |addr, ports| NatTo::One(target(addr, ports));
        assert_eq!(rule(&ruleset, 5).action, nat("dnat", one(Some("10.88.0.4"), Some((80, 80)))));
        let by_port = NatMapRef::Named("hostports".into());
        let tcp_dport = Key::DestinationPort { protocol: Some(6) };
        assert_eq!(
            rule(&ruleset, 6).action,
            nat("dnat", NatTo::Map { key: tcp_dport, map: by_port })
        );
        assert_eq!(rule(&ruleset, 7).action, nat("dnat", one(Some("10.88.0.6"), None)));
        assert_eq!(rule(&ruleset, 8).action, nat("redirect", one(None, Some((7100, 7100)))));
        assert_eq!(
            rule(&ruleset, 5).origin.text,
            "ip daddr 10.0.0.0/8 tcp dport 8081 dnat ip to 10.88.0.4:80"
        );
        let prerouting = chain(&ruleset, "prerouting");
        assert_eq!(
            prerouting.base.as_ref().map(|base| (base.kind, base.priority)),
            Some((ChainKind::Nat, -100))
        );
    }

    #[test]
    fn firewalld_fib_and_ct_status() {
        let ruleset = load(FIREWALLD);
        let rpfilter = rule(&ruleset, 13);
        assert!(
            matches!(&rpfilter.matches[1], Match::Unknown { construct } if construct.starts_with("fib "))
        );
        let dnat = rule(&ruleset, 16);
        assert_eq!(
            dnat.matches,
            vec![is(Key::CtStatus, false, numbers(&[(CtStatus::DNAT, CtStatus::DNAT)]))]
        );
        assert_eq!(
            rule(&ruleset, 12).matches,
            vec![is(Key::Protocol, false, numbers(&[(58, 58)]))]
        );
        assert_eq!(
            rule(&ruleset, 29).matches,
            vec![is(Key::Protocol, false, numbers(&[(1, 1), (58, 58)]))]
        );
        assert_eq!(rule(&ruleset, 13).matches[0], is(Key::NfProto, false, numbers(&[(10, 10)])));
        let allowlist = set(&ruleset, TableFamily::Inet, "firewalld", "allowlist_v4");
        let expected = numbers(&[
            (v4("198.51.100.0"), v4("198.51.100.255")),
            (v4("203.0.113.7"), v4("203.0.113.7")),
        ]);
        assert_eq!(allowlist, &SetContents::Values(expected));
        let to = NatTarget { addr: Some("10.0.0.5".parse().unwrap()), ports: Some((22, 22)) };
        assert_eq!(
            rule(&ruleset, 40).action,
            Action::Nat(Nat { kind: "dnat".into(), to: NatTo::One(to) })
        );
        assert_eq!(rule(&ruleset, 39).action, Action::Goto("nat_PRE_public".into()));
    }

    #[test]
    fn ipt_misc_flags_range_and_wildcard() {
        let ruleset = load(IPT_MISC);
        let syn = rule(&ruleset, 3);
        assert!(
            syn.origin.text.contains("tcp flags & (fin|syn|rst|ack) == syn"),
            "{}",
            syn.origin.text
        );
        assert_eq!(syn.matches[1], is(Key::Protocol, false, numbers(&[(6, 6)])));
        assert_eq!(
            syn.matches[0],
            is(
                Key::SourceAddress { v4: true },
                true,
                numbers(&[(v4("10.0.0.0"), v4("10.255.255.255"))])
            )
        );
        let range = rule(&ruleset, 5);
        assert_eq!(
            range.matches,
            vec![is(Key::DestinationPort { protocol: Some(6) }, false, numbers(&[(8003, 8010)]))]
        );
        let wildcard = rule(&ruleset, 2);
        assert_eq!(
            wildcard.matches[0],
            is(Key::InInterface, false, Values::Names(vec!["eth*".into()]))
        );
        let v6 = &chain_in(&ruleset, TableFamily::Ip6, "INPUT").rules[0];
        assert!(matches!(&v6.matches[0], Match::Is { key: Key::SourceAddress { v4: false }, .. }));
    }

    fn chain_in<'a>(ruleset: &'a Ruleset, family: TableFamily, name: &str) -> &'a Chain {
        match ruleset.chains.iter().find(|chain| chain.family == family && chain.name == name) {
            Some(chain) => chain,
            None => panic!("no chain {name}"),
        }
    }

    fn one_rule(statements: &str) -> Rule {
        let json = format!(
            r#"{{"nftables": [{{"rule": {{"family": "inet", "table": "t", "chain": "c", "handle": 1, "expr": {statements}}}}}]}}"#
        );
        let ruleset = load(&json);
        match ruleset.chains.first().and_then(|chain| chain.rules.first()) {
            Some(rule) => rule.clone(),
            None => panic!("no rule"),
        }
    }

    #[test]
    fn tcp_flags_decided_for_a_syn() {
        let flags = r#"{"payload": {"protocol": "tcp", "field": "flags"}}"#;
        let ack_only = one_rule(&format!(
            r#"[{{"match": {{"op": "==", "left": {{"&": [{flags}, ["syn", "ack"]]}}, "right": "ack"}}}}, {{"drop": null}}]"#
        ));
        assert_eq!(
            ack_only.matches,
            vec![is(Key::Protocol, false, Values::Numbers(Intervals::empty()))]
        );
        let not_syn = one_rule(&format!(
            r#"[{{"match": {{"op": "!=", "left": {{"&": [{flags}, ["syn"]]}}, "right": "syn"}}}}, {{"drop": null}}]"#
        ));
        assert_eq!(
            not_syn.matches,
            vec![is(Key::Protocol, false, Values::Numbers(Intervals::empty()))]
        );
        let syn =
            one_rule(&format!(r#"[{{"match": {{"op": "in", "left": {flags}, "right": "syn"}}}}]"#));
        assert_eq!(syn.matches, vec![is(Key::Protocol, false, numbers(&[(6, 6)]))]);
    }

    #[test]
    fn statements_without_effect_and_unknowns() {
        let rule = one_rule(
            r#"[{"counter": null}, {"log": {"prefix": "x"}}, {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1}},
               {"set": {"op": "add", "elem": {"payload": {"protocol": "ip", "field": "saddr"}}, "set": "@seen"}},
               {"match": {"op": "==", "left": {"meta": {"key": "mark"}}, "right": 1}},
               {"match": {"op": "==", "left": {"socket": {"key": "transparent"}}, "right": 1}},
               {"match": {"op": "==", "left": {"payload": {"base": "nh", "offset": 8, "len": 8}}, "right": 1}},
               {"notrack": null},
               {"set": {"op": "update", "elem": {"payload": {"protocol": "ip", "field": "saddr"}}, "set": "@x", "stmt": [{"limit": {"rate": 1, "per": "second"}}]}},
               {"match": {"op": "<", "left": {"payload": {"protocol": "th", "field": "dport"}}, "right": 1024}},
               {"queue": {"num": 1}}, {"accept": null}]"#,
        );
        let expected = vec![
            unknown("meta mark"),
            unknown("socket transparent"),
            unknown("raw payload"),
            unknown("notrack"),
            Match::RateLimit { what: "limit rate 1/second".into() },
            is(Key::DestinationPort { protocol: None }, false, numbers(&[(0, 1023)])),
        ];
        assert_eq!(rule.matches, expected);
        assert_eq!(rule.action, Action::Unknown("queue".into()));
    }

    #[test]
    fn literal_verdict_map() {
        let rule = one_rule(
            r#"[{"vmap": {"key": {"payload": {"protocol": "tcp", "field": "dport"}},
                "data": {"set": [[22, {"accept": null}], [{"range": [1000, 2000]}, {"drop": null}]]}}}]"#,
        );
        let literal =
            vec![(numbers(&[(22, 22)]), Action::Accept), (numbers(&[(1000, 2000)]), Action::Drop)];
        let map = VerdictMapRef::Literal(literal);
        assert_eq!(
            rule.action,
            Action::VerdictMap { key: Key::DestinationPort { protocol: Some(6) }, map }
        );
        let odd = one_rule(r#"[{"vmap": {"key": {"meta": {"key": "mark"}}, "data": "@m"}}]"#);
        assert_eq!(odd.action, Action::Unknown("verdict map on meta mark".into()));
    }

    #[test]
    fn sets_of_every_kind() {
        let json = r#"{"nftables": [
            {"set": {"family": "inet", "table": "t", "name": "ports", "type": "inet_service", "elem": ["ssh", {"range": [8000, 8100]}, {"elem": {"val": 443, "timeout": 60}}]}},
            {"set": {"family": "inet", "table": "t", "name": "badport", "type": "inet_service", "elem": ["no-such-service"]}},
            {"set": {"family": "inet", "table": "t", "name": "protos", "type": "inet_proto", "elem": ["tcp", "udp"]}},
            {"set": {"family": "inet", "table": "t", "name": "ifs", "type": "ifname", "elem": ["eth0", "wg*"]}},
            {"set": {"family": "inet", "table": "t", "name": "pairs", "type": ["ipv4_addr", "inet_service"]}},
            {"set": {"family": "inet", "table": "t", "name": "marks", "type": "mark", "elem": [1]}},
            {"set": {"family": "inet", "table": "t", "name": "seen", "type": "ipv4_addr", "flags": ["dynamic"]}},
            {"set": {"family": "inet", "table": "t", "name": "empty", "type": "ipv6_addr"}},
            {"map": {"family": "inet", "table": "t", "name": "dnat", "type": "inet_service", "map": "ipv4_addr"}}
        ]}"#;
        let ruleset = load(json);
        let get = |name: &str| set(&ruleset, TableFamily::Inet, "t", name).clone();
        assert_eq!(
            get("ports"),
            SetContents::Values(numbers(&[(22, 22), (443, 443), (8000, 8100)]))
        );
        assert!(matches!(get("badport"), SetContents::Unknown(_)));
        assert_eq!(get("protos"), SetContents::Values(numbers(&[(6, 6), (17, 17)])));
        assert_eq!(
            get("ifs"),
            SetContents::Values(Values::Names(vec!["eth0".into(), "wg*".into()]))
        );
        assert_eq!(get("pairs"), SetContents::Unknown("concatenated set key".into()));
        assert_eq!(get("marks"), SetContents::Unknown("set type mark".into()));
        assert_eq!(get("seen"), SetContents::Unknown("dynamic set filled by the datapath".into()));
        assert_eq!(get("empty"), SetContents::Values(Values::Numbers(Intervals::empty())));
        assert_eq!(get("dnat"), SetContents::NatTargets(Vec::new()), "an empty NAT map");
    }

    #[test]
    fn typeof_sets_and_netdev_devices() {
        let json = r#"{"nftables": [
            {"set": {"family": "netdev", "table": "t", "name": "src", "typeof": {"payload": {"protocol": "ip", "field": "saddr"}}, "elem": ["192.0.2.1"]}},
            {"chain": {"family": "netdev", "table": "t", "name": "in", "type": "filter", "hook": "ingress", "prio": -500, "dev": ["eth0", "eth1"]}},
            {"chain": {"family": "netdev", "table": "t", "name": "in2", "type": "filter", "hook": "ingress", "dev": "eth2", "policy": "accept"}}
        ]}"#;
        let ruleset = load(json);
        let expected = SetContents::Values(numbers(&[(v4("192.0.2.1"), v4("192.0.2.1"))]));
        assert_eq!(set(&ruleset, TableFamily::Netdev, "t", "src"), &expected);
        let ingress = chain(&ruleset, "in").base.clone();
        assert_eq!(
            ingress.as_ref().map(|base| (base.hook, base.priority)),
            Some((Hook::Ingress, -500))
        );
        assert_eq!(
            ingress.map(|base| base.devices),
            Some(vec!["eth0".to_string(), "eth1".to_string()])
        );
        let other = chain(&ruleset, "in2").base.clone();
        assert_eq!(
            other.map(|base| (base.priority, base.devices, base.policy_accepts)),
            Some((0, vec!["eth2".to_string()], true))
        );
    }

    #[test]
    fn only_non_json_or_a_missing_array_fails() {
        let not_json = read("not json").map(|_| ()).map_err(|error| error.to_string());
        assert!(matches!(not_json, Err(message) if message.starts_with("nft's JSON: not JSON")));
        let no_array = read(r#"{"other": []}"#).map(|_| ()).map_err(|error| error.to_string());
        assert_eq!(no_array, Err("nft's JSON: no \"nftables\" array".to_string()));
        let ruleset =
            load(r#"{"nftables": [{"rule": {"expr": 5}}, 7, {"chain": 3}, {"set": {"type": 5}}]}"#);
        assert_eq!(ruleset.chains.len(), 1);
        assert_eq!(ruleset.chains[0].rules[0].action, Action::Continue);
    }

    #[test]
    fn deep_nesting_reads() {
        let depth = 10_000;
        let mut left = String::from(r#"{"payload": {"protocol": "tcp", "field": "flags"}}"#);
        left = format!("{}{left}{}", r#"{"&":["#.repeat(depth), r#", 1]}"#.repeat(depth));
        let rule = one_rule(&format!(
            r#"[{{"match": {{"op": "==", "left": {left}, "right": 1}}}}, {{"accept": null}}]"#
        ));
        assert_eq!(rule.matches, vec![unknown(TOO_DEEP)]);
        assert_eq!(rule.action, Action::Accept);
        let shallow = format!(
            "{}{}{}",
            r#"{"&":["#.repeat(20),
            r#"{"meta":{"key":"mark"}}"#,
            r#", 1]}"#.repeat(20)
        );
        let rule =
            one_rule(&format!(r#"[{{"match": {{"op": "==", "left": {shallow}, "right": 1}}}}]"#));
        assert_eq!(rule.matches, vec![unknown(TOO_DEEP)]);
    }

    #[test]
    fn a_large_set_reads_fast() {
        let count: u32 = 200_000;
        let elements: Vec<String> = (0..count)
            .map(|i| format!("\"{}\"", std::net::Ipv4Addr::from(0x0a00_0000 + i * 2)))
            .collect();
        let json = format!(
            r#"{{"nftables": [{{"set": {{"family": "ip", "table": "t", "name": "block", "type": "ipv4_addr", "elem": [{}]}}}}]}}"#,
            elements.join(",")
        );
        let started = std::time::Instant::now();
        let ruleset = load(&json);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        let SetContents::Values(Values::Numbers(block)) =
            set(&ruleset, TableFamily::Ip, "t", "block")
        else {
            panic!("not numbers")
        };
        assert_eq!(block.ranges().len(), count as usize);
        assert!(block.contains(v4("10.0.0.2")) && !block.contains(v4("10.0.0.3")));
    }
}
