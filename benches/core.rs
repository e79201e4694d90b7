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
    // The wasm binding hands the lines back to JS as one JSON string; do the same here.
    let run = || serde_json::to_string(&api::plan(&cfg, &body).unwrap()).unwrap().len();
    run();
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut samples: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(run());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let ms = if runs % 2 == 1 { samples[runs / 2] } else { (samples[runs / 2 - 1] + samples[runs / 2]) / 2.0 };
    println!("native plan: {n} events in {ms:.1} ms = {:.0} events/s (median of {runs})", n as f64 / ms * 1e3);
    println!(r#"BENCH {{"name":"native","events":{n},"ms":{ms},"eventsPerSec":{}}}"#, (n as f64 / ms * 1e3).round());
}
