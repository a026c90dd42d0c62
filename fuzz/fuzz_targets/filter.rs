//! Filter words, any text: parsed, compiled to bytecode and evaluated.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    portwatch::fuzzing::filter(&String::from_utf8_lossy(bytes));
});
