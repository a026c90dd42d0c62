//! nft's NAT statements and NAT maps: where `dnat` and `redirect` send a
//! connection (`dnat to 172.17.0.2:80`, `redirect to :8080`, `dnat ip to
//! tcp dport map @hostports`), so that forwards can be listed.

use std::net::IpAddr;

use serde_json::Value;

use super::super::ruleset::{Nat, NatMapRef, NatTarget, NatTo, Values};
use super::{Kind, Left, read_left, values};

/// A `dnat`, `redirect`, `snat`, `masquerade` or `tproxy` statement.
pub(super) fn statement(kind: &str, body: &Value) -> Nat {
    let to = match kind {
        "dnat" | "redirect" => destination(body),
        _ => NatTo::Unread,
    };
    Nat { kind: kind.to_owned(), to }
}

fn destination(body: &Value) -> NatTo {
    let ports = match body.get("port") {
        None => None,
        Some(port) => match ports(port) {
            Some(ports) => Some(ports),
            None => return NatTo::Unread,
        },
    };
    match body.get("addr") {
        None => NatTo::One(NatTarget { addr: None, ports }),
        Some(Value::String(text)) => match text.parse::<IpAddr>() {
            Ok(addr) => NatTo::One(NatTarget { addr: Some(addr), ports }),
            Err(_) => NatTo::Unread,
        },
        Some(addr) => match (addr.get("map"), ports) {
            (Some(map), None) => mapped(map),
            _ => NatTo::Unread,
        },
    }
}

/// `{"map": {"key": ..., "data": "@name" | {"set": [[key, target], ...]}}}`.
fn mapped(map: &Value) -> NatTo {
    let Some(Left::Key(key, kind)) = map.get("key").map(read_left) else { return NatTo::Unread };
    let data = map.get("data");
    if let Some(name) = data.and_then(Value::as_str).and_then(|text| text.strip_prefix('@')) {
        return NatTo::Map { key, map: NatMapRef::Named(name.to_owned()) };
    }
    let elements = data.and_then(|data| data.get("set")).and_then(Value::as_array);
    match elements.map(|list| targets(list, kind)) {
        Some(Ok(literal)) => NatTo::Map { key, map: NatMapRef::Literal(literal) },
        _ => NatTo::Unread,
    }
}

/// A named map's elements when its data is a NAT destination (an address,
/// an address and a port, or a port); `None` for any other map.
pub(super) fn map_elements(
    elements: &[Value],
    kind: Kind,
    data: &Value,
) -> Option<Result<Vec<(Values, NatTarget)>, String>> {
    let data_type = super::map_data_type(data);
    let is_target = matches!(
        data_type.as_str(),
        "ipv4_addr"
            | "ipv6_addr"
            | "inet_service"
            | "ipv4_addr . inet_service"
            | "ipv6_addr . inet_service"
    );
    is_target.then(|| targets(elements, kind))
}

fn targets(list: &[Value], kind: Kind) -> Result<Vec<(Values, NatTarget)>, String> {
    let mut out = Vec::with_capacity(list.len());
    for element in list {
        let pair = element.as_array().filter(|pair| pair.len() == 2).ok_or("malformed element")?;
        let target = target(&pair[1]).ok_or("a destination that is not an address or port")?;
        out.push((values(&pair[0], kind)?, target));
    }
    Ok(out)
}

/// `"10.0.0.2"`, `8080`, or `{"concat": ["10.0.0.2", 80]}`.
fn target(value: &Value) -> Option<NatTarget> {
    if let Some(text) = value.as_str() {
        return Some(NatTarget { addr: Some(text.parse().ok()?), ports: None });
    }
    if let Some(port) = value.as_u64() {
        let port = u16::try_from(port).ok()?;
        return Some(NatTarget { addr: None, ports: Some((port, port)) });
    }
    let [addr, port] = value.get("concat")?.as_array()?.as_slice() else { return None };
    let port = u16::try_from(port.as_u64()?).ok()?;
    Some(NatTarget { addr: Some(addr.as_str()?.parse().ok()?), ports: Some((port, port)) })
}

/// `80` or `{"range": [8000, 8010]}`.
fn ports(value: &Value) -> Option<(u16, u16)> {
    let port = |value: &Value| u16::try_from(value.as_u64()?).ok();
    if let Some(single) = port(value) {
        return Some((single, single));
    }
    let [low, high] = value.get("range")?.as_array()?.as_slice() else { return None };
    Some((port(low)?, port(high)?))
}
