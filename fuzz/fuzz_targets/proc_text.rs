//! The text parsers: /proc/net tables, /proc/PID/cgroup, /etc/services.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    portwatch::fuzzing::proc_text(&String::from_utf8_lossy(bytes));
});
