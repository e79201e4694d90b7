//! edge-actions: Segment-compatible destination actions.
//!
//! The core is plain Rust (no JS types) so it builds and tests natively with `cargo test`;
//! everything that touches `JsValue` lives in `bindings` and only compiles for wasm32.

pub mod js;
pub mod mapping;
pub mod fql;

#[cfg(target_arch = "wasm32")]
mod bindings;
