//! Delivery with Segment's error semantics: classification, bounded retries with exponential
//! backoff and full jitter, `Retry-After`, per-request timeouts, concurrency bounding requests
//! in flight only (a retry wait holds no slot), the destination's rate limiter (see
//! `ratelimit`), and redirects never followed (the URL carries the token). Generic over a
//! `Transport` so the logic is tested natively with a scripted or virtual-time transport and
//! runs on `fetch` in wasm; every destination's requests go through here.

use crate::config::Config;
use crate::destinations::ObjectError;
use crate::engine::{entry_message_id, json_opt, Batch, HttpRequest, Plan, Prepared};
use crate::error::{ErrorCode, EventError};
use crate::oauth::OAuth;
use crate::ratelimit::{Limiter, RateConfig};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Value of the `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// Value of the `Location` header (redirects), if any.
    pub location: Option<String>,
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
                    _ => Err(EventError::new(ErrorCode::InvalidConfig, format!("`{k}` must be a number from {} to {}", crate::js::number_to_string(min), crate::js::number_to_string(max))).with_field(k)),
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
    if let Some(secs) = crate::js::parse_decimal(v) {
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
    /// The server's `Retry-After` on a retryable failure, for a caller that retries later
    /// (a queue consumer's delay).
    #[serde(rename = "retryAfterMs", skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub delivered: bool,
    pub attempts: u32,
    pub status: Option<u16>,
    pub error: Option<DeliveryError>,
    /// A 2xx answer's body when it reports per-object errors (read by the destination).
    pub errors_body: Option<String>,
}

/// `scheme://host[:port]` of a `Location`, without user info, path, query or fragment: the
/// only part of a redirect target that may appear in a result (the rest can carry the
/// token). `None` for a relative location.
pub fn location_origin(location: &str) -> Option<String> {
    let l = location.trim();
    let (scheme, rest) = match l.find("://") {
        Some(i) if l[..i].chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) && i > 0 => (&l[..i], &l[i + 3..]),
        _ => match l.strip_prefix("//") {
            Some(rest) => ("", rest),
            None => return None,
        },
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let prefix = if scheme.is_empty() { "//".to_string() } else { format!("{}://", scheme.to_ascii_lowercase()) };
    Some(format!("{prefix}{}", host.to_ascii_lowercase()))
}

/// Redirects are never followed: the request carries the access token, and a 3xx from the
/// destination's origin must not send it anywhere else. Status 0 is a browser's
/// `opaqueredirect` (fetch with `redirect: "manual"` hides the target).
fn redirect_error(status: u16, location: Option<&str>) -> DeliveryError {
    let target = match (status, location.map(location_origin)) {
        (0, _) => " (target hidden by the browser)".to_string(),
        (_, Some(Some(origin))) => format!(" to {origin}"),
        (_, Some(None)) => " to a path on the same origin".to_string(),
        (_, None) => " without a Location".to_string(),
    };
    let shown = if status == 0 { "redirect".to_string() } else { format!("HTTP {status}") };
    DeliveryError {
        code: ErrorCode::HttpError,
        message: format!("{shown}: redirect{target} not followed"),
        retryable: false,
        retry_after_ms: None,
    }
}

/// Concurrency slots: at most `n` requests in flight. Waiting for a retry never holds one;
/// a retry that is due goes before requests that have not started yet.
struct Slots {
    free: Cell<usize>,
    queues: RefCell<[VecDeque<Rc<Waiter>>; 2]>,
}

#[derive(Default)]
struct Waiter {
    granted: Cell<bool>,
    cancelled: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Slots {
    fn new(n: usize) -> Slots {
        Slots { free: Cell::new(n.max(1)), queues: RefCell::new([VecDeque::new(), VecDeque::new()]) }
    }

    fn acquire(&self, retry: bool) -> Acquire<'_> {
        Acquire { slots: self, queue: usize::from(!retry), waiter: None, done: false }
    }

    fn release(&self) {
        loop {
            let next = {
                let mut q = self.queues.borrow_mut();
                q[0].pop_front().or_else(|| q[1].pop_front())
            };
            match next {
                Some(w) if w.cancelled.get() => continue,
                Some(w) => {
                    w.granted.set(true);
                    if let Some(waker) = w.waker.borrow_mut().take() {
                        waker.wake();
                    }
                }
                None => self.free.set(self.free.get() + 1),
            }
            return;
        }
    }
}

