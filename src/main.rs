use std::io::{self, BufWriter};

fn main() -> std::process::ExitCode {
    let stdout = io::stdout();
    let mut stdout = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut stderr = io::stderr();
    let os = portwatch::sys::Os::host();
    let code = portwatch::run(std::env::args_os(), &os, &mut stdout, &mut stderr);
    code.into()
}
