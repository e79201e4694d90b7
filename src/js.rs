//! JavaScript value semantics that Segment's (JS) reference behaviour depends on:
//! number -> string formatting, truthiness, `String(x)`.
//! OWNER: mapping-kit helper. Placeholder until replaced.
use serde_json::Value;

/// `String(n)` for a JS number.
pub fn number_to_string(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 { format!("{}", n as i64) } else { format!("{}", n) }
}

/// `String(v)` for a JSON value (objects become "[object Object]", arrays join with ",").
pub fn to_js_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(|x| if x.is_null() { String::new() } else { to_js_string(x) }).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}
