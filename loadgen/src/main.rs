//! The `loadgen` binary: parses the command line and hands over to the library.
//! Exit codes are documented in [`loadgen::exit`] and in `loadgen --help`.

fn main() {
    std::process::exit(loadgen::cli::main());
}
