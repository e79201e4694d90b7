//! FQL test oracle for tests/conformance/fql.test.mjs.
//! stdin: NDJSON `{"fql": "...", "event": {...}}`; stdout, one line per input line:
//! `{"matches": bool}` or `{"error": {"position": n, "message": "..."}}`.
//! A missing `event` stands for JS `undefined` (the reference never matches it).
use std::io::{BufRead, Write};

use edge_actions::fql;
use serde_json::{Value, json};

fn answer(line: &str) -> Value {
    let case: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return json!({"error": {"position": 0, "message": format!("bad oracle input: {e}")}});
        }
    };
    let Some(src) = case.get("fql").and_then(Value::as_str) else {
        return json!({"error": {"position": 0, "message": "bad oracle input: no \"fql\" string"}});
    };
    match fql::parse(src) {
        Err(e) => json!({"error": {"position": e.position, "message": e.message}}),
        Ok(f) => json!({"matches": case.get("event").is_some_and(|ev| f.matches_value(ev))}),
    }
}

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        if writeln!(out, "{}", answer(&line)).is_err() {
            break;
        }
        // Callers stream batches and wait for the answers, so do not sit on them.
        if out.flush().is_err() {
            break;
        }
    }
}
