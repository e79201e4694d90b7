//! Delivery with Segment's error semantics: classification, bounded retries with exponential
//! backoff and full jitter, `Retry-After`, per-request timeouts, bounded concurrency and an
//! optional request-rate cap. Generic over a `Transport` so the logic is tested natively with
//! a scripted transport and runs on `fetch` in wasm.

use crate::engine::{entry_message_id, json_opt, HttpRequest, Plan, Prepared};
use crate::error::{ErrorCode, EventError};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::Cell;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Value of the `Retry-After` header, if any.
    pub retry_after: Option<String>,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TransportError {
    Network(String),
    Timeout,
}

#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn send(&self, req: &HttpRequest, timeout_ms: u64) -> Result<Response, TransportError>;
    async fn sleep(&self, ms: u64);
    /// Uniform in [0, 1).
    fn random(&self) -> f64;
    fn now_ms(&self) -> f64;
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// A Retry-After longer than this is not waited for: the request fails as retryable.
    pub max_retry_after_ms: u64,
    pub timeout_ms: u64,
    pub concurrency: usize,
    /// 0 = no cap.
    pub max_requests_per_second: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_attempts: 4,
            base_delay_ms: 250,
            max_delay_ms: 10_000,
            max_retry_after_ms: 60_000,
            timeout_ms: 15_000,
            concurrency: 8,
            max_requests_per_second: 0.0,
        }
    }
}

impl Policy {
    /// Overrides from a JSON options object (`maxAttempts`, `concurrency`, `timeoutMs`, ...).
    pub fn from_options(opts: &Value) -> Result<Policy, EventError> {
        let mut p = Policy::default();
        let Some(o) = opts.as_object() else {
            return if opts.is_null() { Ok(p) } else { Err(EventError::new(ErrorCode::InvalidConfig, "send options must be an object")) };
        };
        let num = |k: &str, min: f64, max: f64| -> Result<Option<f64>, EventError> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(n) if n >= min && n <= max => Ok(Some(n)),
                    _ => Err(EventError::new(ErrorCode::InvalidConfig, format!("`{k}` must be a number from {min} to {max}")).with_field(k)),
                },
            }
        };
        if let Some(n) = num("maxAttempts", 1.0, 20.0)? { p.max_attempts = n as u32; }
        if let Some(n) = num("concurrency", 1.0, 1000.0)? { p.concurrency = n as usize; }
        if let Some(n) = num("timeoutMs", 1.0, 600_000.0)? { p.timeout_ms = n as u64; }
        if let Some(n) = num("baseDelayMs", 0.0, 600_000.0)? { p.base_delay_ms = n as u64; }
        if let Some(n) = num("maxDelayMs", 0.0, 3_600_000.0)? { p.max_delay_ms = n as u64; }
        if let Some(n) = num("maxRetryAfterMs", 0.0, 86_400_000.0)? { p.max_retry_after_ms = n as u64; }
        if let Some(n) = num("maxRequestsPerSecond", 0.0, 1_000_000.0)? { p.max_requests_per_second = n; }
        Ok(p)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    Retryable,
    Permanent,
}

/// Segment's rule: 2xx ok; 5xx except 501/505, and 408, 410, 429, 460 are retried; other
/// statuses are permanent.
pub fn classify(status: u16) -> Class {
    match status {
        200..=299 => Class::Success,
        501 | 505 => Class::Permanent,
        500..=599 | 408 | 410 | 429 | 460 => Class::Retryable,
        _ => Class::Permanent,
    }
}

/// Full-jitter exponential backoff before attempt `attempt + 1` (attempt counts from 1).
pub fn backoff_ms(attempt: u32, p: &Policy, random: f64) -> u64 {
    let ceiling = p.base_delay_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30)).min(p.max_delay_ms);
    // Half fixed, half random: spreads retries without ever retrying instantly.
    ceiling / 2 + (random.clamp(0.0, 1.0) * (ceiling / 2) as f64) as u64
}

/// `Retry-After` as delay-seconds or an HTTP date, in milliseconds from `now_ms`.
pub fn parse_retry_after(v: &str, now_ms: f64) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then_some((secs * 1000.0) as u64);
    }
    let at = crate::time::parse_date_ms(v)? as f64;
    Some((at - now_ms).max(0.0) as u64)
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeliveryError {
    pub code: ErrorCode,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub delivered: bool,
    pub attempts: u32,
    pub status: Option<u16>,
    pub error: Option<DeliveryError>,
}

/// Spaces request starts to honour `max_requests_per_second`.
struct Pacer {
    next_ms: Cell<f64>,
}

