//! Property tests of tag selection: deterministic, independent of unrelated tags and of
//! where in the list the winner sits, and never choosing an excluded or artefact tag.

use imagebump_core::policy::constraint::Constraints;
use imagebump_core::policy::select::{Order, Selector, Strategy as Strat, TagFilter};
use proptest::prelude::*;

fn selector(strategy: Strat) -> Selector {
    Selector {
        strategy,
        filter: None,
        exclude: vec![regex::Regex::new("-debug$").unwrap()],
        loose: false,
        prerelease: false,
        allow_downgrade: false,
    }
}

fn strategies() -> Vec<Selector> {
    let mut out = vec![
        selector(Strat::Semver(Constraints::parse(">=1.0.0 <3.0.0").unwrap())),
        selector(Strat::Semver(Constraints::parse("^2.1 || ~0.3").unwrap())),
        selector(Strat::Alphabetical(Order::Asc)),
        selector(Strat::Alphabetical(Order::Desc)),
        selector(Strat::Numerical(Order::Asc)),
        selector(Strat::Numerical(Order::Desc)),
    ];
    let mut p = selector(Strat::Numerical(Order::Asc));
    p.filter = Some(TagFilter {
        pattern: regex::Regex::new(r"^main-[0-9a-f]+-(?P<ts>\d+)$").unwrap(),
        extract: Some("$ts".into()),
    });
    out.push(p);
    out
}

/// Tags shaped like real ones: versions, v-prefixed, prereleases, builds, numbers, CI tags,
/// artefacts and words.
fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..4, 0u8..5, 0u8..5).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        (0u8..4, 0u8..5, 0u8..5).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        (0u8..4, 0u8..5, 0u8..3).prop_map(|(a, b, c)| format!("{a}.{b}.0-rc.{c}")),
        (0u8..4, 0u8..5).prop_map(|(a, b)| format!("{a}.{b}.1+build{a}")),
        (0u16..500).prop_map(|n| n.to_string()),
        (0u32..0xffff, 1_600_000_000u64..1_600_000_100)
            .prop_map(|(h, t)| format!("main-{h:x}-{t}")),
        "[a-z]{1,6}",
        (0u8..4).prop_map(|a| format!("sha256-{a}.sig")),
        (0u8..4, 0u8..5).prop_map(|(a, b)| format!("{a}.{b}.0-debug")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn deterministic(tags in prop::collection::vec(tag(), 0..40)) {
        for s in strategies() {
            prop_assert_eq!(s.select(&tags, None), s.select(&tags, None));
        }
    }

    /// Adding tags the strategy drops never changes the choice.
    #[test]
    fn independent_of_unrelated_tags(
        tags in prop::collection::vec(tag(), 0..40),
        noise in prop::collection::vec(prop_oneof![
            Just("latest".to_string()),
            "[a-z]{2,5}-debug",
            (0u8..9).prop_map(|a| format!("sha256-{a}.att")),
        ], 0..10),
        at in 0usize..40,
    ) {
        for s in strategies() {
            // Words are candidates for alphabetical order; keep the noise truly unrelated.
            if matches!(s.strategy, Strat::Alphabetical(_)) {
                continue;
            }
            let mut mixed = tags.clone();
            for (i, n) in noise.iter().enumerate() {
                let pos = (at + i * 7) % (mixed.len() + 1);
                mixed.insert(pos, n.clone());
            }
            prop_assert_eq!(s.select(&tags, None), s.select(&mixed, None));
        }
    }

    /// The winner is the same wherever it sits, unless an equal value comes first.
    #[test]
    fn order_only_breaks_ties(tags in prop::collection::vec(tag(), 1..30)) {
        for s in strategies() {
            let mut rev = tags.clone();
            rev.reverse();
            let a = s.select(&tags, None);
            let b = s.select(&rev, None);
            match (a.chosen(), b.chosen()) {
                (None, None) => {}
                (Some(x), Some(y)) if x == y => {}
                (Some(x), Some(y)) => {
                    // A tie: each must rank equal to the other.
                    prop_assert!(matches!(s.select(&[y], Some(x)), imagebump_core::policy::select::Verdict::UpToDate(_)),
                        "{x} vs {y} are not equal under {:?}", s.strategy);
                }
                (x, y) => prop_assert!(false, "{x:?} vs {y:?}"),
            }
        }
    }

    /// Nothing excluded or signature-like is ever chosen.
    #[test]
    fn never_chooses_dropped_tags(tags in prop::collection::vec(tag(), 0..40)) {
        for s in strategies() {
            if let Some(t) = s.select(&tags, None).chosen() {
                prop_assert!(!t.ends_with(".sig") && !t.ends_with("-debug"), "{t}");
            }
        }
    }
}