struct Acquire<'a> {
    slots: &'a Slots,
    queue: usize,
    waiter: Option<Rc<Waiter>>,
    done: bool,
}

struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Slot<'a>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot<'a>> {
        let this = self.get_mut();
        match &this.waiter {
            None if this.slots.free.get() > 0 => {
                this.slots.free.set(this.slots.free.get() - 1);
                this.done = true;
                Poll::Ready(Slot(this.slots))
            }
            None => {
                let w = Rc::new(Waiter::default());
                *w.waker.borrow_mut() = Some(cx.waker().clone());
                this.slots.queues.borrow_mut()[this.queue].push_back(Rc::clone(&w));
                this.waiter = Some(w);
                Poll::Pending
            }
            Some(w) if w.granted.get() => {
                this.done = true;
                Poll::Ready(Slot(this.slots))
            }
            Some(w) => {
                *w.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let (false, Some(w)) = (self.done, &self.waiter) {
            if w.granted.get() {
                self.slots.release();
            } else {
                w.cancelled.set(true);
            }
        }
    }
}

/// What one delivery shares with the others: slots, the destination's limiter, and the
/// call's own request-rate cap (`maxRequestsPerSecond`).
struct Shared<'a> {
    slots: Slots,
    limiter: &'a Limiter,
    pacer: Option<Limiter>,
    auth: Option<&'a OAuth>,
}

async fn take_token<T: Transport>(t: &T, limiter: &Limiter, key: &str) {
    while let Err(wait) = limiter.try_acquire(key, t.now_ms()) {
        t.sleep(wait.ceil() as u64).await;
    }
}