async fn deliver_one<T: Transport>(t: &T, req: &HttpRequest, p: &Policy, pacer: &Pacer) -> Outcome {
    let mut attempts = 0;
    loop {
        if p.max_requests_per_second > 0.0 {
            let now = t.now_ms();
            let start = pacer.next_ms.get().max(now);
            pacer.next_ms.set(start + 1000.0 / p.max_requests_per_second);
            if start > now {
                t.sleep((start - now) as u64).await;
            }
        }
        attempts += 1;
        let (status, retry_after, error) = match t.send(req, p.timeout_ms).await {
            Ok(r) => match classify(r.status) {
                Class::Success => return Outcome { delivered: true, attempts, status: Some(r.status), error: None },
                class => {
                    let retryable = class == Class::Retryable;
                    let message = format!("HTTP {}{}", r.status, summarize(&r.body));
                    (Some(r.status), r.retry_after, DeliveryError { code: ErrorCode::HttpError, message, retryable })
                }
            },
            Err(TransportError::Timeout) => (None, None, DeliveryError {
                code: ErrorCode::Timeout,
                message: format!("No response within {} ms", p.timeout_ms),
                retryable: true,
            }),
            Err(TransportError::Network(m)) => (None, None, DeliveryError { code: ErrorCode::NetworkError, message: m, retryable: true }),
        };
        let failed = |error| Outcome { delivered: false, attempts, status, error: Some(error) };
        if !error.retryable || attempts >= p.max_attempts {
            return failed(error);
        }
        let mut wait = backoff_ms(attempts, p, t.random());
        if let Some(ra) = retry_after.as_deref().and_then(|v| parse_retry_after(v, t.now_ms())) {
            if ra > p.max_retry_after_ms {
                return failed(DeliveryError { message: format!("{} (Retry-After {} ms exceeds the limit)", error.message, ra), ..error });
            }
            wait = wait.max(ra);
        }
        t.sleep(wait).await;
    }
}

/// A short, PII-free summary of an error body: Snap and Braze put a reason in JSON fields.
fn summarize(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let reason = parsed.as_ref().and_then(|v| {
        ["reason", "message", "error_message", "error"].iter().find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
    });
    match reason {
        Some(r) => format!(": {}", r.chars().take(200).collect::<String>()),
        None => String::new(),
    }
}

/// Deliver every request of a plan; at most `concurrency` in flight, so a request waiting on a
/// retry never stalls the others. Outcomes are in request order.
pub async fn deliver_all<T: Transport>(t: &T, requests: &[&HttpRequest], p: &Policy) -> Vec<Outcome> {
    let pacer = Pacer { next_ms: Cell::new(0.0) };
    let pacer = &pacer;
    let mut done: Vec<(usize, Outcome)> = stream::iter(requests.iter().enumerate())
        .map(|(i, r)| async move { (i, deliver_one(t, r, p, pacer).await) })
        .buffer_unordered(p.concurrency.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, o)| o).collect()
}

