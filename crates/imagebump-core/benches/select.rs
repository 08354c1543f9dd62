//! Semver selection over 100k mixed tags (goal: ≤ 20 ms on a 2-core machine), next to a
//! baseline measured in the same run: one plain pass that only parses each tag with the
//! `semver` crate, the least any semver selection must do.
//!
//! Run: `cargo bench --bench select`

use criterion::{criterion_group, criterion_main, Criterion};
use imagebump_core::policy::constraint::Constraints;
use imagebump_core::policy::select::{Selector, Strategy};
use std::hint::black_box;

/// 100k tags shaped like a busy repository's: releases, prereleases, v-prefixed,
/// CI builds, cosign artefacts, `latest`.
fn mixed_tags() -> Vec<String> {
    let mut tags = Vec::with_capacity(100_000);
    let mut i: u64 = 0;
    while tags.len() < 100_000 {
        let (a, b, c) = (i % 7, (i / 7) % 40, (i / 280) % 60);
        tags.push(match i % 10 {
            0..=3 => format!("{a}.{b}.{c}"),
            4 => format!("v{a}.{b}.{c}"),
            5 => format!("{a}.{b}.{c}-rc.{}", i % 5),
            6 => format!(
                "main-{:08x}-{}",
                i.wrapping_mul(2654435761),
                1_700_000_000 + i
            ),
            7 => format!("sha256-{:064x}.sig", i),
            8 => format!("{a}.{b}"),
            _ => "latest".to_string(),
        });
        i += 1;
    }
    tags
}

fn bench(c: &mut Criterion) {
    let tags = mixed_tags();
    let selector = Selector {
        strategy: Strategy::Semver(Constraints::parse(">=2.0.0 <5.0.0 || ^6.1").unwrap()),
        filter: None,
        exclude: vec![regex::Regex::new("-debug$").unwrap()],
        loose: false,
        prerelease: false,
        allow_downgrade: false,
    };
    let mut g = c.benchmark_group("select_100k");
    g.sample_size(30);
    g.bench_function("imagebump_semver_select", |b| {
        b.iter(|| black_box(selector.select(black_box(&tags), Some("2.0.0"))))
    });
    g.bench_function("baseline_semver_parse_only", |b| {
        b.iter(|| {
            black_box(
                tags.iter()
                    .filter_map(|t| semver::Version::parse(t.strip_prefix('v').unwrap_or(t)).ok())
                    .max_by(|x, y| x.cmp_precedence(y)),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
