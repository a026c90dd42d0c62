//! The audit's JSON document (`portwatch audit --json`): the manual page's
//! AUDIT JSON and README's "Audit JSON". A key added to the report gets a
//! row here, and the same row in README (a test compares them).

use super::json_schema::{JsonKey, key, key_table};
use super::text::Block;

/// The keys of the report.
pub const REPORT_KEYS: &[JsonKey] = &[
    key(&["host"], "string", "the host name (the kernel's, for the namespace audited)"),
    key(&["time"], "string", "when the audit ran, RFC 3339 in UTC"),
    key(
        &["listeners"],
        "array",
        "every listening TCP and bound, unconnected UDP socket: the socket's keys as in `list \
         --json`, with `processes` when owners were looked up, and `exposure`",
    ),
    key(
        &["listeners[].exposure"],
        "object",
        r#"`{"bind": "loopback" | "address" | "wildcard", "families": ["inet", "inet6"], "firewall": {...}, "forwards": [...]}`: a dual-stack `*` listener lists both families; `forwards` only with `--all-netns`, for a listener of another namespace that forwards of portwatch's own namespace send to (a published container port), each as `list --forwards --json` writes it"#,
    ),
    key(
        &["listeners[].exposure.firewall"],
        "object",
        r#"what the live ruleset does to a new connection: `{"verdict": "open" | "open-rate-limited" | "restricted" | "blocked" | "local-only" | "unknown", "sources": ["192.0.2.0/24"], "interfaces": ["eth0"], "destinations": ["224.0.0.251"], "rule": {"backend": "nftables", "table": "inet filter", "chain": "input", "handle": 7, "text": "tcp dport 80 accept"}, "reason": "..."}`; `sources` are the prefixes it is open to, `interfaces` only when that depends on the interface, `destinations` only when only rules naming some local addresses admit it, `rule` the deciding rule (`line` instead of `handle` for iptables-legacy; `text` `policy drop` for a chain's policy), `reason` why (the construct when unknown); absent for a recording"#,
    ),
    key(&["findings"], "array", "most severe first (see below)"),
    key(
        &["summary"],
        "object",
        r#"`{"listeners": N, "by_exposure": {"wildcard": N, ...}, "findings": {"high": N, ...}}`"#,
    ),
    key(
        &["limits"],
        "array of strings",
        "what the audit could not check, and why (owners hidden, namespaces not entered, a \
         recording); when not empty, the exit status is 3 unless a finding reached `--fail-on`",
    ),
];

/// The keys of each finding.
pub const FINDING_KEYS: &[JsonKey] = &[
    key(&["rule"], "string", "the rule's stable id, such as `exposed-datastore`"),
    key(&["severity"], "string", "`info`, `low`, `medium`, `high` or `critical`"),
    key(&["title"], "string", "the rule's title"),
    key(
        &["message"],
        "string",
        "why this listener (or forward) is a finding, naming it and its holder",
    ),
    key(&["remedy"], "string", "what to do, from what is known: the unit, the bind, the port"),
    key(&["references"], "array of strings", "published checks of the same thing"),
    key(
        &["listener"],
        "object",
        "the listener, as in `listeners`; absent when the finding is about a forward",
    ),
    key(
        &["forward"],
        "object",
        "only for a finding about a port forward (`dangling-forward`, `forward-open-to-all`, \
         `forward-bypasses-input-firewall`, a port rule for a forward's target): the forward, \
         as `list --forwards --json` writes it",
    ),
    key(
        &["policy_line"],
        "number",
        "only with `--policy`: the line of the policy entry that matters",
    ),
];

/// The section, in order.
pub fn section() -> Vec<Block> {
    vec![
        Block::Paragraph(
            "`portwatch audit --json` writes one document; keys are always present unless \
             marked otherwise, and never change meaning.",
        ),
        Block::Table(key_table(REPORT_KEYS)),
        Block::Paragraph("Each finding:"),
        Block::Table(key_table(FINDING_KEYS)),
    ]
}