/// Send a plan and produce one result line per prepared entry, in input order.
pub async fn send_plan<T: Transport>(t: &T, plan: &Plan, p: &Policy) -> Vec<Value> {
    let requests: Vec<&HttpRequest> = plan.batches.iter().map(|b| &b.request).collect();
    let outcomes = deliver_all(t, &requests, p).await;
    let mut outcome_of: Vec<Option<&Outcome>> = vec![None; plan.prepared.len()];
    for (b, o) in plan.batches.iter().zip(&outcomes) {
        for &e in &b.entries {
            outcome_of[e] = Some(o);
        }
    }
    plan.prepared
        .iter()
        .enumerate()
        .map(|(i, prep)| {
            let mut line = Map::new();
            line.insert("messageId".into(), json_opt(&entry_message_id(prep)));
            match (prep, outcome_of[i]) {
                (Prepared::Item { subscription, .. }, Some(o)) => {
                    line.insert("subscription".into(), Value::String(subscription.clone()));
                    line.insert("delivered".into(), Value::Bool(o.delivered));
                    line.insert("attempts".into(), Value::from(o.attempts));
                    line.insert("status".into(), o.status.map_or(Value::Null, Value::from));
                    if let Some(e) = &o.error {
                        line.insert("error".into(), serde_json::to_value(e).unwrap_or(Value::Null));
                    }
                }
                (Prepared::Error { subscription, error, .. }, _) => {
                    if let Some(s) = subscription {
                        line.insert("subscription".into(), Value::String(s.clone()));
                    }
                    line.insert("delivered".into(), Value::Bool(false));
                    line.insert("attempts".into(), Value::from(0));
                    line.insert("status".into(), Value::Null);
                    let mut e = serde_json::to_value(error).unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut e {
                        m.insert("retryable".into(), Value::Bool(false));
                    }
                    line.insert("error".into(), e);
                }
                (Prepared::Skipped { reason, .. }, _) => {
                    line.insert("skipped".into(), Value::String(reason.clone()));
                }
                (Prepared::Item { .. }, None) => {
                    line.insert("delivered".into(), Value::Bool(false));
                }
            }
            Value::Object(line)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Scripted transport: answers from a queue, records calls and sleeps; time is virtual.
    struct Script {
        answers: RefCell<Vec<Result<Response, TransportError>>>,
        calls: RefCell<Vec<String>>,
        slept: RefCell<Vec<u64>>,
        now: Cell<f64>,
    }

    impl Script {
        fn new(mut answers: Vec<Result<Response, TransportError>>) -> Script {
            answers.reverse();
            Script { answers: RefCell::new(answers), calls: RefCell::new(vec![]), slept: RefCell::new(vec![]), now: Cell::new(1_000_000.0) }
        }
    }

    fn status(s: u16) -> Result<Response, TransportError> {
        Ok(Response { status: s, retry_after: None, body: String::new() })
    }

    impl Transport for Script {
        async fn send(&self, req: &HttpRequest, _timeout: u64) -> Result<Response, TransportError> {
            self.calls.borrow_mut().push(req.url.clone());
            self.answers.borrow_mut().pop().unwrap_or_else(|| status(200))
        }
        async fn sleep(&self, ms: u64) {
            self.slept.borrow_mut().push(ms);
            self.now.set(self.now.get() + ms as f64);
        }
        fn random(&self) -> f64 {
            0.5
        }
        fn now_ms(&self) -> f64 {
            self.now.get()
        }
    }

    fn req() -> HttpRequest {
        HttpRequest { method: "POST", url: "http://x/1".into(), headers: Map::new(), body: Value::Null }
    }

    fn run(answers: Vec<Result<Response, TransportError>>, p: Policy) -> (Outcome, Vec<u64>) {
        let t = Script::new(answers);
        let r = req();
        let out = futures::executor::block_on(deliver_all(&t, &[&r], &p));
        (out[0].clone(), t.slept.borrow().clone())
    }

    #[test]
    fn classification_matches_segment() {
        for s in [200, 201, 204] {
            assert_eq!(classify(s), Class::Success);
        }
        for s in [500, 502, 503, 504, 599, 408, 410, 429, 460] {
            assert_eq!(classify(s), Class::Retryable, "{s}");
        }
        for s in [400, 401, 403, 404, 409, 422, 501, 505] {
            assert_eq!(classify(s), Class::Permanent, "{s}");
        }
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let (o, slept) = run(vec![status(400)], Policy::default());
        assert_eq!((o.delivered, o.attempts, o.status), (false, 1, Some(400)));
        assert!(!o.error.unwrap().retryable);
        assert!(slept.is_empty());
    }

    #[test]
    fn retries_then_succeeds_with_backoff() {
        let (o, slept) = run(vec![status(500), status(503), status(200)], Policy::default());
        assert_eq!((o.delivered, o.attempts, o.status), (true, 3, Some(200)));
        // base 250: ceilings 250, 500 -> half fixed + half * 0.5 random.
        assert_eq!(slept, vec![187, 375]);
    }

    #[test]
    fn retry_after_is_honoured_and_bounded() {
        let ra = |v: &str| Ok(Response { status: 429, retry_after: Some(v.into()), body: String::new() });
        let (o, slept) = run(vec![ra("3"), status(200)], Policy::default());
        assert!(o.delivered);
        assert_eq!(slept, vec![3000]);
        let (o, _) = run(vec![ra("3600")], Policy::default());
        assert!(!o.delivered && o.error.unwrap().retryable);
    }

    #[test]
    fn attempts_are_bounded_for_network_errors() {
        let net = || Err(TransportError::Network("connection refused".into()));
        let p = Policy { max_attempts: 3, ..Policy::default() };
        let (o, slept) = run(vec![net(), net(), net(), net()], p);
        assert_eq!((o.delivered, o.attempts, o.status), (false, 3, None));
        let e = o.error.unwrap();
        assert_eq!(e.code, ErrorCode::NetworkError);
        assert!(e.retryable);
        assert_eq!(slept.len(), 2);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = Policy::default();
        assert!(backoff_ms(1, &p, 0.0) < backoff_ms(3, &p, 0.0));
        assert_eq!(backoff_ms(40, &p, 1.0), p.max_delay_ms);
        assert_eq!(parse_retry_after("Tue, 02 Jan 2024 10:00:10 GMT", 1704189600000.0), Some(10_000));
    }
}
