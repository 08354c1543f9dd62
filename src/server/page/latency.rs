//! The webhook→commit latency histogram as the status page draws it: read from the
//! metric's own OpenMetrics text (so the page and `/metrics` can never disagree), turned
//! into per-bucket counts and bar geometry for an inline SVG. Pure.

use serde::Serialize;

/// Width and height of the SVG's drawing area (its `viewBox`).
pub const WIDTH: f64 = 640.0;
/// See [`WIDTH`].
pub const HEIGHT: f64 = 240.0;
/// Space under the bars for the bucket labels.
const LABEL_SPACE: f64 = 60.0;

/// One cumulative bucket as exposed: `le` (seconds; `None` for `+Inf`) and its count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// The upper bound in seconds; `None` for `+Inf`.
    pub le: Option<f64>,
    /// Observations at or below it (cumulative).
    pub cumulative: u64,
}

/// One bar of the drawing: the observations between the previous bound and this one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bar {
    /// `≤ 10 ms`, `≤ 1.28 s`, `> 81.92 s`.
    pub label: String,
    /// Observations in this bucket alone.
    pub count: u64,
    /// Geometry in the viewBox.
    pub x: f64,
    /// Top of the bar.
    pub y: f64,
    /// Bar width.
    pub width: f64,
    /// Bar height.
    pub height: f64,
    /// Centre of the bar, for its label.
    pub label_x: f64,
}

/// The histogram as the page shows it.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Latency {
    /// Every observation.
    pub count: u64,
    /// Their mean, formatted (`—` without any).
    pub mean: String,
    /// The bars, lowest bucket first.
    pub bars: Vec<Bar>,
    /// The viewBox.
    pub width: f64,
    /// See `width`.
    pub height: f64,
    /// The baseline the bars stand on.
    pub baseline: f64,
}

/// The buckets, `_sum` and `_count` of histogram `name` in OpenMetrics `text`; buckets
/// in the order written (ascending, as every encoder writes them). Lines of other
/// metrics and lines that do not parse are ignored.
pub fn parse(text: &str, name: &str) -> (Vec<Bucket>, f64, u64) {
    let (mut buckets, mut sum, mut count) = (Vec::new(), 0.0, 0);
    let bucket = format!("{name}_bucket{{");
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if let Some(labels) = series.strip_prefix(&bucket) {
            let Some(le) = labels
                .split(',')
                .find_map(|l| l.strip_prefix("le=\""))
                .and_then(|l| l.split('"').next())
            else {
                continue;
            };
            let le = if le == "+Inf" {
                None
            } else {
                match le.parse() {
                    Ok(v) => Some(v),
                    Err(_) => continue,
                }
            };
            if let Ok(n) = value.parse::<f64>() {
                buckets.push(Bucket {
                    le,
                    cumulative: n as u64,
                });
            }
        } else if series == format!("{name}_sum") {
            sum = value.parse().unwrap_or(0.0);
        } else if series == format!("{name}_count") {
            count = value.parse::<f64>().map_or(0, |n| n as u64);
        }
    }
    (buckets, sum, count)
}

/// The drawing of `buckets` (cumulative, ascending).
pub fn draw(buckets: &[Bucket], sum: f64, count: u64) -> Latency {
    let mut previous = 0u64;
    let mut per: Vec<(String, u64)> = Vec::new();
    let mut last_bound = None;
    for b in buckets {
        let n = b.cumulative.saturating_sub(previous);
        previous = b.cumulative.max(previous);
        let label = match b.le {
            Some(le) => format!("≤ {}", seconds(le)),
            None => match last_bound {
                Some(l) => format!("> {}", seconds(l)),
                None => "all".to_string(),
            },
        };
        last_bound = b.le.or(last_bound);
        per.push((label, n));
    }
    let most = per.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let baseline = HEIGHT - LABEL_SPACE;
    let slot = if per.is_empty() {
        WIDTH
    } else {
        WIDTH / per.len() as f64
    };
    let bars = per
        .into_iter()
        .enumerate()
        .map(|(i, (label, n))| {
            let height = round((baseline - 10.0) * n as f64 / most as f64);
            let x = round(i as f64 * slot + slot * 0.1);
            Bar {
                label,
                count: n,
                x,
                y: round(baseline - height),
                width: round(slot * 0.8),
                height,
                label_x: round(i as f64 * slot + slot / 2.0),
            }
        })
        .collect();
    Latency {
        count,
        mean: if count == 0 {
            "—".into()
        } else {
            seconds(sum / count as f64)
        },
        bars,
        width: WIDTH,
        height: HEIGHT,
        baseline,
    }
}

/// `0.005` → `5 ms`, `1.28` → `1.28 s`.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        let ms = s * 1000.0;
        if ms >= 10.0 || ms.fract() == 0.0 {
            format!("{} ms", ms.round())
        } else {
            format!("{ms:.1} ms")
        }
    } else {
        let t = format!("{s:.2}");
        let t = t.trim_end_matches('0').trim_end_matches('.');
        format!("{t} s")
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE imagebump_webhook_to_commit_seconds histogram\n\
imagebump_webhook_to_commit_seconds_sum 0.9\n\
imagebump_webhook_to_commit_seconds_count 3\n\
imagebump_webhook_to_commit_seconds_bucket{le=\"0.005\"} 0\n\
imagebump_webhook_to_commit_seconds_bucket{le=\"0.01\"} 1\n\
imagebump_webhook_to_commit_seconds_bucket{le=\"1.28\"} 3\n\
imagebump_webhook_to_commit_seconds_bucket{le=\"+Inf\"} 3\n\
imagebump_write_seconds_bucket{le=\"0.005\"} 7\n";

    #[test]
    fn reads_only_the_named_histogram() {
        let (b, sum, count) = parse(TEXT, "imagebump_webhook_to_commit_seconds");
        assert_eq!(count, 3);
        assert!((sum - 0.9).abs() < 1e-9);
        assert_eq!(
            b,
            vec![
                Bucket {
                    le: Some(0.005),
                    cumulative: 0
                },
                Bucket {
                    le: Some(0.01),
                    cumulative: 1
                },
                Bucket {
                    le: Some(1.28),
                    cumulative: 3
                },
                Bucket {
                    le: None,
                    cumulative: 3
                },
            ]
        );
    }

    #[test]
    fn bars_hold_each_bucket_alone_and_scale_to_the_largest() {
        let (b, sum, count) = parse(TEXT, "imagebump_webhook_to_commit_seconds");
        let l = draw(&b, sum, count);
        let counts: Vec<_> = l.bars.iter().map(|b| (b.label.as_str(), b.count)).collect();
        assert_eq!(
            counts,
            vec![
                ("≤ 5 ms", 0),
                ("≤ 10 ms", 1),
                ("≤ 1.28 s", 2),
                ("> 1.28 s", 0)
            ]
        );
        assert_eq!(l.mean, "300 ms");
        let tallest = l.bars.iter().map(|b| b.height).fold(0.0, f64::max);
        assert_eq!(tallest, l.bars[2].height);
        assert!((l.bars[1].height * 2.0 - l.bars[2].height).abs() < 0.2);
        assert_eq!(l.bars[0].height, 0.0);
        assert!(l.bars.iter().all(|b| b.y + b.height <= l.baseline + 0.01));
    }

    #[test]
    fn empty_histogram_draws_empty_bars() {
        let l = draw(&[], 0.0, 0);
        assert_eq!(l.count, 0);
        assert_eq!(l.mean, "—");
        assert!(l.bars.is_empty());
    }
}
