//! The firewall readers (nft's JSON, iptables' save format) and the
//! evaluator over whatever they read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    portwatch::fuzzing::firewall(&String::from_utf8_lossy(bytes));
});
