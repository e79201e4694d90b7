//! wasm-bindgen surface. The only module with JS types: JSON strings cross the boundary (one
//! serializer, one crossing per call); errors are thrown as JSON strings that the JS glue turns
//! into `EdgeActionsError` objects.

use crate::api;
use crate::config::Config;
use crate::delivery::{Response, Transport, TransportError};
use crate::engine::HttpRequest;
use crate::error::EventError;
use futures::future::{select, Either};
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

    /// JSON array of plan lines.
    pub fn plan(&self, events_json: &str) -> Result<String, JsValue> {
        reserve_heap(events_json.len());
        api::plan_json(&self.cfg, events_json).map_err(throw)
    }

    /// Promise of a JSON array of result lines.
    pub fn send(&self, events_json: String, options_json: String) -> js_sys::Promise {
        reserve_heap(events_json.len());
        let cfg = Rc::clone(&self.cfg);
        wasm_bindgen_futures::future_to_promise(async move {
            let lines = api::send(&cfg, &events_json, &options_json, &Fetch).await.map_err(throw)?;
            Ok(JsValue::from_str(&to_json(&lines)))
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

    /// Promise of `[ndjson output, counts JSON]` (see `planNdjson`).
    #[wasm_bindgen(js_name = sendNdjson)]
    pub fn send_ndjson(&self, ndjson: String, first_line: u32, options_json: String) -> js_sys::Promise {
        reserve_heap(ndjson.len());
        let cfg = Rc::clone(&self.cfg);
        wasm_bindgen_futures::future_to_promise(async move {
            let (out, counts) = api::send_ndjson(&cfg, &ndjson, first_line as usize, &options_json, &Fetch).await.map_err(throw)?;
            Ok(js_sys::Array::of2(&JsValue::from_str(&out), &JsValue::from_str(&to_json(&counts))).into())
        })
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

/// `fetch` (global, so it works in Node, workerd and browsers) with timers from `setTimeout`.
struct Fetch;

impl Transport for Fetch {
    async fn send(&self, req: &HttpRequest, timeout_ms: u64) -> Result<Response, TransportError> {
        // The web_sys::Request is built here: gloo-net 0.6's RequestBuilder rewrites a URL that
        // already has a query into `?access_token=...&`.
        let bad = |_| TransportError::Network("could not build the request".into());
        let headers = web_sys::Headers::new().map_err(bad)?;
        for (k, v) in &req.headers {
            headers.set(k, v.as_str().unwrap_or_default()).map_err(bad)?;
        }
        let init = web_sys::RequestInit::new();
        // Never follow a redirect: the URL carries the access token (delivery reports the
        // 3xx, or a browser's opaque redirect, as a permanent error).
        init.set_redirect(web_sys::RequestRedirect::Manual);
        init.set_method(req.method);
        init.set_headers(&headers);
        // No body for a GET (a lookup); anything else as written (JSON text, or the OAuth
        // refresh form).
        if req.method != "GET" {
            init.set_body(&JsValue::from_str(&req.body));
        }
        // Aborted on timeout: otherwise the connection (and a concurrency slot's socket on the
        // server) stays open until the server gives up.
        let abort = web_sys::AbortController::new().ok();
        if let Some(a) = &abort {
            init.set_signal(Some(&a.signal()));
        }
        let request: gloo_net::http::Request = web_sys::Request::new_with_str_and_init(&req.url, &init).map_err(bad)?.into();
        let timeout = gloo_timers::future::TimeoutFuture::new(timeout_ms.min(u64::from(u32::MAX)) as u32);
        let sent = Box::pin(async move {
            let res = request.send().await.map_err(|e| TransportError::Network(network_message(&e)))?;
            let status = res.status();
            // Braze sends X-RateLimit-* instead of Retry-After.
            let retry_after = crate::delivery::retry_after_header(status, |k| res.headers().get(k), js_sys::Date::now());
            let location = res.headers().get("location");
            let body = res.text().await.unwrap_or_default();
            Ok(Response { status, retry_after, location, body })
        });
        match select(sent, timeout).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => {
                if let Some(a) = abort {
                    a.abort();
                }
                Err(TransportError::Timeout)
            }
        }
    }

    async fn sleep(&self, ms: u64) {
        gloo_timers::future::TimeoutFuture::new(ms.min(u64::from(u32::MAX)) as u32).await
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }

    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}

/// fetch errors can echo the URL, which carries the access token: keep only the kind.
fn network_message(e: &gloo_net::Error) -> String {
    let s = e.to_string();
    if s.contains("access_token") { "fetch failed".into() } else { s }
}
