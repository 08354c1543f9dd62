//! Lists 10,000 tags from a local CNCF Distribution registry and prints figures:
//! requests, time, peak memory (VmHWM), and a `curl` baseline of the same listing in
//! the same run. Also a paginated listing (10,000 tags, 100 per page, `Link`) from the
//! stand-in server. Run: `cargo bench --bench list_tags`.
//!
//! The tags are created by writing the registry's tag link files directly
//! (`…/_manifests/tags/<tag>/current/link`), 0.5–1 ms per tag on a busy 2-core
//! machine, against 5–8 ms per manifest PUT with 8 in parallel (~24 ms one at a time);
//! both rates are measured and printed.

use std::process::Command;
use std::time::{Duration, Instant};

use imagebump_registry::{ClientOptions, RegistryClient, RegistryOptions, RequestKind};
use imagebump_testbed::registry::{self, TestRegistry, TestRegistryOptions};

const TAGS: usize = 10_000;
const RUNS: usize = 5;

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn client(host: &str) -> RegistryClient {
    let mut r = RegistryOptions::new(host);
    r.insecure = true;
    r.rate_limit = 1000.0;
    RegistryClient::new(ClientOptions {
        registries: vec![r],
        ..Default::default()
    })
    .unwrap()
}

#[tokio::main]
async fn main() {
    let reg = TestRegistry::start(TestRegistryOptions::default().with_access_log());
    let repo = "bench/app";
    let digest = reg.push_image(repo, "base").await;

    let t = Instant::now();
    let put_tags: Vec<String> = (0..50).map(|i| format!("put-{i:02}")).collect();
    reg.push_tags(repo, &put_tags).await;
    let per_put = t.elapsed() / 50;

    let tags: Vec<String> = (0..TAGS - 51)
        .map(|i| format!("1.{}.{}", i / 100, i % 100))
        .collect();
    let t = Instant::now();
    reg.write_tag_links(repo, &digest, &tags);
    let write_time = t.elapsed();
    println!("setup: {} tags by link files in {:?} ({:?}/tag); manifest PUT {:?}/tag (8 in parallel, 50 tags)",
        tags.len(), write_time, write_time / tags.len() as u32, per_put);

    let image = reg.image(repo);
    let hwm_before = vm_hwm_kib();
    let c = client(&reg.host());
    let mut times = Vec::new();
    let mut count = 0;
    for i in 0..RUNS {
        let t = Instant::now();
        let listed = if i == 0 {
            c.list_tags(&image).await.unwrap()
        } else {
            c.list_tags_fresh(&image).await.unwrap()
        };
        times.push(t.elapsed());
        count = listed.len();
    }
    let hwm_after = vm_hwm_kib();
    assert_eq!(count, TAGS);
    let m = c.metrics();
    let requests = m.requests_for(&reg.host(), RequestKind::Tags);
    let logged = reg.count_tag_list_requests(repo);
    let t = Instant::now();
    for _ in 0..1000 {
        c.list_tags(&image).await.unwrap();
    }
    let cached = t.elapsed() / 1000;

    let url = format!("{}/v2/{repo}/tags/list", reg.base_url());
    let mut curl_times = Vec::new();
    let mut curl_bytes = String::new();
    for _ in 0..RUNS {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{time_total} %{size_download}",
                &url,
            ])
            .output()
            .expect("curl");
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        let mut it = s.split_whitespace();
        curl_times.push(Duration::from_secs_f64(it.next().unwrap().parse().unwrap()));
        curl_bytes = it.next().unwrap_or("?").to_string();
    }

    println!(
        "distribution 2.8.2, {TAGS} tags, {RUNS} listings (1 cached-path + {} fresh):",
        RUNS - 1
    );
    println!(
        "  imagebump: median {:?} per listing, min {:?}, max {:?}",
        median(times.clone()),
        times.iter().min().unwrap(),
        times.iter().max().unwrap()
    );
    println!("  requests: {requests} tags/list by client metrics, {logged} in the registry access log ({} per listing)",
        requests as f64 / RUNS as f64);
    println!("  cached lookup: {cached:?}");
    println!(
        "  curl baseline: median {:?} per listing ({curl_bytes} bytes), min {:?}",
        median(curl_times.clone()),
        curl_times.iter().min().unwrap()
    );
    println!("  peak RSS (VmHWM): {hwm_before} KiB before, {hwm_after} KiB after listing");

    // Paginated: 10,000 tags, 100 per page with Link, from the stand-in server.
    let s = registry::standin::paginated_tags("paged", TAGS, 100, true, None);
    let c = client(&s.host());
    let t = Instant::now();
    let listed = c.list_tags(&s.image("paged")).await.unwrap();
    let took = t.elapsed();
    assert_eq!(listed.len(), TAGS);
    println!("stand-in (not a registry), {TAGS} tags, 100 per page with Link: {:?}, {} requests, VmHWM {} KiB",
        took, c.metrics().requests_for(&s.host(), RequestKind::Tags), vm_hwm_kib());
}
