//! Benchmarks for the convox workspace live in `benches/`.
