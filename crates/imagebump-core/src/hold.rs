//! Holds that live in git: the `# imagebump: hold [until YYYY-MM-DD] [reason]` comment on
//! the line of an image value. Pure: the lines come from the editors ([`Edited::lines`]),
//! and today's date is passed in — core reads no clock.
//!
//! The marker is a YAML comment (a `#` at the start of a line or after a space, outside
//! quotes) whose text starts with `imagebump: hold`. After it, `until YYYY-MM-DD` (the
//! last day the hold applies) and then free text, the reason. A hold whose `until` is
//! before today is expired and ignored; a malformed `until` is an error naming the line,
//! never ignored.
//!
//! [`Edited::lines`]: crate::edit::Edited::lines

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::decision::ImageId;
use crate::edit::{EditError, Update};
use crate::plan::{edit_claimed, FileSource, Outcome, Plan, PlannedChange, ReadError};
use crate::policy::{claims, PolicySet, Target};

/// The text a marker comment starts with (after `# `).
pub const MARKER: &str = "imagebump: hold";

/// A calendar date, `YYYY-MM-DD`, ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (a real day of the Gregorian calendar).
    pub fn parse(s: &str) -> Result<Date, String> {
        let bad = || format!("{s:?} is not a date: write YYYY-MM-DD, e.g. 2026-12-24");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u16, String> {
            let t = &s[r];
            if !t.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse().map_err(|_| bad())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if day == 0 || day > days {
            return Err(bad());
        }
        Ok(Date {
            year,
            month: month as u8,
            day: day as u8,
        })
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A hold marker found on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// 1-based line.
    pub line: usize,
    /// The last day it holds, when given.
    pub until: Option<Date>,
    /// The free text after it, when given.
    pub reason: Option<String>,
}

impl Hold {
    /// True when the hold applies on `today` (`None`: no date known, every hold applies).
    pub fn live(&self, today: Option<Date>) -> bool {
        match (self.until, today) {
            (Some(u), Some(t)) => u >= t,
            _ => true,
        }
    }
}

/// The marker comment for a hold: `# imagebump: hold [until D] [reason]`.
pub fn marker_text(until: Option<Date>, reason: Option<&str>) -> String {
    let mut s = format!("# {MARKER}");
    if let Some(u) = until {
        s.push_str(&format!(" until {u}"));
    }
    if let Some(r) = reason.map(str::trim).filter(|r| !r.is_empty()) {
        s.push(' ');
        s.push_str(r);
    }
    s
}

/// Byte offset in `line` where its comment starts (`#` at the start or after a space or
/// tab, outside quoted scalars), if any.
fn comment_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(b'"') if c == b'\\' => i += 1,
            Some(b'"') if c == b'"' => quote = None,
            Some(b'\'') if c == b'\'' => {
                if b.get(i + 1) == Some(&b'\'') {
                    i += 1;
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => {
                let token_start = i == 0 || b" \t[{,:-".contains(&b[i - 1]);
                if (c == b'"' || c == b'\'') && token_start {
                    quote = Some(c);
                } else if c == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// The hold marker of one line (without its line break), if its comment is one; an error
/// (in words) when the marker's `until` is not a date.
pub fn parse_line(line: &str, number: usize) -> Result<Option<Hold>, String> {
    let Some(at) = comment_start(line) else {
        return Ok(None);
    };
    let body = line[at + 1..].trim();
    let Some(rest) = body.strip_prefix(MARKER) else {
        return Ok(None);
    };
    // `imagebump: holding` is not the marker.
    if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return Ok(None);
    }
    let mut rest = rest.trim();
    let mut until = None;
    if let Some(after) = rest.strip_prefix("until") {
        if after.is_empty() || after.starts_with([' ', '\t']) {
            let after = after.trim_start();
            let (date, tail) = after.split_at(after.find([' ', '\t']).unwrap_or(after.len()));
            until = Some(Date::parse(date).map_err(|e| format!("hold marker: until {e}"))?);
            rest = tail.trim();
        }
    }
    Ok(Some(Hold {
        line: number,
        until,
        reason: (!rest.is_empty()).then(|| rest.to_string()),
    }))
}

/// The lines of `text` without their line breaks (`\n` or `\r\n`), 1-based in order.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// The first live hold on one of `on` (1-based lines of an image's values in `text`).
/// `Err((line, why))` for a malformed marker.
pub fn find(
    text: &str,
    on: &BTreeSet<usize>,
    today: Option<Date>,
) -> Result<Option<Hold>, (usize, String)> {
    for (n, l) in lines(text).filter(|(n, _)| on.contains(n)) {
        match parse_line(l, n) {
            Ok(Some(h)) if h.live(today) => return Ok(Some(h)),
            Ok(_) => {}
            Err(e) => return Err((n, e)),
        }
    }
    Ok(None)
}

/// `text` with `marker` (from [`marker_text`]) put at the end of each line of `on`,
/// after two spaces; an existing hold marker there is replaced. `Err((line, why))` where
/// a comment cannot be added safely: the line already has another comment (it could be
/// a Flux setter or someone's note), or a flow collection (`[`, `{`) shares it.
pub fn add(text: &str, on: &BTreeSet<usize>, marker: &str) -> Result<String, (usize, String)> {
    rewrite(text, on, |n, l| {
        let code = match comment_start(l) {
            Some(at) if parse_line(l, n).ok().flatten().is_some() => l[..at].trim_end(),
            Some(_) => {
                return Err("the line already has a comment; add `# imagebump: hold` to it by hand or move the comment".to_string())
            }
            None => l.trim_end(),
        };
        if code.contains(['[', '{', ']', '}']) {
            return Err("the value is in a flow collection ([...] or {...}); add `# imagebump: hold` by hand".to_string());
        }
        Ok(format!("{code}  {marker}"))
    })
}

/// `text` without the hold markers (and the spaces before them) on the lines of `on`;
/// other comments stay. The lines whose marker was removed are returned too.
pub fn remove(text: &str, on: &BTreeSet<usize>) -> (String, Vec<usize>) {
    let mut removed = Vec::new();
    let out = rewrite(text, on, |n, l| {
        Ok(match (comment_start(l), parse_line(l, n)) {
            (Some(at), Ok(Some(_))) => {
                removed.push(n);
                l[..at].trim_end().to_string()
            }
            _ => l.to_string(),
        })
    });
    (out.unwrap_or_else(|_| text.to_string()), removed)
}

/// Applies `f` to the lines of `on`, keeping every line break as it was.
fn rewrite(
    text: &str,
    on: &BTreeSet<usize>,
    mut f: impl FnMut(usize, &str) -> Result<String, String>,
) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(text.len() + 64);
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        if i > 0 {
            out.push('\n');
        }
        let (l, cr) = match raw.strip_suffix('\r') {
            Some(l) => (l, "\r"),
            None => (raw, ""),
        };
        if on.contains(&n) {
            out.push_str(&f(n, l).map_err(|e| (n, e))?);
        } else {
            out.push_str(l);
        }
        out.push_str(cr);
    }
    Ok(out)
}

/// What `imagebump hold` / `release` does to the markers of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Put `# imagebump: hold [until D] [reason]` on the line of each value the image's
    /// version is written in (replacing a hold marker already there).
    Hold {
        /// The last day of the hold.
        until: Option<Date>,
        /// Why.
        reason: Option<String>,
    },
    /// Remove the hold markers from the lines of the image's values.
    Release,
}

