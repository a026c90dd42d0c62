//! The filter language: the manual page's FILTERS and README's "Filters".

use super::text::{Block, Table};

/// One row of the grammar: a condition's syntax and what it selects.
#[derive(Debug)]
pub struct Condition {
    pub syntax: &'static str,
    pub meaning: &'static str,
}

const fn condition(syntax: &'static str, meaning: &'static str) -> Condition {
    Condition { syntax, meaning }
}

pub const CONDITIONS: &[Condition] = &[
    condition(
        "`sport OP PORT`, `dport OP PORT`",
        "local / peer port. OP: `=` `==` `eq` (or none), `!=` `ne` `neq`, `<` `lt`, `<=` `le` \
         `leq`, `>` `gt`, `>=` `ge` `geq`. PORT: `22`, `:22`, `:ssh` (a service name for the \
         listed protocols; an error if TCP and UDP disagree), `*`",
    ),
    condition(
        "`src HOST`, `dst HOST` (or `src = HOST`)",
        "local / peer address: `10.0.0.1`, `10.0.0.0/8`, short forms (`193.233.7/24`, `127/8`), \
         `[::1]`, `[fe80::/10]`, `*`, a host name (its addresses), each with an optional \
         `:PORT` (`10.0.0.1:22`, `[::1]:ssh`, `*:22`). IPv6 needs brackets",
    ),
    condition("`dev = NAME`, `dev != NAME`", "bound to an interface (name or index)"),
    condition(
        "`fwmark = MARK[/MASK]`, `fwmark != ...`",
        "`(SO_MARK & MASK) == MARK`; root only (the kernel wants CAP_NET_ADMIN)",
    ),
    condition(
        "`cgroup = PATH`, `cgroup != PATH`",
        "created in that cgroup v2 directory (below the cgroup2 mount)",
    ),
    condition("`autobound`", "the local port was chosen by the kernel"),
    condition("`and` `&` `&&` (or nothing), `or` `|` `||`, `not` `!`, `( ... )`", "combine"),
];

const EXAMPLES: &str = "\
portwatch -tan 'dport = :443 or sport = :22'
portwatch -tan state established 'dst 10.0.0.0/8 and not dport = :ssh'
portwatch -ua 'src [::1] or src 127.0.0.1'
portwatch -tln 'sport >= :1024 and sport < :49152'
portwatch -tn '( sport = :http or sport = :https ) and dst [2001:db8::/32]'
portwatch who nginx 'sport = :443'            # filters apply to who as well
echo 'dport = :5432  # postgres' > f && portwatch -tn -F f";

/// How ss reads an expression, which portwatch follows.
pub const READING_RULES: &[&str] = &[
    "**`and` and `or` have the same precedence and group left to right:** `sport = :22 or \
     dport = :22 and src 10.0.0.2` means `(sport = :22 or dport = :22) and src 10.0.0.2`, not \
     what most languages would read. portwatch prints a one-line note on stderr when an \
     expression mixes them without parentheses. Use parentheses.",
    "`not` applies to the next condition or parenthesised group only.",
    "An IPv4 rule also matches IPv4-mapped IPv6 sockets (`src 127.0.0.1` matches \
     `[::ffff:127.0.0.1]`); an IPv6 rule never matches an IPv4 socket. `src 0.0.0.0/0` \
     matches IPv4 (and mapped) sockets only; `src *` matches all.",
    "`src 0.0.0.0` (no `/len`) is the exact address 0.0.0.0, that is wildcard-bound sockets.",
    "Without brackets, the text after the last `:` is a port, so write IPv6 addresses in \
     brackets (`src [::1]`).",
    "ss needs blanks around `(` and `)`; portwatch also accepts them touching a word \
     (`(sport = :22)`).",
    "`autobound` is checked twice, as ss does: by the kernel, and against the ephemeral port \
     range (`/proc/sys/net/ipv4/ip_local_port_range`), so a connection accepted on a \
     kernel-chosen listening port outside that range does not count. In a replay only the \
     range check is possible.",
    "Errors point at the token: `portwatch: filter: expected a port after 'sport =' at token 3 \
     (in 'sport =')`, exit 2.",
];

pub fn conditions_table() -> Table {
    Table {
        header: &["condition", "meaning"],
        rows: CONDITIONS
            .iter()
            .map(|row| vec![row.syntax.to_owned(), row.meaning.to_owned()])
            .collect(),
    }
}

/// The section, in order.
pub fn section() -> Vec<Block> {
    vec![
        Block::Paragraph(
            "The words after the state words are an ss filter expression, accepted as ss \
             accepts it and giving the same rows (a test compares 80 expressions with the real \
             ss):",
        ),
        Block::Table(conditions_table()),
        Block::Example(EXAMPLES),
        Block::Paragraph(
            "The kernel does the filtering: the expression is compiled to inet_diag bytecode \
             and sent with each dump request, so only matching sockets cross into userspace \
             (`--debug-stats` shows the count received). The same expression is evaluated in \
             userspace, with the kernel's semantics, for `--from` recordings and for the \
             `/proc/net` fallback. Filters apply to every view, to JSON, and to `who`.",
        ),
        Block::Paragraph("How ss really reads expressions, which portwatch follows:"),
        Block::Bullets(READING_RULES),
    ]
}
