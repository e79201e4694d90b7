//! Native throughput of the core's plan (FQL + mapping + validation + hashing + request
//! building + output JSON) on the same generated events the Node benches use. `make bench`
//! (benches/run.mjs) writes them to benches/out first and passes the file in BENCH_EVENTS.
//! Prints one `BENCH {json}` line for benches/run.mjs.

use edge_actions::api;
use std::time::Instant;

fn main() {
    let path = std::env::var("BENCH_EVENTS").unwrap_or_else(|_| {
        eprintln!("BENCH_EVENTS is not set: run `make bench` (or `node benches/run.mjs`), which generates the events");
        std::process::exit(2)
    });
    let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let n = serde_json::from_str::<Vec<serde_json::Value>>(&body).expect("BENCH_EVENTS holds a JSON array").len();
    let cfg = api::create(
        r#"{"destination":"snap-conversions-api","settings":{"pixel_id":"px-123","snap_app_id":"snap-app-456","app_id":"com.example.app","access_token":"TEST_TOKEN"}}"#,
    )
    .unwrap();
    // The wasm binding hands the lines back to JS as one JSON string; so does this.
    let run = || api::plan_json(&cfg, &body).unwrap().len();
    run();
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_ms());
        std::hint::black_box(run());
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - c);
    }
    let (ms, cpu_ms) = (median(wall), median(cpu));
    let rate = |ms: f64| (n as f64 / ms * 1e3).round();
    println!("native plan: {n} events in {ms:.1} ms = {} events/s (CPU {cpu_ms:.1} ms = {} events/s; median of {runs})", rate(ms), rate(cpu_ms));
    let json = |x: f64| if x.is_finite() { x.to_string() } else { "null".to_string() };
    println!(r#"BENCH {{"name":"native","events":{n},"ms":{ms},"cpuMs":{},"eventsPerSec":{},"eventsPerCpuSec":{}}}"#, json(cpu_ms), rate(ms), json(rate(cpu_ms)));
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 { xs[m] } else { (xs[m - 1] + xs[m]) / 2.0 }
}

/// This thread's time on a CPU (Linux /proc, nanoseconds): steadier than wall time when other
/// work shares the machine. NaN elsewhere.
fn cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e6)
}