/// A tag no policy writes: editing to it shows which lines hold an image's version.
const PROBE: &str = "imagebump-hold-probe";

/// Plans `action` on every target of the images `ids`: the new file texts, one
/// [`PlannedChange`] per marker added or removed, the title (`hold APP/NAME: REASON`,
/// `release APP/NAME`). A release commits even when no marker is left
/// ([`Plan::allow_empty`]). An error names the file:line (or the image) and what to do;
/// nothing is planned then.
pub fn plan_marks(
    policies: &PolicySet,
    ids: &[ImageId],
    action: &Action,
    src: &dyn FileSource,
) -> Result<Plan, String> {
    let mut texts: BTreeMap<PathBuf, (String, String)> = BTreeMap::new();
    let mut out = Plan::default();
    for id in ids {
        let policy = policies
            .get(id)
            .ok_or_else(|| format!("no image {id} in the policies"))?;
        let update = Update::new(
            policy.repository.without_version(),
            Some(PROBE.to_string()),
            None,
        )
        .map_err(|e| e.to_string())?;
        let marker_id = format!("{}:{}", id.application, id.name);
        for target in &policy.targets {
            let is_dir = matches!(target, Target::Markers(_));
            let files = match target {
                Target::Markers(dir) => src.list(dir.as_path())?,
                other => vec![other.path().as_path().to_path_buf()],
            };
            let mut found = 0;
            for file in files {
                let text = match texts.get(&file) {
                    Some((_, t)) => t.clone(),
                    None => match src.read(&file) {
                        Ok(Some(t)) => t,
                        Ok(None) => return Err(format!("{}: file not found", file.display())),
                        Err(ReadError::NotText(_)) if is_dir => continue,
                        Err(e) => return Err(e.to_string()),
                    },
                };
                let name = file.to_string_lossy().into_owned();
                let rivals = claims::rivals(policies.same_repository(policy), id, policy, target);
                let edited = match edit_claimed(
                    &name, &text, target, &marker_id, &update, policy, &rivals,
                ) {
                    Ok(e) => e,
                    Err(EditError::Parse { .. }) if is_dir => continue,
                    Err(e) => {
                        return Err(format!(
                            "{e} (cannot place a hold marker here; add `# {MARKER}` by hand)"
                        ))
                    }
                };
                found += edited.matched;
                let at = |n: usize| format!("{name}:{n}");
                let (new, lines): (String, Vec<usize>) = match action {
                    Action::Hold { until, reason } => {
                        let on: BTreeSet<usize> = edited
                            .changes
                            .iter()
                            .filter(|c| c.new.contains(PROBE))
                            .map(|c| c.line)
                            .collect();
                        let marker = marker_text(*until, reason.as_deref());
                        let new = add(&text, &on, &marker)
                            .map_err(|(n, why)| format!("{}: {why}", at(n)))?;
                        (new, on.into_iter().collect())
                    }
                    Action::Release => remove(&text, &edited.lines),
                };
                for line in lines {
                    let (old, newc) = match action {
                        Action::Hold { until, reason } => {
                            (String::new(), marker_text(*until, reason.as_deref()))
                        }
                        Action::Release => (format!("# {MARKER}"), String::new()),
                    };
                    out.changes.push(PlannedChange {
                        owner: Some(id.clone()),
                        file: file.clone(),
                        line,
                        old,
                        new: newc,
                    });
                }
                texts
                    .entry(file.clone())
                    .or_insert_with(|| (text.clone(), text.clone()))
                    .1 = new;
            }
            if found == 0 {
                return Err(format!(
                    "{}: does not mention {}; nothing to {}",
                    target.path().as_path().display(),
                    policy.repository,
                    match action {
                        Action::Hold { .. } => "hold",
                        Action::Release => "release",
                    }
                ));
            }
        }
    }
    let names: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    out.title = Some(match action {
        Action::Hold { reason, .. } => match reason.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => format!("hold {}: {r}", names.join(", ")),
            _ => format!("hold {}", names.join(", ")),
        },
        Action::Release => format!("release {}", names.join(", ")),
    });
    out.allow_empty = matches!(action, Action::Release);
    out.files = texts.into_iter().filter(|(_, (o, n))| o != n).collect();
    Ok(out)
}

