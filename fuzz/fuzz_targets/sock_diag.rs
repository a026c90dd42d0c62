//! The sock_diag reply decoders of every family, and the views of what
//! they decode.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    portwatch::fuzzing::sock_diag(bytes);
});
