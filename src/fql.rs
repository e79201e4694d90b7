//! Segment FQL subscription triggers. OWNER: FQL helper. Placeholder until replaced.
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct FqlError {
    /// 0-based character offset in the source where parsing failed.
    pub position: usize,
    pub message: String,
}

impl std::fmt::Display for FqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at position {}", self.message, self.position)
    }
}

#[derive(Debug, Clone)]
pub struct Fql {
    _src: String,
}

pub fn parse(src: &str) -> Result<Fql, FqlError> {
    Err(FqlError { position: 0, message: format!("not implemented: {src}") })
}

impl Fql {
    pub fn matches(&self, _event: &Value) -> bool {
        false
    }
}
