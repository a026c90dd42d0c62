//! A recording (`--from FILE`), any bytes: decoded, selected and rendered
//! as JSON, it must end in rows or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    portwatch::fuzzing::replay(bytes);
});
