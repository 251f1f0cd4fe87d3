//! The `convox` command-line tool: see `convox --help`.

fn main() {
    std::process::exit(convox_examples::main());
}