async fn deliver_one<T: Transport>(t: &T, req: &HttpRequest, key: &str, p: &Policy, sh: &Shared<'_>) -> Outcome {
    let mut attempts = 0;
    let mut auth_retried = false;
    if let Some(auth) = sh.auth.filter(|a| a.token().is_none()) {
        // Only a refresh token configured: get an access token first.
        if let Err(e) = auth.refresh(t, None, p.timeout_ms).await {
            return Outcome { delivered: false, attempts, status: None, error: Some(e), errors_body: None };
        }
    }
    loop {
        // Built with the configured token; a refreshed one replaces it (a copy, only then).
        let authorized = sh.auth.filter(|a| a.refreshed()).map(|a| a.authorize(req));
        let req = authorized.as_ref().unwrap_or(req);
        let used_token = sh.auth.and_then(OAuth::token);
        let result = {
            let _slot = sh.slots.acquire(attempts > 0).await;
            // Taken with the slot held, right before the request: a 429 that shrinks the
            // rate applies to the very next request (only `concurrency` requests contend).
            take_token(t, sh.limiter, key).await;
            if let Some(pacer) = &sh.pacer {
                take_token(t, pacer, "").await;
            }
            attempts += 1;
            t.send(req, p.timeout_ms).await
        };
        // An expired access token: refresh it once and send again at once.
        if let (Ok(Response { status: 401, .. }), Some(auth), false) = (&result, sh.auth, auth_retried) {
            auth_retried = true;
            match auth.refresh(t, used_token.as_deref(), p.timeout_ms).await {
                Ok(()) => continue,
                Err(e) => return Outcome { delivered: false, attempts, status: Some(401), error: Some(e), errors_body: None },
            }
        }
        let (status, retry_after, error) = match result {
            Ok(r) if r.status == 0 || (300..400).contains(&r.status) => {
                return Outcome { delivered: false, attempts, status: Some(r.status), error: Some(redirect_error(r.status, r.location.as_deref())), errors_body: None };
            }
            Ok(r) => match classify(r.status) {
                Class::Success => {
                    sh.limiter.on_answer(key, t.now_ms(), false);
                    // Kept only when it may name failed objects: most answers are a few bytes.
                    let errors_body = r.body.contains("\"errors\"").then_some(r.body);
                    return Outcome { delivered: true, attempts, status: Some(r.status), error: None, errors_body };
                }
                class => {
                    sh.limiter.on_answer(key, t.now_ms(), r.status == 429);
                    let retryable = class == Class::Retryable;
                    let message = format!("HTTP {}{}", r.status, summarize(&r.body));
                    (Some(r.status), r.retry_after, DeliveryError { code: ErrorCode::HttpError, message, retryable, retry_after_ms: None })
                }
            },
            Err(TransportError::Timeout) => (None, None, DeliveryError {
                code: ErrorCode::Timeout,
                message: format!("No response within {} ms", p.timeout_ms),
                retryable: true,
                retry_after_ms: None,
            }),
            Err(TransportError::Network(m)) => (None, None, DeliveryError { code: ErrorCode::NetworkError, message: m, retryable: true, retry_after_ms: None }),
        };
        let retry_after_ms = retry_after.as_deref().and_then(|v| parse_retry_after(v, t.now_ms()));
        let failed = |error: DeliveryError| {
            let retry_after_ms = if error.retryable { retry_after_ms } else { None };
            Outcome { delivered: false, attempts, status, error: Some(DeliveryError { retry_after_ms, ..error }), errors_body: None }
        };
        if !error.retryable || attempts >= p.max_attempts {
            return failed(error);
        }
        let mut wait = backoff_ms(attempts, p, t.random());
        if let Some(ra) = retry_after_ms {
            if ra > p.max_retry_after_ms {
                return failed(DeliveryError { message: format!("{} (Retry-After {} ms exceeds the limit)", error.message, ra), ..error });
            }
            wait = wait.max(ra);
        }
        // No slot is held here.
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

/// Requests under way (in flight, waiting for a slot or a retry) per concurrency slot: enough
/// that requests waiting to retry leave room for new ones, while a call with 100,000
/// requests does not hold 100,000 delivery states at once.
const UNDER_WAY_PER_SLOT: usize = 16;

/// Deliver every request of a plan, at most `concurrency` in flight; `(request, rate key)`
/// pairs. Outcomes are in request order.
pub async fn deliver_all<T: Transport>(t: &T, requests: &[(&HttpRequest, &str)], p: &Policy, limiter: &Limiter) -> Vec<Outcome> {
    deliver_all_with(t, requests, p, limiter, None).await
}

/// `deliver_all` with an access token that may be refreshed on a 401 (`oauth`).
pub async fn deliver_all_with<T: Transport>(t: &T, requests: &[(&HttpRequest, &str)], p: &Policy, limiter: &Limiter, auth: Option<&OAuth>) -> Vec<Outcome> {
    let pacer = (p.max_requests_per_second > 0.0)
        .then(|| Limiter::new(RateConfig { requests_per_second: p.max_requests_per_second, burst: 1.0, adaptive: false }));
    let shared = Shared { slots: Slots::new(p.concurrency), limiter, pacer, auth };
    let shared = &shared;
    let under_way = p.concurrency.max(1).saturating_mul(UNDER_WAY_PER_SLOT).max(64).min(requests.len());
    // `under_way` workers, each taking the next request in order when it is done with one.
    let next = Cell::new(0);
    let outcomes: RefCell<Vec<Option<Outcome>>> = RefCell::new(vec![None; requests.len()]);
    let worker = || async {
        loop {
            let i = next.get();
            let Some((r, key)) = requests.get(i) else { return };
            next.set(i + 1);
            let o = deliver_one(t, r, key, p, shared).await;
            outcomes.borrow_mut()[i] = Some(o);
        }
    };
    JoinAll::new((0..under_way).map(|_| worker()).collect()).await;
    outcomes.into_inner().into_iter().map(|o| o.expect("every request has an outcome")).collect()
}

/// Joins the workers, polling only those woken since the last poll (as `FuturesUnordered`
/// does, so a wake costs the same with 64 workers or 16,000), without `futures`' task queue
/// machinery in the wasm.
struct JoinAll<F> {
    workers: Vec<Option<Pin<Box<F>>>>,
    remaining: usize,
    wakers: Vec<Waker>,
    woken: Arc<Woken>,
}

/// Indices of the workers woken since the last poll, and the task to wake for them.
struct Woken {
    list: Mutex<Vec<usize>>,
    parent: Mutex<Option<Waker>>,
}

struct WorkerWaker(usize, Arc<Woken>);

impl Wake for WorkerWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.1.list).push(self.0);
        if let Some(w) = lock(&self.1.parent).as_ref() {
            w.wake_by_ref();
        }
    }
}

