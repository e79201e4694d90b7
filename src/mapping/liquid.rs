//! Liquid templates (`@liquid`).
use super::value::JsVal;

pub fn evaluate(template: &str, _event: &JsVal) -> Result<JsVal, String> {
    if template.is_empty() {
        return Ok(JsVal::str(""));
    }
    Err("@liquid is not supported yet".into())
}
