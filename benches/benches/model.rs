//! Reading an app's convox.yml and checking it offline: parse + validate + rack
//! rules + link and env resolution, for the seed's example app and for generated
//! apps of 100, 1,000 and 10,000 services.

// criterion_group! generates undocumented items; a benchmark whose fixed input
// fails to check is itself broken, so unwrapping is the right reaction.
#![allow(missing_docs, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use convox_model::check::{check, parse};
use convox_model::name::Name;
use convox_model::params::RackParams;
use convox_model::rack::Rack;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const EXAMPLE: &str = "services:\n  web:\n    build: .\n    port: 3000\n    links:\n      - api\n  api:\n    build: ./api\n    port: 4000\n    internal: true\n";

/// `n` services: every third internal, every seventh without a port, each
/// linking to up to two earlier services that have a port.
fn generated(n: usize) -> String {
    let mut t = String::from("environment:\n  - SHARED=1\nservices:\n");
    let has_port = |i: usize| i % 7 != 6;
    for i in 0..n {
        t.push_str(&format!(
            "  svc{i}:\n    image: registry.example.com/svc:{i}\n"
        ));
        if has_port(i) {
            t.push_str(&format!("    port: {}\n", 3000 + i % 1000));
        }
        if i % 3 == 0 {
            t.push_str("    internal: true\n");
        }
        let links: Vec<String> = [i.wrapping_sub(1), i.wrapping_sub(5)]
            .into_iter()
            .filter(|j| *j < i && has_port(*j))
            .map(|j| format!("svc{j}"))
            .collect();
        if !links.is_empty() {
            t.push_str(&format!("    links: [{}]\n", links.join(", ")));
        }
        t.push_str("    scale: 1-3\n    health: /health\n    environment:\n      - PORT=3000\n");
    }
    t
}

fn bench(c: &mut Criterion) {
    let rack = Rack::offline(
        Name::new("production").unwrap(),
        RackParams::new(true, false).unwrap(),
        None,
    );
    let app = Name::new("backend").unwrap();
    let env = BTreeMap::new();

    let mut g = c.benchmark_group("check");
    g.throughput(Throughput::Elements(2));
    g.bench_function("example", |b| {
        b.iter(|| check(black_box(EXAMPLE), &rack, &app, &env).unwrap())
    });
    for n in [100usize, 1_000, 10_000] {
        let text = generated(n);
        assert!(check(&text, &rack, &app, &env).is_ok());
        g.throughput(Throughput::Elements(n as u64));
        if n >= 10_000 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::new("services", n), &text, |b, text| {
            b.iter(|| check(black_box(text), &rack, &app, &env).unwrap())
        });
    }
    g.finish();

    let mut g = c.benchmark_group("parse");
    let n = 1_000usize;
    let text = generated(n);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_with_input(BenchmarkId::new("services", n), &text, |b, text| {
        b.iter(|| parse(black_box(text), &env).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
