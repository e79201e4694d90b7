//! wasm-bindgen surface. The only module with JS types: JSON strings cross the boundary (one
//! serializer, one crossing per call); errors are thrown as JSON strings that the JS glue turns
//! into `EdgeActionsError` objects.

use crate::api;
use crate::config::Config;
use crate::delivery::{Response, Transport, TransportError};
use crate::engine::HttpRequest;
use crate::error::EventError;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

fn throw(e: EventError) -> JsValue {
    JsValue::from_str(&api::error_json(&e))
}

fn to_json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Grows the wasm heap once, up front, for a call on `input_len` bytes of events. Each
/// `memory.grow` counts as external memory to V8, which answers with a full GC once enough has
/// accumulated: growing in the allocator's 64 KB steps during a 10,000-event call cost 200+ full
/// GCs (about 75% of the call). One large allocation freed at once leaves that space to the
/// allocator (wasm memory never shrinks), so the call grows memory rarely if at all.
fn reserve_heap(input_len: usize) {
    // Planning needs roughly 8 bytes of heap per input byte (parsed values, mapped payloads,
    // output). Small calls grow memory rarely anyway.
    if input_len >= 256 * 1024 {
        drop(Vec::<u8>::with_capacity(input_len.saturating_mul(8).min(512 << 20)));
    }
}

#[wasm_bindgen]
pub struct Destination {
    cfg: Rc<Config>,
}

#[wasm_bindgen]
impl Destination {
    #[wasm_bindgen(constructor)]
    pub fn new(options_json: &str) -> Result<Destination, JsValue> {
        Ok(Destination { cfg: Rc::new(api::create(options_json).map_err(throw)?) })
    }

    /// JSON array of plan lines, in ASCII (`js::ascii_json`): the glue only `JSON.parse`s it.
    pub fn plan(&self, events_json: &str) -> Result<String, JsValue> {
        reserve_heap(events_json.len());
        api::plan_json(&self.cfg, events_json).map(crate::js::ascii_json).map_err(throw)
    }

    /// Promise of a JSON array of result lines; `request` is the runtime's transport (see
    /// `JsTransport`).
    pub fn send(&self, events_json: String, options_json: String, request: RequestFn) -> js_sys::Promise {
        self.deliver(events_json, None, options_json, request)
    }

    /// `send` and `sendNdjson` share one future type, so the wasm carries one copy of the
    /// delivery state machine and of the promise glue.
    fn deliver(&self, events: String, ndjson_first_line: Option<u32>, options_json: String, request: RequestFn) -> js_sys::Promise {
        reserve_heap(events.len());
        let cfg = Rc::clone(&self.cfg);
        wasm_bindgen_futures::future_to_promise(async move {
            let t = JsTransport(request);
            Ok(match ndjson_first_line {
                None => JsValue::from_str(&to_json(&api::send(&cfg, &events, &options_json, &t).await.map_err(throw)?)),
                Some(first) => {
                    let (out, counts) = api::send_ndjson(&cfg, &events, first as usize, &options_json, &t).await.map_err(throw)?;
                    js_sys::Array::of2(&JsValue::from_str(&out), &JsValue::from_str(&to_json(&counts))).into()
                }
            })
        })
    }

    /// NDJSON events in, `[ndjson output, counts JSON]` out: raw lines are never parsed or
    /// re-serialized in JS.
    #[wasm_bindgen(js_name = planNdjson)]
    pub fn plan_ndjson(&self, ndjson: &str, first_line: u32) -> js_sys::Array {
        reserve_heap(ndjson.len());
        let (out, counts) = api::plan_ndjson(&self.cfg, ndjson, first_line as usize);
        js_sys::Array::of2(&JsValue::from_str(&out), &JsValue::from_str(&to_json(&counts)))
    }

    /// `planNdjson` on UTF-8 bytes, with the output as bytes (`[Uint8Array, counts JSON]`): a
    /// stream's chunks go in and out without a UTF-8 decode or encode in JS. Invalid UTF-8
    /// becomes U+FFFD, as `Buffer.toString()` / `TextDecoder` make it.
    #[wasm_bindgen(js_name = planNdjsonBytes)]
    pub fn plan_ndjson_bytes(&self, ndjson: &[u8], first_line: u32) -> js_sys::Array {
        reserve_heap(ndjson.len());
        let text = String::from_utf8_lossy(ndjson);
        let (out, counts) = api::plan_ndjson(&self.cfg, &text, first_line as usize);
        js_sys::Array::of2(&js_sys::Uint8Array::from(out.as_bytes()), &JsValue::from_str(&to_json(&counts)))
    }

    /// Promise of `[ndjson output, counts JSON]` (see `planNdjson`).
    #[wasm_bindgen(js_name = sendNdjson)]
    pub fn send_ndjson(&self, ndjson: String, first_line: u32, options_json: String, request: RequestFn) -> js_sys::Promise {
        self.deliver(ndjson, Some(first_line), options_json, request)
    }
}

#[wasm_bindgen(js_name = monitorMerge)]
pub fn monitor_merge(records_json: &str) -> Result<String, JsValue> {
    api::monitor_merge(records_json).map(|v| to_json(&v)).map_err(throw)
}

