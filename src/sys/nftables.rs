//! nftables' set elements straight from the kernel (NFNL_SUBSYS_NFTABLES,
//! NFT_MSG_GETSETELEM): `nft` spends seconds turning a 100,000-element
//! interval set into text, while the kernel's dump takes milliseconds. Only
//! elements are read here; the ruleset's structure still comes from `nft -j`.

use std::io;

use super::SetElement;

const NETLINK_NETFILTER: isize = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETSETELEM: u16 = 13;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
const NFTA_DATA_VALUE: u16 = 1;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;
const HEADER: usize = 16;
const NFGENMSG: usize = 4;
/// A dump larger than this many elements is not a firewall's set but an
/// attack on the reader.
const ELEMENTS_LIMIT: usize = 10_000_000;

/// The nfproto number of an nft family name.
fn nfproto(family: &str) -> io::Result<u8> {
    match family {
        "inet" => Ok(1),
        "ip" => Ok(2),
        "arp" => Ok(3),
        "netdev" => Ok(5),
        "bridge" => Ok(7),
        "ip6" => Ok(10),
        other => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("family {other}"))),
    }
}

pub fn set_elements(family: &str, table: &str, set: &str) -> io::Result<Vec<SetElement>> {
    let mut socket = netlink_sys::Socket::new(NETLINK_NETFILTER)?;
    socket.bind_auto()?;
    socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
    let request = request(nfproto(family)?, table, set);
    socket.send(&request, 0)?;
    let mut elements = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let mut window = &mut buf[..];
        let len = socket.recv(&mut window, libc::MSG_TRUNC)?;
        if len > buf.len() {
            return Err(io::Error::other("a netlink datagram larger than 1 MiB"));
        }
        if read_datagram(&buf[..len], &mut elements)? {
            return Ok(elements);
        }
    }
}

fn request(family: u8, table: &str, set: &str) -> Vec<u8> {
    let mut body = vec![family, 0, 0, 0];
    for (kind, text) in [(NFTA_SET_ELEM_LIST_TABLE, table), (NFTA_SET_ELEM_LIST_SET, set)] {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        push_attribute(&mut body, kind, &value);
    }
    let kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM;
    let mut message = Vec::with_capacity(HEADER + body.len());
    let len = u32::try_from(HEADER + body.len()).unwrap_or(u32::MAX);
    message.extend_from_slice(&len.to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&body);
    message
}

fn push_attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let len = u16::try_from(4 + value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// Reads one datagram's messages into `elements`; answers whether the dump
/// is done.
fn read_datagram(mut datagram: &[u8], elements: &mut Vec<SetElement>) -> io::Result<bool> {
    while datagram.len() >= HEADER {
        let len = u32_at(datagram, 0) as usize;
        let kind = u16::from_ne_bytes([datagram[4], datagram[5]]);
        if len < HEADER || len > datagram.len() {
            return Err(io::Error::other("a malformed netlink message"));
        }
        let payload = &datagram[HEADER..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = payload.get(..4).map_or(0, |bytes| {
                    i32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
                });
                if errno == 0 {
                    return Ok(true);
                }
                return Err(io::Error::from_raw_os_error(-errno));
            }
            _ => read_elements(payload.get(NFGENMSG..).unwrap_or_default(), elements)?,
        }
        datagram = &datagram[len.next_multiple_of(4).min(datagram.len())..];
    }
    Ok(false)
}

fn read_elements(attributes: &[u8], elements: &mut Vec<SetElement>) -> io::Result<()> {
    for (kind, list) in Attributes(attributes) {
        if kind != NFTA_SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for (kind, element) in Attributes(list) {
            if kind != NFTA_LIST_ELEM {
                continue;
            }
            if elements.len() >= ELEMENTS_LIMIT {
                return Err(io::Error::other("more than 10,000,000 set elements"));
            }
            elements.push(element_of(element));
        }
    }
    Ok(())
}

fn element_of(attributes: &[u8]) -> SetElement {
    let mut element = SetElement::default();
    for (kind, value) in Attributes(attributes) {
        match kind {
            NFTA_SET_ELEM_KEY => element.key = data_value(value),
            NFTA_SET_ELEM_KEY_END => element.key_end = Some(data_value(value)),
            NFTA_SET_ELEM_FLAGS if value.len() >= 4 => {
                let flags = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                element.interval_end = flags & NFT_SET_ELEM_INTERVAL_END != 0;
            }
            _ => {}
        }
    }
    element
}

/// The bytes of an nft_data's NFTA_DATA_VALUE.
fn data_value(nested: &[u8]) -> Vec<u8> {
    Attributes(nested)
        .find(|(kind, _)| *kind == NFTA_DATA_VALUE)
        .map(|(_, value)| value.to_vec())
        .unwrap_or_default()
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The netlink attributes of a buffer, as (type, value); a malformed one
/// ends the walk.
struct Attributes<'a>(&'a [u8]);

impl<'a> Iterator for Attributes<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.0;
        if bytes.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > bytes.len() {
            self.0 = &[];
            return None;
        }
        self.0 = &bytes[len.next_multiple_of(4).min(bytes.len())..];
        Some((kind, &bytes[4..len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(kind: u16, inner: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_attribute(&mut out, kind | 0x8000, inner);
        out
    }

    #[test]
    fn an_element_list_reads_back() {
        let mut key = Vec::new();
        push_attribute(&mut key, NFTA_DATA_VALUE, &[192, 0, 2, 0]);
        let mut element = nested(NFTA_SET_ELEM_KEY, &key);
        push_attribute(&mut element, NFTA_SET_ELEM_FLAGS, &1u32.to_be_bytes());
        let list = nested(NFTA_SET_ELEM_LIST_ELEMENTS, &nested(NFTA_LIST_ELEM, &element));
        let mut elements = Vec::new();
        read_elements(&list, &mut elements).unwrap();
        assert_eq!(
            elements,
            [SetElement { key: vec![192, 0, 2, 0], key_end: None, interval_end: true }]
        );
    }

    #[test]
    fn malformed_attributes_end_the_walk() {
        assert_eq!(Attributes(&[200, 0, 1, 0, 1, 2]).count(), 0);
        assert_eq!(Attributes(&[2, 0, 1, 0]).count(), 0);
        let mut elements = Vec::new();
        assert!(read_datagram(&[20, 0, 0, 0, 12, 10, 0, 0], &mut elements).is_ok());
        assert!(
            read_datagram(&[8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &mut elements)
                .is_err()
        );
    }
}
