//! `audit --compare-scan FILE`: a scan of this host taken from elsewhere
//! (`portwatch scan --json`), held against what the firewall evaluation
//! predicts for each listener. Where they disagree, one of them is wrong
//! about the network: traffic that bypasses the rules read (a published
//! container port, NAT), or a filter upstream of this host.

use super::baseline::Comparison;
use super::exposure::accepts_tcp;
use super::rules::finding;
use crate::model::audit::Listener;
use crate::model::firewall::Verdict;
use crate::model::scan::{HostScan, PortState, ScannedPort};

/// Reads a scan's JSON (`portwatch scan --json`): an array of hosts.
pub fn parse(text: &str) -> Result<Vec<HostScan>, String> {
    serde_json::from_str(text)
        .map_err(|e| format!("not a portwatch scan (`portwatch scan --json`): {e}"))
}

/// Every scanned port of every host in the scan whose address a TCP
/// listener of `listeners` accepts, compared with the listener's verdict.
pub fn compare(scan: &[HostScan], file: &str, listeners: &[Listener]) -> Comparison {
    let mut comparison = Comparison { findings: Vec::new(), limits: Vec::new() };
    let mut depends_on_source = 0;
    let mut compared = 0;
    for host in scan {
        for port in &host.ports {
            let Some(listener) = listeners.iter().find(|l| accepts_tcp(l, host.address, port.port))
            else {
                if port.state == PortState::Open {
                    comparison.limits.push(format!(
                        "{file}: {}:{} was open to the scan, but no TCP listener here accepts \
                         it: forwarded elsewhere (NAT, a container's namespace), or not this host",
                        host.address, port.port
                    ));
                }
                continue;
            };
            let Some(verdict) = listener.exposure.firewall.as_ref().map(|f| f.verdict) else {
                continue;
            };
            compared += 1;
            match disagreement(verdict, port) {
                Some(Disagreement::OpenThoughBlocked) => {
                    let why = format!(
                        "the firewall evaluation says {} blocks new connections ({}), but the \
                         scan in {file} found {}:{} open",
                        describe(listener),
                        verdict.as_str(),
                        host.address,
                        port.port
                    );
                    let remedy = "find the path the evaluation does not see: a DNAT or a \
                        published container port (iptables -t nat -L, docker ps), a ruleset in \
                        another namespace, or rules changed since the scan"
                        .to_owned();
                    comparison.findings.push(finding(
                        "scan-open-but-blocked",
                        listener,
                        why,
                        remedy,
                    ));
                }
                Some(Disagreement::FilteredThoughOpen) => {
                    let why = format!(
                        "the firewall evaluation says {} is open ({}), but the scan in {file} \
                         found {}:{} filtered ({})",
                        describe(listener),
                        verdict.as_str(),
                        host.address,
                        port.port,
                        port.reason.as_str()
                    );
                    let remedy = "a filter between the scanner and this host drops it (a \
                        cloud security group, a router, the scanner's own rules): if the port \
                        should be reachable, look there; if not, close it here too"
                        .to_owned();
                    comparison.findings.push(finding(
                        "scan-filtered-but-open",
                        listener,
                        why,
                        remedy,
                    ));
                }
                None if verdict == Verdict::Restricted || verdict == Verdict::Unknown => {
                    depends_on_source += 1;
                }
                None => {}
            }
        }
    }
    if depends_on_source > 0 {
        comparison.limits.push(format!(
            "{file}: {depends_on_source} scanned port(s) have a restricted or unknown verdict, \
             which depends on where the scan came from: not compared"
        ));
    }
    if compared == 0 {
        comparison.limits.push(format!(
            "{file}: no scanned port matched a listener with a firewall verdict here"
        ));
    }
    comparison
}

enum Disagreement {
    OpenThoughBlocked,
    FilteredThoughOpen,
}

fn disagreement(verdict: Verdict, port: &ScannedPort) -> Option<Disagreement> {
    match (verdict, port.state) {
        (Verdict::Blocked | Verdict::LocalOnly, PortState::Open) => {
            Some(Disagreement::OpenThoughBlocked)
        }
        (Verdict::Open | Verdict::OpenRateLimited, PortState::Filtered) => {
            Some(Disagreement::FilteredThoughOpen)
        }
        _ => None,
    }
}

fn describe(listener: &Listener) -> String {
    format!("{}:{}/tcp", listener.socket.local.addr, listener.socket.local.port)
}
