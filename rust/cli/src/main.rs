//! The `brightseg` binary: the allocator and the entry point; everything else is in the
//! `brightseg_cli` library (src/lib.rs).

#![forbid(unsafe_code)]

use std::process::ExitCode;

/// mimalloc hands freed memory back to the system; with glibc's per-thread arenas the working
/// memory of the inference workers stayed resident while objects were labelled, raising the peak.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    brightseg_cli::main()
}
