//! Segment mapping-kit. OWNER: mapping-kit helper. Placeholder until replaced.
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct MappingError {
    /// JSON-pointer-like location inside the mapping, e.g. `/user_data/email/@if`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at {})", self.message, self.path)
    }
}

/// Validate a mapping up front (unknown directive, wrong argument shape).
pub fn validate(_mapping: &Value) -> Result<(), MappingError> {
    Ok(())
}

/// Resolve `mapping` against `payload` like actions-core's `transform`.
pub fn transform(_mapping: &Value, _payload: &Value) -> Result<Value, MappingError> {
    Err(MappingError { path: String::new(), message: "not implemented".into() })
}
