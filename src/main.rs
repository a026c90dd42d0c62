use std::io::{self, BufWriter};

fn main() -> std::process::ExitCode {
    let stdout = io::stdout();
    let mut stdout = BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut stderr = io::stderr();
    let code =
        portwatch::run(std::env::args_os(), &portwatch::sys::HostSystem, &mut stdout, &mut stderr);
    code.into()
}
