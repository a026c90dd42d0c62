//! Parses ss's filter expressions as ss reads them: `and`/`&`/`&&`,
//! `or`/`|`/`||` and juxtaposition all bind equally, left to right (so
//! `a or b and c` is `(a or b) and c`); `not`/`!` binds to the next term.
//! Errors name the offending token by its position.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Cond, Expr, HostCond, Prefix, Side};
use crate::model::Netid;

/// A filter that does not parse: what was expected, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter: {message} at token {position} (in '{expression}')")]
pub struct FilterError {
    pub message: String,
    /// 1-based; one past the last token when the expression ended early.
    pub position: usize,
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
    let mut parser = Parser { tokens, at: 0, resolver, mixes_and_or: false };
    let expr = parser.expr_list()?;
    if parser.at < tokens.len() {
        return Err(parser.error(format!("unexpected '{}'", tokens[parser.at])));
    }
    Ok(Some(Parsed { expr, mixes_and_or: parser.mixes_and_or }))
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    resolver: &'a dyn Resolver,
    mixes_and_or: bool,
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

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<&str> {
        let token = self.tokens.get(self.at).map(String::as_str);
        self.at += 1;
        token
    }

    fn error(&self, message: String) -> FilterError {
        FilterError { message, position: self.at + 1, expression: self.tokens.join(" ") }
    }

    /// The words before the current token, for messages: `'sport ='`.
    fn context(&self, from: usize) -> String {
        self.tokens[from..self.at.min(self.tokens.len())].join(" ")
    }

    fn expr_list(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.term()?;
        let (mut saw_and, mut saw_or) = (false, false);
        while let Some(token) = self.peek().map(str::to_owned) {
            let token = token.as_str();
            if token == ")" {
                break;
            }
            let combine: fn(Box<Expr>, Box<Expr>) -> Expr = if is_or(token) {
                self.at += 1;
                saw_or = true;
                Expr::Or
            } else {
                if is_and(token) {
                    self.at += 1;
                }
                saw_and = true;
                Expr::And
            };
            self.mixes_and_or |= saw_and && saw_or;
            let right = self.term()?;
            left = combine(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, FilterError> {
        let start = self.at;
        let Some(token) = self.next().map(str::to_owned) else {
            self.at = start;
            return Err(self.error("expected a condition".into()));
        };
        match token.as_str() {
            "(" => {
                let inner = self.expr_list()?;
                match self.next() {
                    Some(")") => Ok(inner),
                    _ => {
                        self.at -= 1;
                        Err(self.error("expected ')'".into()))
                    }
                }
            }
            t if is_not(t) => Ok(Expr::Not(Box::new(self.term()?))),
            "sport" | "dport" => self.port_condition(&token, start),
            "src" | "dst" => self.host_condition(&token, start),
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
        let mut conditions = prefixes
            .into_iter()
            .map(|prefix| Expr::Cond(Cond::Host(side, HostCond { prefix, port })));
        let first =
            conditions.next().ok_or_else(|| self.error(format!("'{addr}' has no address")))?;
        Ok(conditions.fold(first, |all, one| Expr::Or(Box::new(all), Box::new(one))))
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

fn is_keyword(token: &str) -> bool {
    matches!(
        token,
        "(" | ")" | "sport" | "dport" | "src" | "dst" | "dev" | "fwmark" | "cgroup" | "autobound"
    ) || is_and(token)
        || is_or(token)
        || is_not(token)
        || operator(token).is_some()
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
        let left_first = Expr::And(
            Box::new(Expr::Or(Box::new(a.clone()), Box::new(b.clone()))),
            Box::new(c.clone()),
        );
        assert_eq!(parsed("sport 1 or sport 2 and sport 3"), left_first);
        assert_eq!(parsed("sport 1 || sport 2 sport 3"), left_first, "juxtaposition is and");
        let grouped = Expr::Or(Box::new(a), Box::new(Expr::And(Box::new(b), Box::new(c))));
        assert_eq!(parsed("sport 1 | (sport 2 && sport 3)"), grouped);
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

    #[test]
    fn parentheses_may_touch_words() {
        assert_eq!(
            words("(sport 1) or (dport 2)"),
            ["(", "sport", "1", ")", "or", "(", "dport", "2", ")"]
        );
        assert_eq!(parse(&[], &Fixed).unwrap(), None);
    }
}