/// Single-threaded here: a poisoned lock only means a panic elsewhere, its data is still sound.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<F: Future<Output = ()>> JoinAll<F> {
    fn new(workers: Vec<F>) -> Self {
        let n = workers.len();
        let woken = Arc::new(Woken { list: Mutex::new((0..n).collect()), parent: Mutex::new(None) });
        let wakers = (0..n).map(|i| Waker::from(Arc::new(WorkerWaker(i, Arc::clone(&woken))))).collect();
        JoinAll { workers: workers.into_iter().map(|f| Some(Box::pin(f))).collect(), remaining: n, wakers, woken }
    }
}

impl<F: Future<Output = ()>> Future for JoinAll<F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        *lock(&this.woken.parent) = Some(cx.waker().clone());
        loop {
            let due = std::mem::take(&mut *lock(&this.woken.list));
            if due.is_empty() {
                break;
            }
            for i in due {
                if let Some(f) = &mut this.workers[i] {
                    if f.as_mut().poll(&mut Context::from_waker(&this.wakers[i])).is_ready() {
                        this.workers[i] = None;
                        this.remaining -= 1;
                    }
                }
            }
        }
        if this.remaining > 0 { Poll::Pending } else { Poll::Ready(()) }
    }
}

/// The rate-limit key of a request target: its path up to the id segment (Snap:
/// `/v3/{pixel or app id}`), so test-mode requests share the id's budget.
pub fn rate_key(target: &str) -> &str {
    let mut seen = 0;
    for (i, c) in target.char_indices() {
        if c == '/' {
            seen += 1;
            if seen == 3 {
                return &target[..i];
            }
        }
    }
    target
}

/// `Retry-After` for an answer without one, from Braze-style rate-limit headers:
/// `X-RateLimit-Retry-After` (seconds), else `X-RateLimit-Reset` (Unix seconds) when the
/// answer is a 429 or the window is used up. `get` reads a header by lower-case name.
pub fn retry_after_header(status: u16, get: impl Fn(&str) -> Option<String>, now_ms: f64) -> Option<String> {
    if let Some(v) = get("retry-after").or_else(|| get("x-ratelimit-retry-after")) {
        return Some(v);
    }
    let exhausted = get("x-ratelimit-remaining").is_some_and(|r| r.trim() == "0");
    if status != 429 && !exhausted {
        return None;
    }
    let reset: f64 = crate::js::parse_decimal(get("x-ratelimit-reset")?.trim())?;
    // A reset in seconds since the epoch; anything smaller is already a delay in seconds.
    let wait = if reset > 1e9 { (reset * 1000.0 - now_ms) / 1000.0 } else { reset };
    (wait.is_finite()).then(|| format!("{}", wait.max(0.0).ceil() as u64))
}

/// An object the destination rejected inside an accepted request: permanent, like Segment's
/// per-item BAD_REQUEST.
fn object_error(message: &str) -> DeliveryError {
    DeliveryError {
        code: ErrorCode::HttpError,
        message: format!("object rejected: {}", message.chars().take(200).collect::<String>()),
        retryable: false,
        retry_after_ms: None,
    }
}

/// Per-entry errors of one delivered batch: each object error is mapped to the entry whose
/// objects cover its (array, index); an error without an array counts over all objects.
fn entry_errors(batch: &Batch, errors: &[ObjectError]) -> Vec<(usize, DeliveryError)> {
    let mut out: Vec<(usize, DeliveryError)> = Vec::new();
    for err in errors {
        let mut seen = 0;
        let entry = batch.entries.iter().zip(&batch.parts).find_map(|(&e, parts)| {
            let n: usize = parts.iter().filter(|(a, _)| err.array.as_ref().is_none_or(|x| x == a)).map(|(_, n)| n).sum();
            let hit = err.index >= seen && err.index < seen + n;
            seen += n;
            hit.then_some(e)
        });
        // The first error of an entry is the one reported.
        if let Some(e) = entry.filter(|e| !out.iter().any(|(x, _)| x == e)) {
            out.push((e, object_error(&err.message)));
        }
    }
    out
}

