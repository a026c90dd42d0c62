//! Parses ss's filter expressions as ss reads them: `and`/`&`/`&&`,
//! `or`/`|`/`||` and juxtaposition all bind equally, left to right (so
//! `a or b and c` is `(a or b) and c`); `not`/`!` binds to the next term.
//! Errors name the offending token by its position. Expressions nested
//! deeper than [`MAX_DEPTH`] levels are refused before the parser recurses
//! into them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Cond, Expr, HostCond, MAX_DEPTH, Prefix, Side};
use crate::model::Netid;

/// A filter that does not parse: what was expected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: {message} at token {position} (in '{expression}')")]
pub struct FilterError {
    pub message: String,
    /// 1-based; one past the last token when the expression ended early.
    pub position: usize,
    /// The expression, or for a long one the tokens around the error.
    pub expression: String,
}

/// What the parser needs from outside: port names, interface indexes,
/// cgroup ids and host names.
pub trait Resolver {
    fn service_ports(&self, name: &str) -> Vec<(Netid, u16)>;
    fn interface_index(&self, name: &str) -> Option<u32>;
    fn cgroup_id(&self, path: &str) -> Option<u64>;
    fn host_addresses(&self, name: &str) -> Vec<IpAddr>;
}

/// Splits the words after the state words into tokens, as ss does: on
/// blanks, with `(` and `)` also split off the words they touch.
pub fn tokenize(words: &[String]) -> Vec<String> {
    let mut tokens = Vec::new();
    for word in words {
        for piece in word.split_whitespace() {
            let mut rest = piece;
            while let Some(after) = rest.strip_prefix('(') {
                tokens.push("(".to_owned());
                rest = after;
            }
            let trailing = rest.len() - rest.trim_end_matches(')').len();
            let core = &rest[..rest.len() - trailing];
            if !core.is_empty() {
                tokens.push(core.to_owned());
            }
            tokens.extend(std::iter::repeat_n(")".to_owned(), trailing));
        }
    }
    tokens
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub expr: Expr,
    /// `and` and `or` met at one level without parentheses, where ss's
    /// left-to-right reading differs from the usual precedence.
    pub mixes_and_or: bool,
}

/// Parses tokens into an expression; `None` for no tokens.
pub fn parse(tokens: &[String], resolver: &dyn Resolver) -> Result<Option<Parsed>, FilterError> {
    if tokens.is_empty() {
        return Ok(None);
    }
    let mut parser = Parser { tokens, at: 0, resolver, mixes_and_or: false, groups: 0 };
    let expr = parser.expr_list()?.expr;
    if let Some(token) = parser.peek() {
        return Err(parser.error(format!("unexpected '{token}'")));
    }
    Ok(Some(Parsed { expr, mixes_and_or: parser.mixes_and_or }))
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    resolver: &'a dyn Resolver,
    mixes_and_or: bool,
    /// How many parentheses are open.
    groups: usize,
}

/// A parsed part of the expression and the depth of its tree.
struct Nested {
    expr: Expr,
    depth: usize,
}

impl Nested {
    /// A condition, or the few nodes a condition parses into.
    fn new(expr: Expr) -> Nested {
        let depth = expr.depth();
        Nested { expr, depth }
    }