/// The outcome when a value on `lines` of `text` carries a live hold marker, or a
/// malformed one (refused, naming the line).
pub(crate) fn outcome(
    name: &str,
    text: &str,
    lines: &BTreeSet<usize>,
    today: Option<Date>,
) -> Option<Outcome> {
    match find(text, lines, today) {
        Ok(None) => None,
        Ok(Some(h)) => Some(Outcome::Held {
            file: name.to_string(),
            line: h.line,
            until: h.until.map(|u| u.to_string()),
            reason: h.reason,
        }),
        Err((line, why)) => Some(Outcome::Refused {
            file: name.to_string(),
            line,
            why,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    #[test]
    fn dates() {
        assert!(d("2026-12-24") > d("2026-12-23"));
        assert!(d("2027-01-01") > d("2026-12-31"));
        assert_eq!(d("2024-02-29").to_string(), "2024-02-29");
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "tomorrow",
            "2026-12-00",
            "+026-12-01",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn markers_on_lines() {
        let h = parse_line(
            "  image: web:1.1  # imagebump: hold until 2026-12-24 incident 42",
            3,
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.line, 3);
        assert_eq!(h.until, Some(d("2026-12-24")));
        assert_eq!(h.reason.as_deref(), Some("incident 42"));
        let h = parse_line("tag: 1.1 #imagebump: hold", 1).unwrap().unwrap();
        assert_eq!((h.until, h.reason), (None, None));
        let h = parse_line("tag: 1.1 # imagebump: hold until further notice", 1).unwrap_err();
        assert!(h.contains("not a date"), "{h}");
        // Not comments, or not the marker.
        for l in [
            "image: \"web # imagebump: hold\"",
            "image: 'it''s # imagebump: hold'",
            "image: web#imagebump: hold",
            "tag: 1 # imagebump: holding pattern",
            "tag: 1 # see imagebump: hold",
        ] {
            assert_eq!(parse_line(l, 1).unwrap(), None, "{l}");
        }
    }

    #[test]
    fn expiry_is_by_the_day_given() {
        let text = "a: 1 # imagebump: hold until 2026-12-24\n";
        let on = BTreeSet::from([1]);
        assert!(find(text, &on, Some(d("2026-12-24"))).unwrap().is_some());
        assert!(find(text, &on, Some(d("2026-12-25"))).unwrap().is_none());
        assert!(find(text, &on, None).unwrap().is_some());
        // Only the lines of the image's values count.
        assert!(find(text, &BTreeSet::from([2]), None).unwrap().is_none());
    }

    #[test]
    fn add_and_remove_keep_the_rest_byte_exact() {
        let text = "a:\r\n  image: web:1.1\r\n  other: x # note\r\nlast: 'q'";
        let m = marker_text(Some(d("2026-12-24")), Some(" incident 42 "));
        assert_eq!(m, "# imagebump: hold until 2026-12-24 incident 42");
        let held = add(text, &BTreeSet::from([2]), &m).unwrap();
        assert_eq!(
            held,
            "a:\r\n  image: web:1.1  # imagebump: hold until 2026-12-24 incident 42\r\n  other: x # note\r\nlast: 'q'"
        );
        // Holding again replaces the marker.
        let again = add(&held, &BTreeSet::from([2]), "# imagebump: hold").unwrap();
        assert_eq!(again, text.replace("web:1.1", "web:1.1  # imagebump: hold"));
        let (back, removed) = remove(&held, &BTreeSet::from([2, 3]));
        assert_eq!((back.as_str(), removed), (text, vec![2]));
        assert_eq!(add(text, &BTreeSet::from([3]), &m).unwrap_err().0, 3);
        let flow = "c: [{image: web:1.1}]\n";
        assert!(add(flow, &BTreeSet::from([1]), &m)
            .unwrap_err()
            .1
            .contains("flow"));
    }
}