/// Deliver a plan's requests, phase by phase (`destinations::Split`): a request of a later
/// phase goes only when none of its entries failed before. Outcomes in batch order; `None`
/// for a request not sent.
async fn deliver_plan<T: Transport>(t: &T, plan: &Plan, p: &Policy, limiter: &Limiter, cfg: Option<&Config>) -> Vec<Option<Outcome>> {
    let auth = cfg.and_then(|c| c.oauth.as_ref());
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.batches.len()];
    let mut failed = vec![false; plan.prepared.len()];
    // Resources the requests need first (in plan order; each name once, then remembered). Only
    // Snap audiences name any, so builds without them leave the lookup out.
    #[allow(unused_mut)]
    let mut resolved: Vec<Option<HttpRequest>> = vec![None; plan.batches.len()];
    #[cfg(feature = "snap-audiences")]
    if let Some(cfg) = cfg {
        for (b, batch) in plan.batches.iter().enumerate() {
            let Some(e) = &batch.ensure else { continue };
            let url = |target: &str| (cfg.definition.url)(&cfg.origin, target, &cfg.settings, false);
            let caller = crate::ensure::Caller { t, policy: p, auth };
            match crate::ensure::resolve(&caller, e, &cfg.settings.values, &batch.request, url, &cfg.names).await {
                Ok(id) if batch.request.url.contains(crate::ensure::PLACEHOLDER) => {
                    let mut r = batch.request.clone();
                    r.url = r.url.replace(crate::ensure::PLACEHOLDER, &crate::destinations::encode_component(&id));
                    resolved[b] = Some(r);
                }
                // The request only ensured the resource (a lookalike): done.
                Ok(_) => outcomes[b] = Some(Outcome { delivered: true, attempts: 1, status: Some(200), error: None, errors_body: None }),
                Err((error, status)) => {
                    batch.entries.iter().for_each(|&e| failed[e] = true);
                    outcomes[b] = Some(Outcome { delivered: false, attempts: 1, status, error: Some(error), errors_body: None });
                }
            }
        }
    }
    let mut phases: Vec<u8> = plan.batches.iter().map(|b| b.phase).collect();
    phases.sort_unstable();
    phases.dedup();
    for phase in phases {
        let chosen: Vec<usize> = (0..plan.batches.len())
            .filter(|&b| plan.batches[b].phase == phase && outcomes[b].is_none() && !plan.batches[b].entries.iter().any(|&e| failed[e]))
            .collect();
        let requests: Vec<(&HttpRequest, &str)> = chosen
            .iter()
            .map(|&b| (resolved[b].as_ref().unwrap_or(&plan.batches[b].request), rate_key(&plan.batches[b].target)))
            .collect();
        for (b, o) in chosen.into_iter().zip(deliver_all_with(t, &requests, p, limiter, auth).await) {
            if !o.delivered {
                plan.batches[b].entries.iter().for_each(|&e| failed[e] = true);
            }
            outcomes[b] = Some(o);
        }
    }
    outcomes
}

/// One entry's outcome over the requests that carry it: delivered when all were, with the
/// attempts of all and the first failure's status and error.
fn merge_outcomes(list: &[&Outcome]) -> Outcome {
    let attempts = list.iter().map(|o| o.attempts).sum();
    match list.iter().find(|o| !o.delivered) {
        Some(f) => Outcome { attempts, ..(*f).clone() },
        None => Outcome { attempts, ..list.last().map_or(Outcome { delivered: true, attempts: 0, status: None, error: None, errors_body: None }, |o| (*o).clone()) },
    }
}

/// Send a plan and produce one result line per prepared entry, in input order.
pub async fn send_plan<T: Transport>(t: &T, plan: &Plan, p: &Policy, limiter: &Limiter) -> Vec<Value> {
    send_lines(t, plan, p, limiter, None).await
}

/// `send_plan` with the destination's session state: its rate limiter, an access token that
/// may be refreshed on a 401 (`oauth`), and the named resources found or created (`ensure`).
pub async fn send_plan_for<T: Transport>(t: &T, plan: &Plan, p: &Policy, cfg: &Config) -> Vec<Value> {
    send_lines(t, plan, p, &cfg.limiter, Some(cfg)).await
}