#[wasm_bindgen(js_name = monitorPlan)]
pub fn monitor_plan(config_json: &str, record_json: &str, day: &str) -> Result<String, JsValue> {
    api::monitor_plan(config_json, record_json, day).map(|v| to_json(&v)).map_err(throw)
}

#[wasm_bindgen(js_name = monitorEvaluate)]
pub fn monitor_evaluate(config_json: &str, record_json: &str, day: &str, responses_json: &str) -> Result<String, JsValue> {
    api::monitor_evaluate(config_json, record_json, day, responses_json).map(|v| to_json(&v)).map_err(throw)
}

#[wasm_bindgen]
pub fn transform(mapping_json: &str, payload_json: &str) -> Result<String, JsValue> {
    api::transform(mapping_json, payload_json).map(|v| to_json(&v)).map_err(throw)
}

#[wasm_bindgen(js_name = matchesTrigger)]
pub fn matches_trigger(fql: &str, event_json: &str) -> Result<bool, JsValue> {
    api::matches_trigger(fql, event_json).map_err(throw)
}

#[wasm_bindgen]
pub fn presets(destination: &str) -> Result<String, JsValue> {
    api::presets(destination).map(|v| to_json(&v)).map_err(throw)
}

#[wasm_bindgen]
extern "C" {
    /// The runtime's request function (pkg/core.js `fetchRequest`; pkg/node.js uses undici):
    /// `(method, url, [name, value, ...], body, timeoutMs)` -> a promise that always resolves, to
    /// `[status, retryAfter, location, body, x-ratelimit-*: retry-after, remaining, reset]`,
    /// `[-1, message]` (network error) or `[-2]`
    /// (no answer within timeoutMs; the request is aborted). It never follows a redirect.
    pub type RequestFn;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(f: &js_sys::Function, ms: f64);
    #[wasm_bindgen(method, js_name = call)]
    fn request(this: &RequestFn, ctx: &JsValue, method: &str, url: &str, headers: js_sys::Array, body: &str, timeout_ms: f64) -> js_sys::Promise;
}

/// Requests go through the JS glue's function: one call and one promise per attempt, where
/// building a `Request`, `Headers`, an `AbortController` and a timer through the boundary
/// cost more than the request itself, and where Node gets undici's dispatcher instead of `fetch`.
struct JsTransport(RequestFn);

impl Transport for JsTransport {
    async fn send(&self, req: &HttpRequest, timeout_ms: u64) -> Result<Response, TransportError> {
        let headers = js_sys::Array::new();
        for (k, v) in &req.headers {
            headers.push(&JsValue::from_str(k));
            headers.push(&JsValue::from_str(v.as_str().unwrap_or_default()));
        }
        // The body as written (JSON text, or the OAuth refresh form); the glue sends none for a GET.
        let promise = self.0.request(&JsValue::NULL, req.method, &req.url, headers, &req.body, timeout_ms as f64);
        let answer = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|_| TransportError::Network("the request failed".into()))?;
        let answer = js_sys::Array::from(&answer);
        match answer.get(0).as_f64() {
            Some(s) if s >= 0.0 => {
                let status = s as u16;
                // Braze sends X-RateLimit-* instead of Retry-After.
                let header = |k: &str| {
                    let i = match k {
                        "retry-after" => 1,
                        "x-ratelimit-retry-after" => 4,
                        "x-ratelimit-remaining" => 5,
                        "x-ratelimit-reset" => 6,
                        _ => return None,
                    };
                    answer.get(i).as_string()
                };
                let retry_after = crate::delivery::retry_after_header(status, header, js_sys::Date::now());
                Ok(Response { status, retry_after, location: answer.get(2).as_string(), body: answer.get(3).as_string().unwrap_or_default() })
            }
            Some(-2.0) => Err(TransportError::Timeout),
            _ => Err(TransportError::Network(network_message(answer.get(1).as_string().unwrap_or_default()))),
        }
    }

    async fn sleep(&self, ms: u64) {
        // A promise resolved by the global setTimeout. Never cancelled: only backoff and
        // rate-limit waits sleep, and a send runs to its end.
        let timer = js_sys::Promise::new(&mut |resolve, _| set_timeout(&resolve, ms.min(u64::from(u32::MAX)) as f64));
        let _ = wasm_bindgen_futures::JsFuture::from(timer).await;
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }

    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}

/// The JS host's `toUpperCase` / `toLowerCase` (see `js::to_lower`).
#[cfg(not(feature = "unicode-case"))]
pub(crate) fn js_case(s: &str, upper: bool) -> String {
    let s = js_sys::JsString::from(s);
    String::from(if upper { s.to_upper_case() } else { s.to_lower_case() })
}

/// Network errors can echo the URL, which carries the access token: keep only the kind.
fn network_message(s: String) -> String {
    if s.contains("access_token") { "request failed".into() } else { s }
}

/// talc instead of the default dlmalloc: 2.3 KB smaller gzipped, no slower on `plan`
/// (docs/performance.md, "Size"). Single-threaded wasm: the lock is a no-op.
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };
