//! Inner loops without a socket load: decoding recorded sock_diag replies
//! and evaluating a filter, on fixtures/netns-basic's recording repeated
//! to 10,000 sockets. `cargo bench --bench decode_and_filter`.

#![allow(clippy::expect_used)] // a benchmark without its fixture cannot run

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use portwatch::filter::Extras;
use portwatch::filter::parse;
use portwatch::fuzzing::Offline;
use portwatch::model::{IpFamily, Netid, Socket, StateSet};
use portwatch::source::{self, Extensions, Selection};

const SOCKETS: usize = 10_000;

/// The recording's first TCP dump, its socket messages repeated.
fn recording() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/netns-basic/ss-tan.dump");
    let dump = std::fs::read(path).expect("fixture");
    let first = u32::from_ne_bytes(dump[..4].try_into().expect("length")) as usize;
    let mut bytes = dump[..first].repeat(SOCKETS);
    bytes.extend_from_slice(&[20, 0, 0, 0, 3, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

fn selection() -> Selection {
    Selection {
        netids: vec![Netid::Tcp],
        families: IpFamily::ALL.to_vec(),
        optional: Vec::new(),
        states: StateSet::all(),
        categories: Vec::new(),
        extensions: Extensions::default(),
        details: false,
    }
}

fn decode(c: &mut Criterion) {
    let bytes = recording();
    let selection = selection();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(SOCKETS as u64));
    group.bench_function("sock_diag replies", |b| {
        b.iter(|| {
            let mut count = 0usize;
            source::list_recording(black_box(&bytes), &selection, None, &mut |_| {
                count += 1;
                Ok(())
            })
            .expect("replay");
            count
        })
    });
    group.finish();
}

fn filter(c: &mut Criterion) {
    let mut sockets: Vec<Socket> = Vec::new();
    source::list_recording(&recording(), &selection(), None, &mut |s| {
        sockets.push(s);
        Ok(())
    })
    .expect("replay");
    let words = ["( dport = :22 or sport >= :1024 ) and not src 10.0.0.0/8".to_owned()];
    let expr =
        parse::parse(&parse::tokenize(&words), &Offline).expect("parse").expect("expression").expr;
    let extras = Extras { ephemeral_ports: (32768, 60999) };
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(sockets.len() as u64));
    group.bench_function("evaluate", |b| {
        b.iter(|| sockets.iter().filter(|s| expr.matches(black_box(s), &extras)).count())
    });
    group.finish();
}

criterion_group!(benches, decode, filter);
criterion_main!(benches);
