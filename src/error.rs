//! Typed errors. One shape for every per-event problem, whatever the stage, so JS callers can
//! branch on `code` and `retryable` without parsing messages. Messages never contain PII or
//! secrets: they name fields, not values.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The input is not a usable Segment event (not an object, bad `type`, wrong envelope types).
    InvalidEvent,
    /// The destination settings or subscriptions are unusable.
    InvalidConfig,
    /// A mapping could not be evaluated for this event.
    MappingError,
    /// The mapped payload does not fit the action's field schema.
    PayloadValidation,
    /// A field the destination requires is missing or invalid (Segment's "Misconfigured required field").
    MisconfiguredField,
    /// The event was not sent because consent was not granted.
    ConsentDenied,
    /// The destination answered with a non-2xx status.
    HttpError,
    /// The request did not complete (connection refused, DNS, reset).
    NetworkError,
    /// The request did not complete in time.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl EventError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        EventError { code, message: message.into(), field: None }
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn misconfigured(field: &str, message: impl Into<String>) -> Self {
        EventError::new(ErrorCode::MisconfiguredField, message).with_field(field)
    }
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{:?}: {} (field {field})", self.code, self.message),
            None => write!(f, "{:?}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for EventError {}
