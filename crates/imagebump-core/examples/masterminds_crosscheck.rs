//! Reads `constraint<TAB>version` lines (or, with `--tags`, one tag per line) and prints
//! what imagebump decides, in the same format as the Go programs under
//! `scripts/crosscheck/`, so `scripts/crosscheck.sh` can diff the two. A development
//! tool: it compares our constraint engine with the Masterminds/semver Debian packages.

use std::io::{BufRead, Write};

use imagebump_core::policy::constraint::{parse_tag, Constraints};

fn main() {
    let tags_mode = std::env::args().any(|a| a == "--tags");
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        if tags_mode {
            let show =
                |loose| parse_tag(&line, loose).map_or("none".to_string(), |v| v.to_string());
            writeln!(out, "{line}\t{}\t{}", show(true), show(false)).expect("stdout");
            continue;
        }
        let Some((c, v)) = line.split_once('\t') else {
            continue;
        };
        let result = match (Constraints::parse(c), semver::Version::parse(v)) {
            (Err(_), _) => "err".to_string(),
            (Ok(cs), Ok(ver)) => cs.matches(&ver).to_string(),
            (Ok(_), Err(_)) => "badversion".to_string(),
        };
        writeln!(out, "{c}\t{v}\t{result}").expect("stdout");
    }
}
