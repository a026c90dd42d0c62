//! `audit --why`: the path a new connection to a listener takes through
//! the chains, rule by rule, for one source of each region the ruleset
//! tells apart, and where it is decided.

use std::net::IpAddr;

use super::eval::{self, Probe, Step};
use super::ruleset::Ruleset;
use super::space::address_text;
use super::verdict::{self, destination_classes, interface_classes};
use crate::model::audit::{BindScope, Exposure};
use crate::model::firewall::Verdict;
use crate::model::{InetSocket, IpFamily, Transport};

/// Regions traced per arrival class; a blocklist splits the space into
/// thousands, and their paths differ only in the set that matched.
const PATHS_SHOWN: usize = 8;

/// One traced path: who sends, how it ends, and the steps on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub family: IpFamily,
    /// `None`: any interface the ruleset does not name.
    pub interface: Option<String>,
    /// `None`: any local address (the ruleset tells none apart).
    pub destination: Option<IpAddr>,
    /// The region's prefixes (the first few).
    pub sources: Vec<String>,
    /// The address traced.
    pub source: IpAddr,
    pub verdict: Verdict,
    pub steps: Vec<Step>,
}

/// Every path of a listener's new connections, and how many regions were
/// left untraced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    pub paths: Vec<Path>,
    pub untraced: usize,
}

pub fn explain(ruleset: &Ruleset, socket: &InetSocket, exposure: &Exposure) -> Explanation {
    let mut explanation = Explanation::default();
    if exposure.bind == BindScope::Loopback {
        return explanation;
    }
    let protocol = if socket.netid == Transport::Udp { 17 } else { 6 };
    let bound = match socket.local.addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    for family in &exposure.families {
        let v4 = *family == IpFamily::Inet;
        let destinations = match exposure.bind {
            BindScope::Address => vec![verdict::Destination { addr: bound, named: true }],
            _ => destination_classes(ruleset, v4, protocol),
        };
        let named = exposure.bind == BindScope::Address || destinations.len() > 1;
        for interface in interface_classes(ruleset) {
            for destination in &destinations {
                let probe = Probe {
                    v4,
                    protocol,
                    destination: destination.addr,
                    port: socket.local.port,
                    interface: interface.clone(),
                    forwarded: None,
                };
                let regions = verdict::regions(eval::evaluate(ruleset, &probe));
                explanation.untraced += regions.len().saturating_sub(PATHS_SHOWN);
                for (sources, kind) in regions.into_iter().take(PATHS_SHOWN) {
                    let Some(first) = sources.first() else { continue };
                    let Ok(source) = address_text(first, v4).parse::<IpAddr>() else { continue };
                    let (steps, _) = eval::trace(ruleset, &probe, source);
                    explanation.paths.push(Path {
                        family: *family,
                        interface: interface.clone(),
                        destination: named.then_some(destination.addr),
                        sources: super::space::prefixes(&sources, v4)
                            .take(4)
                            .map(|(start, len)| format!("{}/{len}", address_text(start, v4)))
                            .collect(),
                        source,
                        verdict: kind,
                        steps,
                    });
                }
            }
        }
    }
    explanation
}
