//! Benchmarks for the convox workspace live in `benches/`: `cargo bench -p convox-benches`.
