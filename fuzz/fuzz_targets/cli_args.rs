//! Command-line parsing (every subcommand, its value parsers: backend, shard, memory budget,
//! naming) on arbitrary arguments: a command or a usage error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Arguments separated by NUL bytes, as the kernel hands them to a process.
    let args = std::iter::once("brightseg".to_owned()).chain(
        data.split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned()),
    );
    match brightseg_cli::parse(args) {
        Ok(cli) => {
            let _ = format!("{cli:?}");
        }
        Err(e) => {
            let _ = e.render().to_string();
        }
    }
});