    /// The negation, with a double one undone.
    fn negated(self) -> Nested {
        match self.expr {
            Expr::Not(inner) => Nested { expr: *inner, depth: self.depth.saturating_sub(1) },
            expr => Nested { expr: Expr::Not(Box::new(expr)), depth: self.depth + 1 },
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Junction {
    And,
    Or,
}

/// Terms joined as ss joins them: left to right, `and` and `or` alike, so
/// that a change of operator makes what came before the first term of a
/// new node (`a or b and c` is `and(or(a, b), c)`), and a run of one
/// operator stays one node.
struct Chain {
    junction: Option<Junction>,
    terms: Vec<Expr>,
    /// The depth of the node the chain makes.
    depth: usize,
}

impl Chain {
    fn new(first: Nested) -> Chain {
        Chain { junction: None, terms: vec![first.expr], depth: first.depth }
    }

    /// Adds a term; returns the chain's new depth.
    fn push(&mut self, junction: Junction, term: Nested) -> usize {
        if self.junction != Some(junction) {
            if let Some(before) = self.junction {
                let so_far = node(before, std::mem::take(&mut self.terms));
                self.terms.push(so_far);
            }
            self.junction = Some(junction);
            self.depth += 1;
        }
        self.depth = self.depth.max(term.depth + 1);
        self.terms.push(term.expr);
        self.depth
    }

    fn finish(mut self) -> Nested {
        let expr = match self.junction {
            Some(junction) => node(junction, self.terms),
            // The one term `new` was given.
            None => self.terms.pop().unwrap_or(Expr::And(Vec::new())),
        };
        Nested { expr, depth: self.depth }
    }
}

fn node(junction: Junction, terms: Vec<Expr>) -> Expr {
    match junction {
        Junction::And => Expr::And(terms),
        Junction::Or => Expr::or(terms),
    }
}

fn too_deep() -> String {
    format!("expression nested deeper than {MAX_DEPTH} levels")
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

fn operator(token: &str) -> Option<Op> {
    Some(match token {
        "=" | "==" | "eq" => Op::Eq,
        "!=" | "ne" | "neq" => Op::Ne,
        ">=" | "ge" | "geq" => Op::Ge,
        "<=" | "le" | "leq" => Op::Le,
        ">" | "gt" => Op::Gt,
        "<" | "lt" => Op::Lt,
        _ => return None,
    })
}

fn is_and(token: &str) -> bool {
    matches!(token, "and" | "&" | "&&")
}

fn is_or(token: &str) -> bool {
    matches!(token, "or" | "|" | "||")
}

fn is_not(token: &str) -> bool {
    matches!(token, "not" | "!")
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<&'a str> {
        let token = self.peek();
        self.at += 1;
        token
    }

    fn error(&self, message: String) -> FilterError {
        self.error_at(self.at, message)
    }

    fn error_at(&self, at: usize, message: String) -> FilterError {
        FilterError { message, position: at + 1, expression: excerpt(self.tokens, at) }
    }

    /// The words before the current token, for messages: `'sport ='`.
    fn context(&self, from: usize) -> String {
        self.tokens[from..self.at.min(self.tokens.len())].join(" ")
    }

    fn expr_list(&mut self) -> Result<Nested, FilterError> {
        let mut chain = Chain::new(self.term()?);
        let (mut saw_and, mut saw_or) = (false, false);
        while let Some(token) = self.peek() {
            if token == ")" {
                break;
            }
            let junction_at = self.at;
            let junction = if is_or(token) {
                self.at += 1;
                saw_or = true;
                Junction::Or
            } else {
                if is_and(token) {
                    self.at += 1;
                }
                saw_and = true;
                Junction::And
            };
            self.mixes_and_or |= saw_and && saw_or;
            let term = self.term()?;
            if chain.push(junction, term) > MAX_DEPTH {
                return Err(self.error_at(junction_at, too_deep()));
            }
        }
        Ok(chain.finish())
    }

    /// An operand after any number of `not`s, which cancel in pairs.
    fn term(&mut self) -> Result<Nested, FilterError> {
        let start = self.at;
        let mut negate = false;
        while self.peek().is_some_and(is_not) {
            self.at += 1;
            negate = !negate;
        }
        let operand = self.operand()?;
        if !negate {
            return Ok(operand);
        }
        let negated = operand.negated();
        if negated.depth > MAX_DEPTH {
            return Err(self.error_at(start, too_deep()));
        }
        Ok(negated)
    }

    /// A group or a condition. Conditions are parsed apart, off the
    /// recursion through groups, to keep its stack frames small.
    fn operand(&mut self) -> Result<Nested, FilterError> {
        if self.peek() == Some("(") {
            self.at += 1;
            return self.group(self.at - 1);
        }
        self.condition().map(Nested::new)
    }

    #[inline(never)]
    fn condition(&mut self) -> Result<Expr, FilterError> {
        let start = self.at;
        let Some(token) = self.next() else {
            self.at = start;
            return Err(self.error("expected a condition".into()));
        };
        match token {
            "sport" | "dport" => self.port_condition(token, start),
            "src" | "dst" => self.host_condition(token, start),
            "dev" => self.device_condition(start),
            "fwmark" => self.mark_condition(start),
            "cgroup" => self.cgroup_condition(start),
            "autobound" => Ok(Expr::Cond(Cond::AutoBound)),
            other => {
                self.at -= 1;
                Err(self.error(format!("expected a condition, found '{other}'")))
            }
        }
    }

    /// The expression inside parentheses, the `(` at `start` being read.
    fn group(&mut self, start: usize) -> Result<Nested, FilterError> {
        if self.groups == MAX_DEPTH {
            return Err(self.error_at(start, too_deep()));
        }
        self.groups += 1;
        let inner = self.expr_list()?;
        self.groups -= 1;
        match self.next() {
            Some(")") => Ok(inner),
            _ => {
                self.at -= 1;
                Err(self.error("expected ')'".into()))
            }
        }
    }

    /// An optional operator after a keyword; `=` when there is none.
    fn operator(&mut self) -> Op {
        match self.peek().and_then(operator) {
            Some(op) => {
                self.at += 1;
                op
            }
            None => Op::Eq,
        }
    }

    /// The value token after `keyword op`, or an error naming what was expected.
    fn value(&mut self, what: &str, start: usize) -> Result<String, FilterError> {
        let context = self.context(start);
        match self.peek().map(str::to_owned) {
            Some(token) if !is_keyword(&token) => {
                self.at += 1;
                Ok(token)
            }
            _ => Err(self.error(format!("expected {what} after '{context}'"))),
        }
    }

    fn port_condition(&mut self, keyword: &str, start: usize) -> Result<Expr, FilterError> {
        let side = if keyword == "sport" { Side::Local } else { Side::Peer };
        let op = self.operator();
        let value = self.value("a port", start)?;
        let port_text = value.strip_prefix(':').unwrap_or(&value);
        let port = match port_text {
            "" | "*" => None,
            text => Some(self.port(text)?),
        };
        let exact = Expr::Cond(Cond::Host(side, HostCond { prefix: None, port }));
        let Some(port) = port else {
            return match op {
                Op::Eq => Ok(exact),
                Op::Ne => Ok(Expr::Not(Box::new(exact))),
                _ => {
                    Err(self
                        .error(format!("'{}' needs a port number, not '*'", self.context(start))))
                }
            };
        };
        let not = |cond: Cond| Expr::Not(Box::new(Expr::Cond(cond)));
        Ok(match op {
            Op::Eq => exact,
            Op::Ne => Expr::Not(Box::new(exact)),
            Op::Ge => Expr::Cond(Cond::PortAtLeast(side, port)),
            Op::Le => Expr::Cond(Cond::PortAtMost(side, port)),
            Op::Gt => not(Cond::PortAtMost(side, port)),
            Op::Lt => not(Cond::PortAtLeast(side, port)),
        })
    }

    /// A port number or a service name known for the listed protocols.
    fn port(&self, text: &str) -> Result<u16, FilterError> {
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text.parse().map_err(|_| self.error(format!("port '{text}' is out of range")));
        }
        let ports = self.resolver.service_ports(text);
        let mut numbers: Vec<u16> = ports.iter().map(|(_, port)| *port).collect();
        numbers.dedup();
        match numbers.as_slice() {
            [port] => Ok(*port),
            [] => Err(self.error(format!("'{text}' does not look like a port"))),
            _ => Err(self.error(format!("ambiguous port '{text}' (tcp and udp disagree)"))),
        }
    }

    fn host_condition(&mut self, keyword: &str, start: usize) -> Result<Expr, FilterError> {
        let side = if keyword == "src" { Side::Local } else { Side::Peer };
        if let Some(op) = self.peek().and_then(operator) {
            if op != Op::Eq {
                return Err(self.error(format!(
                    "'{keyword}' takes '=' or nothing, not '{}'",
                    self.tokens[self.at]
                )));
            }
            self.at += 1;
        }
        let value = self.value("an address", start)?;
        let (addr, port) = split_host_port(&value);
        let port = match port {
            None | Some("") | Some("*") => None,
            Some(text) => Some(self.port(text)?),
        };
        let prefixes = match addr {
            "" | "*" => vec![None],
            text => self.prefixes(text)?.into_iter().map(Some).collect(),
        };
        let mut conditions: Vec<Expr> = prefixes
            .into_iter()
            .map(|prefix| Expr::Cond(Cond::Host(side, HostCond { prefix, port })))
            .collect();
        match conditions.len() {
            0 => Err(self.error(format!("'{addr}' has no address"))),
            1 => Ok(conditions.swap_remove(0)),
            _ => Ok(Expr::or(conditions)),
        }
    }

    /// An inet prefix (`10.0.0.0/8`, short forms such as `193.233.7/24`,
    /// `::1`, `fe80::/10`) or a host name's addresses.
    fn prefixes(&self, text: &str) -> Result<Vec<Prefix>, FilterError> {
        if let Some(prefix) = parse_prefix(text) {
            return Ok(vec![prefix]);
        }
        let looks_numeric = text.bytes().all(|b| b.is_ascii_hexdigit() || b"./:".contains(&b));
        let addresses = if looks_numeric { Vec::new() } else { self.resolver.host_addresses(text) };
        if addresses.is_empty() {
            return Err(self.error(format!("an inet prefix is expected rather than '{text}'")));
        }
        Ok(addresses
            .into_iter()
            .map(|addr| Prefix { addr, len: if addr.is_ipv4() { 32 } else { 128 } })
            .collect())
    }

    fn device_condition(&mut self, start: usize) -> Result<Expr, FilterError> {
        let negate = self.equality(start)?;
        let value = self.value("an interface", start)?;
        let index = match value.parse::<u32>() {
            Ok(index) => index,
            Err(_) => self
                .resolver
                .interface_index(&value)
                .ok_or_else(|| self.error(format!("no interface named '{value}'")))?,
        };
        Ok(negated(Expr::Cond(Cond::Device(index)), negate))
    }

    fn mark_condition(&mut self, start: usize) -> Result<Expr, FilterError> {
        let negate = self.equality(start)?;
        let value = self.value("a mark", start)?;
        let (mark, mask) = match value.split_once('/') {
            Some((mark, mask)) => (parse_c_number(mark), parse_c_number(mask)),
            None => (parse_c_number(&value), Some(u32::MAX)),
        };
        let (Some(mark), Some(mask)) = (mark, mask) else {
            return Err(self.error(format!("'{value}' is not a MARK[/MASK]")));
        };
        Ok(negated(Expr::Cond(Cond::Mark { mark, mask }), negate))
    }

    fn cgroup_condition(&mut self, start: usize) -> Result<Expr, FilterError> {
        let negate = self.equality(start)?;
        let value = self.value("a cgroup path", start)?;
        let id = self
            .resolver
            .cgroup_id(&value)
            .ok_or_else(|| self.error(format!("no cgroup v2 directory for '{value}'")))?;
        Ok(negated(Expr::Cond(Cond::Cgroup(id)), negate))
    }

    /// `=`, `!=` or nothing after `dev`, `fwmark`, `cgroup`: true for `!=`.
    fn equality(&mut self, start: usize) -> Result<bool, FilterError> {
        match self.operator() {
            Op::Eq => Ok(false),
            Op::Ne => Ok(true),
            _ => {
                self.at -= 1;
                let keyword = self.context(start);
                Err(self.error(format!("'{keyword}' takes '=' or '!='")))
            }
        }
    }
}

fn negated(expr: Expr, negate: bool) -> Expr {
    if negate { Expr::Not(Box::new(expr)) } else { expr }
}

/// Whether an expression may begin with this word: a condition's keyword,
/// `not`, or `(`.
pub fn starts_an_expression(word: &str) -> bool {
    matches!(
        word,
        "(" | "sport" | "dport" | "src" | "dst" | "dev" | "fwmark" | "cgroup" | "autobound"
    ) || is_not(word)
}

fn is_keyword(token: &str) -> bool {
    matches!(
        token,
        "(" | ")" | "sport" | "dport" | "src" | "dst" | "dev" | "fwmark" | "cgroup" | "autobound"
    ) || is_and(token)
        || is_or(token)
        || is_not(token)
        || operator(token).is_some()
}

/// The expression for an error at token `at`: all of it when short, else
/// the tokens around `at`, so that the message stays a readable line.
fn excerpt(tokens: &[String], at: usize) -> String {
    const AROUND: usize = 8;
    if tokens.len() <= 2 * AROUND + 1 {
        return tokens.join(" ");
    }
    let end = (at + AROUND + 1).min(tokens.len());
    let start = at.saturating_sub(AROUND).min(end);
    let mut text = tokens[start..end].join(" ");
    if start > 0 {
        text.insert_str(0, "... ");
    }
    if end < tokens.len() {
        text.push_str(" ...");
    }
    text
}

/// `[ADDR]:PORT`, `*:PORT`, `ADDR:PORT` or `ADDR`, split as ss splits them:
/// without brackets the port follows the last `:` (after any `/`), so an
/// IPv6 address needs brackets.
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if let Some(inner) = text.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((addr, rest)) => (addr, rest.strip_prefix(':').or(Some(rest))),
            None => (inner, None),
        };
    }
    if let Some(rest) = text.strip_prefix('*') {
        return ("*", rest.strip_prefix(':').or(Some(rest)));
    }
    let search_from = text.find('/').unwrap_or(0);
    match text[search_from..].rfind(':') {
        Some(at) => (&text[..search_from + at], Some(&text[search_from + at + 1..])),
        None => (text, None),
    }
}

