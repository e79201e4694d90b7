//! edge-actions: Segment-compatible destination actions.
//!
//! The core is plain Rust (no JS types) so it builds and tests natively with `cargo test`;
//! everything that touches `JsValue` lives in `bindings` and only compiles for wasm32.

pub mod api;
pub mod audience;
pub mod config;
pub mod delivery;
pub mod destinations;
pub mod engine;
pub mod ensure;
pub mod error;
pub mod event;
pub mod fql;
pub mod input;
pub mod js;
pub mod json;
pub mod mapping;
/// Behind the `monitor` cargo feature (default): without it the monitor calls answer a typed
/// error (see `api`).
#[cfg(feature = "monitor")]
pub mod monitor;
pub mod oauth;
pub mod order;
pub mod pii;
pub mod ratelimit;
pub mod schema;
pub mod time;

#[cfg(target_arch = "wasm32")]
mod bindings;
