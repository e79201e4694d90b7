//! Test oracle for the JS conformance suite: reads NDJSON `{"mapping":..,"payload":..}` lines
//! on stdin and answers each with `{"ok":value}` or `{"error":{"path","message"}}`.
use std::io::{BufRead, BufWriter, Write};

use edge_actions::mapping::transform;
use serde_json::{Value, json};

fn main() {
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(case) => {
                let null = Value::Null;
                let mapping = case.get("mapping").unwrap_or(&null);
                let payload = case.get("payload").unwrap_or(&null);
                match transform(mapping, payload) {
                    Ok(v) => json!({ "ok": v }),
                    Err(e) => json!({ "error": { "path": e.path, "message": e.message } }),
                }
            }
            Err(e) => json!({ "error": { "path": "", "message": format!("bad input line: {e}") } }),
        };
        let _ = writeln!(out, "{reply}");
        // Flush per line so a streaming client never waits on a buffered answer.
        let _ = out.flush();
    }
}