async fn send_lines<T: Transport>(t: &T, plan: &Plan, p: &Policy, limiter: &Limiter, cfg: Option<&Config>) -> Vec<Value> {
    let outcomes = deliver_plan(t, plan, p, limiter, cfg).await;
    // One outcome per entry, borrowed; merged only for entries carried by several requests
    // (destinations with a `split`), so the usual case copies nothing.
    let mut outcome_of: Vec<Option<&Outcome>> = vec![None; plan.prepared.len()];
    // Objects a destination rejected inside an accepted request (Braze's `errors[]`).
    let mut rejected: Vec<Option<DeliveryError>> = vec![None; plan.prepared.len()];
    let mut several: std::collections::HashMap<usize, Vec<&Outcome>> = std::collections::HashMap::new();
    for (b, o) in plan.batches.iter().zip(&outcomes) {
        let Some(o) = o else { continue };
        for &e in &b.entries {
            match outcome_of[e] {
                None => outcome_of[e] = Some(o),
                Some(first) => several.entry(e).or_insert_with(|| vec![first]).push(o),
            }
        }
        if let (Some(body), Some(read)) = (&o.errors_body, plan.object_errors) {
            for (e, err) in entry_errors(b, &read(body)) {
                rejected[e] = Some(err);
            }
            // The object a rider's event rides on is its own update too.
            for &(r, carrier) in &b.riders {
                rejected[r] = rejected[carrier].clone();
            }
        }
    }
    let merged: std::collections::HashMap<usize, Outcome> = several.into_iter().map(|(e, l)| (e, merge_outcomes(&l))).collect();
    for (e, o) in &merged {
        outcome_of[*e] = Some(o);
    }
    plan.prepared
        .iter()
        .enumerate()
        .map(|(i, prep)| {
            let mut line = Map::new();
            line.insert("messageId".into(), json_opt(&entry_message_id(prep)));
            match (prep, outcome_of[i]) {
                (Prepared::Item { subscription, .. }, Some(o)) => {
                    line.insert("subscription".into(), Value::String(subscription.to_string()));
                    line.insert("delivered".into(), Value::Bool(o.delivered && rejected[i].is_none()));
                    line.insert("attempts".into(), Value::from(o.attempts));
                    line.insert("status".into(), o.status.map_or(Value::Null, Value::from));
                    if let Some(e) = rejected[i].as_ref().or(o.error.as_ref()) {
                        line.insert("error".into(), serde_json::to_value(e).unwrap_or(Value::Null));
                    }
                }
                (Prepared::Error { subscription, error, .. }, _) => {
                    if let Some(s) = subscription {
                        line.insert("subscription".into(), Value::String(s.to_string()));
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
        Ok(Response { status: s, retry_after: None, location: None, body: String::new() })
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
        HttpRequest { method: "POST", url: "http://x/1".into(), headers: Map::new(), body: String::new() }
    }

    fn run(answers: Vec<Result<Response, TransportError>>, p: Policy) -> (Outcome, Vec<u64>) {
        let t = Script::new(answers);
        let r = req();
        let out = futures::executor::block_on(deliver_all(&t, &[(&r, "k")], &p, &Limiter::default()));
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
        let ra = |v: &str| Ok(Response { status: 429, retry_after: Some(v.into()), location: None, body: String::new() });
        let (o, slept) = run(vec![ra("3"), status(200)], Policy::default());
        assert!(o.delivered);
        assert_eq!(slept, vec![3000]);
        let (o, _) = run(vec![ra("3600")], Policy::default());
        let e = o.error.unwrap();
        assert!(!o.delivered && e.retryable);
        assert_eq!(e.retry_after_ms, Some(3_600_000), "handed to the caller to retry later");
        // Out of attempts: the last Retry-After is reported too.
        let (o, _) = run(vec![ra("2"), ra("5")], Policy { max_attempts: 2, ..Policy::default() });
        assert_eq!(o.error.unwrap().retry_after_ms, Some(5000));
        // Only for retryable failures.
        let perm = Ok(Response { status: 400, retry_after: Some("5".into()), location: None, body: String::new() });
        let (o, _) = run(vec![perm], Policy::default());
        assert_eq!(o.error.unwrap().retry_after_ms, None);
    }

    #[test]
    fn redirects_are_permanent_and_name_only_the_origin() {
        let redirect = |s: u16, loc: Option<&str>| Ok(Response { status: s, retry_after: None, location: loc.map(str::to_string), body: String::new() });
        let cases = [
            (307, Some("http://user:pw@Other-Host:8080/v3/px/events?access_token=SECRET#x"), "HTTP 307: redirect to http://other-host:8080 not followed"),
            (301, Some("/elsewhere?access_token=SECRET"), "HTTP 301: redirect to a path on the same origin not followed"),
            (302, Some("//evil.example/x?access_token=SECRET"), "HTTP 302: redirect to //evil.example not followed"),
            (308, None, "HTTP 308: redirect without a Location not followed"),
            (0, None, "redirect: redirect (target hidden by the browser) not followed"),
        ];
        for (s, loc, msg) in cases {
            let (o, slept) = run(vec![redirect(s, loc)], Policy::default());
            assert_eq!((o.delivered, o.attempts, o.status), (false, 1, Some(s)));
            let e = o.error.unwrap();
            assert_eq!((e.code, e.retryable, e.message.as_str()), (ErrorCode::HttpError, false, msg));
            assert!(slept.is_empty());
        }
    }

    #[test]
    fn rate_keys_are_per_id() {
        assert_eq!(rate_key("/v3/px-1/events"), "/v3/px-1");
        assert_eq!(rate_key("/v3/px-1/events/validate"), "/v3/px-1");
        assert_eq!(rate_key("/x"), "/x");
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

    /// Virtual-time simulation: requests take `latency` ms, sleeps are timers on a virtual
    /// clock that jumps to the next deadline when nothing else can run.
    struct Sim {
        now: Cell<f64>,
        timers: RefCell<Vec<(f64, Waker)>>,
        answers: RefCell<VecDeque<Result<Response, TransportError>>>,
        latency: f64,
        in_flight: Cell<usize>,
        max_in_flight: Cell<usize>,
        sends: RefCell<Vec<(f64, String)>>,
    }

    struct Timer<'a>(&'a Sim, f64);

    impl Future for Timer<'_> {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0.now.get() >= self.1 {
                return Poll::Ready(());
            }
            self.0.timers.borrow_mut().push((self.1, cx.waker().clone()));
            Poll::Pending
        }
    }

    impl Sim {
        fn new(latency: f64, answers: Vec<Result<Response, TransportError>>) -> Sim {
            Sim {
                now: Cell::new(0.0),
                timers: RefCell::new(vec![]),
                answers: RefCell::new(answers.into()),
                latency,
                in_flight: Cell::new(0),
                max_in_flight: Cell::new(0),
                sends: RefCell::new(vec![]),
            }
        }

        fn run<F: Future>(&self, fut: F) -> F::Output {
            let mut fut = std::pin::pin!(fut);
            let mut cx = Context::from_waker(futures::task::noop_waker_ref());
            loop {
                if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                    return v;
                }
                let mut timers = self.timers.borrow_mut();
                let Some(next) = timers.iter().map(|(t, _)| *t).reduce(f64::min) else { continue };
                self.now.set(self.now.get().max(next));
                let now = self.now.get();
                let (due, rest): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(t, _)| *t <= now);
                *timers = rest;
                drop(timers);
                due.into_iter().for_each(|(_, w)| w.wake());
            }
        }

        fn send_times(&self, url: &str) -> Vec<f64> {
            self.sends.borrow().iter().filter(|(_, u)| u == url).map(|(t, _)| *t).collect()
        }
    }

    impl Transport for Sim {
        async fn send(&self, req: &HttpRequest, _timeout: u64) -> Result<Response, TransportError> {
            self.sends.borrow_mut().push((self.now.get(), req.url.clone()));
            self.in_flight.set(self.in_flight.get() + 1);
            self.max_in_flight.set(self.max_in_flight.get().max(self.in_flight.get()));
            Timer(self, self.now.get() + self.latency).await;
            self.in_flight.set(self.in_flight.get() - 1);
            self.answers.borrow_mut().pop_front().unwrap_or_else(|| status(200))
        }
        async fn sleep(&self, ms: u64) {
            Timer(self, self.now.get() + ms as f64).await
        }
        fn random(&self) -> f64 {
            0.5
        }
        fn now_ms(&self) -> f64 {
            self.now.get()
        }
    }

    fn reqs(n: usize) -> Vec<HttpRequest> {
        (0..n).map(|i| HttpRequest { url: format!("http://x/{i}"), ..req() }).collect()
    }

    fn unlimited() -> Limiter {
        Limiter::new(RateConfig { adaptive: false, ..RateConfig::default() })
    }

    #[test]
    fn a_retry_wait_holds_no_concurrency_slot() {
        let throttled = Ok(Response { status: 429, retry_after: Some("5".into()), location: None, body: String::new() });
        let sim = Sim::new(10.0, vec![throttled]);
        let rs = reqs(10);
        let pairs: Vec<_> = rs.iter().map(|r| (r, "k")).collect();
        let p = Policy { concurrency: 1, ..Policy::default() };
        let out = sim.run(deliver_all(&sim, &pairs, &p, &unlimited()));
        assert!(out.iter().all(|o| o.delivered));
        assert_eq!(out[0].attempts, 2);
        assert_eq!(sim.max_in_flight.get(), 1, "concurrency bound kept");
        // With the only slot free during the 5 s wait, the nine others are done long before.
        for i in 1..10 {
            let t = sim.send_times(&format!("http://x/{i}"));
            assert_eq!(t.len(), 1);
            assert!(t[0] < 200.0, "request {i} started at {} ms", t[0]);
        }
        let retry = sim.send_times("http://x/0");
        assert!(retry[1] >= 5010.0, "{retry:?}");
    }

    #[test]
    fn a_due_retry_goes_before_requests_not_yet_started() {
        let sim = Sim::new(10.0, vec![status(503)]);
        let rs = reqs(200);
        let pairs: Vec<_> = rs.iter().map(|r| (r, "k")).collect();
        let p = Policy { concurrency: 1, ..Policy::default() };
        sim.run(deliver_all(&sim, &pairs, &p, &unlimited()));
        let retry = sim.send_times("http://x/0")[1];
        // Backoff ~187 ms: the retry is sent then, not after the other 199 requests (2 s).
        assert!(retry < 250.0, "{retry}");
    }

    #[test]
    fn the_rate_limit_spaces_requests_and_is_shared_by_concurrent_sends() {
        let sim = Sim::new(1.0, vec![]);
        let limiter = Limiter::new(RateConfig { requests_per_second: 10.0, burst: 1.0, adaptive: true });
        let (a, b) = (reqs(10), reqs(10));
        let pa: Vec<_> = a.iter().map(|r| (r, "/v3/px")).collect();
        let pb: Vec<_> = b.iter().map(|r| (r, "/v3/px")).collect();
        let p = Policy::default();
        let (oa, ob) = sim.run(futures::future::join(deliver_all(&sim, &pa, &p, &limiter), deliver_all(&sim, &pb, &p, &limiter)));
        assert!(oa.iter().chain(&ob).all(|o| o.delivered));
        let mut times: Vec<f64> = sim.sends.borrow().iter().map(|(t, _)| *t).collect();
        times.sort_by(f64::total_cmp);
        assert_eq!(times.len(), 20);
        for w in times.windows(2) {
            assert!(w[1] - w[0] >= 99.0, "10/s shared by both calls: {times:?}");
        }
        // Another key has its own bucket.
        let other = reqs(1);
        let start = sim.now.get();
        sim.run(deliver_all(&sim, &[(&other[0], "/v3/app")], &p, &limiter));
        assert_eq!(sim.sends.borrow().last().unwrap().0, start);
    }

    #[test]
    fn a_429_shrinks_the_rate_and_it_recovers() {
        // 100 requests/s at first; answers 41-50 are 429s (over a tenth of the last second's).
        let mut answers: Vec<_> = (0..40).map(|_| status(200)).collect();
        answers.extend((0..10).map(|_| status(429)));
        let sim = Sim::new(1.0, answers);
        let limiter = Limiter::new(RateConfig { requests_per_second: 100.0, burst: 1.0, adaptive: true });
        let rs = reqs(400);
        let pairs: Vec<_> = rs.iter().map(|r| (r, "/v3/px")).collect();
        let out = sim.run(deliver_all(&sim, &pairs, &Policy::default(), &limiter));
        assert!(out.iter().all(|o| o.delivered));
        let mut times: Vec<f64> = sim.sends.borrow().iter().map(|(t, _)| *t).collect();
        times.sort_by(f64::total_cmp);
        let throttled_at = times[45];
        let in_second = |from: f64| times.iter().filter(|&&t| t >= from && t < from + 1000.0).count();
        let before = in_second(throttled_at - 1000.0);
        let after = in_second(throttled_at + 1.0);
        assert!(before >= 45, "100/s from the start: {before} before the 429s");
        assert!(after <= 60, "halved to ~50/s, then recovering: {after} in the second after");
        // Recovered additively (+10/s per second) to the ceiling by the end.
        assert_eq!(limiter.limit("/v3/px"), Some(100.0));
        let last = in_second(times[times.len() - 1] - 999.0);
        assert!(last >= 90, "{last} vs {after}");
    }
}