/// `10.0.0.0/8`, `193.233.7/24` (missing octets are zero), `10.0.0.1`,
/// `::1`, `fe80::/10`.
pub fn parse_prefix(text: &str) -> Option<Prefix> {
    let (addr, len) = match text.split_once('/') {
        Some((addr, len)) => (addr, Some(len.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let addr = if addr.contains(':') {
        IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
    } else {
        IpAddr::V4(short_ipv4(addr)?)
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some(Prefix { addr, len })
}

/// `193.233.7` → 193.233.7.0, as iproute2 reads partial IPv4 addresses.
fn short_ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    for (octet, part) in octets.iter_mut().zip(&parts) {
        *octet = part.parse().ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

/// A number as C's `%i` reads it: decimal, `0x` hex or `0` octal.
fn parse_c_number(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u32::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::super::Alternatives;
    use super::*;

    struct Fixed;

    impl Resolver for Fixed {
        fn service_ports(&self, name: &str) -> Vec<(Netid, u16)> {
            match name {
                "ssh" => vec![(Netid::Tcp, 22)],
                "split" => vec![(Netid::Tcp, 1), (Netid::Udp, 2)],
                _ => vec![],
            }
        }
        fn interface_index(&self, name: &str) -> Option<u32> {
            (name == "lo").then_some(1)
        }
        fn cgroup_id(&self, _: &str) -> Option<u64> {
            None
        }
        fn host_addresses(&self, name: &str) -> Vec<IpAddr> {
            if name == "localhost" {
                vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()]
            } else {
                vec![]
            }
        }
    }

    fn words(text: &str) -> Vec<String> {
        tokenize(&[text.to_owned()])
    }

    fn parsed(text: &str) -> Expr {
        parse(&words(text), &Fixed).unwrap().unwrap().expr
    }

    fn error(text: &str) -> FilterError {
        parse(&words(text), &Fixed).unwrap_err()
    }

    fn port(side: Side, port: u16) -> Expr {
        Expr::Cond(Cond::Host(side, HostCond { prefix: None, port: Some(port) }))
    }

    #[test]
    fn operators_and_aliases() {
        for text in ["sport = :22", "sport == 22", "sport eq :ssh", "sport :22", "sport 22"] {
            assert_eq!(parsed(text), port(Side::Local, 22), "{text}");
        }
        assert_eq!(parsed("dport != :22"), Expr::Not(Box::new(port(Side::Peer, 22))));
        assert_eq!(parsed("dport neq 22"), parsed("dport ne 22"));
        assert_eq!(parsed("sport >= 1024"), Expr::Cond(Cond::PortAtLeast(Side::Local, 1024)));
        assert_eq!(parsed("sport geq 1024"), parsed("sport ge 1024"));
        assert_eq!(
            parsed("sport > 1024"),
            Expr::Not(Box::new(Expr::Cond(Cond::PortAtMost(Side::Local, 1024))))
        );
        assert_eq!(
            parsed("sport lt 1024"),
            Expr::Not(Box::new(Expr::Cond(Cond::PortAtLeast(Side::Local, 1024))))
        );
    }

    #[test]
    fn and_or_bind_equally_left_to_right() {
        let (a, b, c) = (port(Side::Local, 1), port(Side::Local, 2), port(Side::Local, 3));
        let left_first = Expr::And(vec![Expr::or(vec![a.clone(), b.clone()]), c.clone()]);
        assert_eq!(parsed("sport 1 or sport 2 and sport 3"), left_first);
        assert_eq!(parsed("sport 1 || sport 2 sport 3"), left_first, "juxtaposition is and");
        let grouped = Expr::or(vec![a.clone(), Expr::And(vec![b.clone(), c.clone()])]);
        assert_eq!(parsed("sport 1 | (sport 2 && sport 3)"), grouped);
        let flat = Expr::or(vec![a.clone(), b.clone(), c.clone()]);
        assert_eq!(parsed("sport 1 or sport 2 || sport 3"), flat, "a run is one node");
        let alternating = Expr::Or(Alternatives::new(vec![
            Expr::And(vec![Expr::or(vec![a.clone(), b.clone()]), c.clone(), a.clone()]),
            b.clone(),
        ]));
        assert_eq!(parsed("sport 1 or sport 2 and sport 3 sport 1 or sport 2"), alternating);
        assert_eq!(parsed("! sport 1 & sport 2"), parsed("( not sport 1 ) and sport 2"));
        let mixed = |text: &str| parse(&words(text), &Fixed).unwrap().unwrap().mixes_and_or;
        assert!(mixed("sport 1 or sport 2 and sport 3"));
        assert!(mixed("sport 1 or sport 2 sport 3"));
        assert!(!mixed("sport 1 or ( sport 2 and sport 3 )"));
        assert!(!mixed("sport 1 and sport 2 and not sport 3"));
    }

    #[test]
    fn hosts_prefixes_and_ports() {
        let host = |text: &str| match parsed(&format!("src {text}")) {
            Expr::Cond(Cond::Host(Side::Local, host)) => host,
            other => panic!("{other:?}"),
        };
        let prefix = |addr: &str, len| Some(Prefix { addr: addr.parse().unwrap(), len });
        assert_eq!(host("10.0.0.0/8"), HostCond { prefix: prefix("10.0.0.0", 8), port: None });
        assert_eq!(
            host("193.233.7/24"),
            HostCond { prefix: prefix("193.233.7.0", 24), port: None }
        );
        assert_eq!(
            host("10.0.0.1:22"),
            HostCond { prefix: prefix("10.0.0.1", 32), port: Some(22) }
        );
        assert_eq!(host("[::1]:ssh"), HostCond { prefix: prefix("::1", 128), port: Some(22) });
        assert_eq!(host("[fe80::/10]"), HostCond { prefix: prefix("fe80::", 10), port: None });
        assert_eq!(host("*:22"), HostCond { prefix: None, port: Some(22) });
        assert_eq!(host("*"), HostCond { prefix: None, port: None });
        assert_eq!(host("= 0.0.0.0"), HostCond { prefix: prefix("0.0.0.0", 32), port: None });
        assert!(matches!(parsed("dst localhost"), Expr::Or(..)));
    }

    #[test]
    fn devices_marks_and_autobound() {
        assert_eq!(parsed("dev = lo"), Expr::Cond(Cond::Device(1)));
        assert_eq!(parsed("dev != 3"), Expr::Not(Box::new(Expr::Cond(Cond::Device(3)))));
        assert_eq!(parsed("fwmark = 0x10/0xf0"), Expr::Cond(Cond::Mark { mark: 0x10, mask: 0xf0 }));
        assert_eq!(parsed("fwmark 7"), Expr::Cond(Cond::Mark { mark: 7, mask: u32::MAX }));
        assert_eq!(parsed("autobound"), Expr::Cond(Cond::AutoBound));
    }

    #[test]
    fn errors_point_at_the_token() {
        let e = error("sport =");
        assert_eq!((e.message.as_str(), e.position), ("expected a port after 'sport ='", 3));
        assert_eq!(
            e.to_string(),
            "filter: expected a port after 'sport =' at token 3 (in 'sport =')"
        );
        assert_eq!(error("sport = :22 and").position, 5);
        assert_eq!(error("( sport 1").message, "expected ')'");
        assert_eq!(error("sport 1 )").message, "unexpected ')'");
        assert_eq!(error("bogus").message, "expected a condition, found 'bogus'");
        assert_eq!(error("sport :nope").message, "'nope' does not look like a port");
        assert_eq!(error("sport :split").message, "ambiguous port 'split' (tcp and udp disagree)");
        assert_eq!(error("src != 1.2.3.4").position, 2);
        assert_eq!(
            error("dst 1.2.3.4.5").message,
            "an inet prefix is expected rather than '1.2.3.4.5'"
        );
        assert_eq!(error("dev = nothere").message, "no interface named 'nothere'");
        assert_eq!(error("sport 99999").message, "port '99999' is out of range");
        assert_eq!(error("fwmark = x").message, "'x' is not a MARK[/MASK]");
    }

    /// `sport 1 or sport 2 and sport 3 or ...`: `changes` changes of operator.
    fn alternation(changes: usize) -> String {
        let mut text = "sport 1".to_owned();
        for change in 0..changes {
            let junction = if change % 2 == 0 { "or" } else { "and" };
            text.push_str(&format!(" {junction} sport {}", change % 50 + 2));
        }
        text
    }

    #[test]
    fn nesting_is_refused_past_the_limit_before_recursing() {
        let deep =
            |levels: usize| format!("{}sport 22{}", "( ".repeat(levels), " )".repeat(levels));
        assert_eq!(parsed(&deep(MAX_DEPTH)), port(Side::Local, 22));
        let e = error(&deep(MAX_DEPTH + 1));
        assert_eq!(e.message, "expression nested deeper than 256 levels");
        assert_eq!(e.position, MAX_DEPTH + 1, "the first '(' too many");
        let e = error(&deep(20_000));
        assert_eq!(e.position, MAX_DEPTH + 1);
        assert!(e.to_string().len() < 200, "a short line: {e}");
        assert_eq!(alternation(MAX_DEPTH).split(' ').count(), 3 * MAX_DEPTH + 2);
        assert_eq!(parsed(&alternation(MAX_DEPTH)).depth(), MAX_DEPTH);
        let e = error(&alternation(MAX_DEPTH + 1));
        assert_eq!(
            (e.message.as_str(), e.position),
            ("expression nested deeper than 256 levels", 3 * MAX_DEPTH + 3)
        );
        let e = error(&alternation(10_000));
        assert_eq!(e.position, 3 * MAX_DEPTH + 3);
        // A group is as deep as what it holds, plus the alternations after it.
        let grouped = |after: usize| {
            let tail = &alternation(after)["sport 1".len()..];
            format!("( {} ){tail}", alternation(MAX_DEPTH - 10))
        };
        assert_eq!(parsed(&grouped(10)).depth(), MAX_DEPTH);
        assert_eq!(error(&grouped(11)).message, "expression nested deeper than 256 levels");
    }

    #[test]
    fn nots_cancel_in_pairs_however_many() {
        assert_eq!(parsed(&format!("{}sport 22", "not ".repeat(50_000))), port(Side::Local, 22));
        assert_eq!(
            parsed(&format!("{}sport 22", "! ".repeat(50_001))),
            Expr::Not(Box::new(port(Side::Local, 22)))
        );
        assert_eq!(parsed("not dport != 22"), port(Side::Peer, 22));
        assert_eq!(parsed("not ( not ( sport 22 ) )"), port(Side::Local, 22));
        assert_eq!(error(&"not ".repeat(50_000)).position, 50_001);
        // A `not` over a group is a level.
        let not_and = |levels: usize| {
            format!("{}sport 1{}", "not ( sport 2 and ".repeat(levels), " )".repeat(levels))
        };
        assert_eq!(parsed(&not_and(MAX_DEPTH / 2)).depth(), MAX_DEPTH);
        assert_eq!(error(&not_and(MAX_DEPTH / 2 + 1)).position, 5, "the outermost 'and'");
    }

    #[test]
    fn the_deepest_expressions_run_on_a_two_mib_stack() {
        let shapes = [
            (format!("{}sport 22{}", "( ".repeat(MAX_DEPTH), " )".repeat(MAX_DEPTH)), 0),
            (alternation(MAX_DEPTH), MAX_DEPTH),
            (format!("{}sport 1{}", "! ( sport 2 || ".repeat(128), " )".repeat(128)), MAX_DEPTH),
            (
                format!(
                    "{}sport 1{}",
                    "( sport 2 or sport 3 ) and ( ".repeat(255),
                    " )".repeat(255)
                ),
                MAX_DEPTH,
            ),
        ];
        let extras = super::super::Extras { ephemeral_ports: (32768, 60999) };
        for (shape, depth) in shapes {
            let outcome = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || {
                    let mut inet = crate::model::InetSocket::new(
                        crate::model::Transport::Tcp,
                        crate::model::IpFamily::Inet,
                        crate::model::SocketState::Listening,
                    );
                    inet.local.port = 1;
                    let socket = crate::model::Socket::Inet(inet);
                    let expr = parse(&words(&shape), &Fixed).unwrap().unwrap().expr;
                    let depth = expr.depth();
                    let matched = expr.matches(&socket, &extras);
                    let compiled = super::super::bytecode::compile(&expr).is_ok();
                    drop(expr);
                    (depth, matched, compiled)
                })
                .unwrap()
                .join()
                .unwrap();
            assert_eq!(outcome.0, depth);
            assert!(outcome.2, "compiles");
        }
    }

    #[test]
    fn parentheses_may_touch_words() {
        assert_eq!(
            words("(sport 1) or (dport 2)"),
            ["(", "sport", "1", ")", "or", "(", "dport", "2", ")"]
        );
        assert_eq!(parse(&[], &Fixed).unwrap(), None);
    }
}
