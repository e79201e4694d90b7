//! Named resources a request needs first (Snap: the segment of an audience, a lookalike):
//! found by name in the account's list (every page of it), else created, then remembered per
//! destination, so a replayed or repeated call never creates a second one. A request whose URL
//! holds `PLACEHOLDER` gets the resolved id there; a request that only ensures the resource (a
//! lookalike) is done once it exists.

use crate::delivery::{backoff_ms, classify, location_origin, Class, DeliveryError, Policy, Transport};
use crate::engine::HttpRequest;
use crate::error::ErrorCode;
use crate::oauth::OAuth;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;

/// Replaced by the resolved id in a request's URL.
pub const PLACEHOLDER: &str = "%7Bsegment%7D";

/// Pages of a listing read at most before giving up (Snap: 1,000 segments a page). Past it the
/// lookup fails rather than create a resource that may exist further on.
pub const MAX_PAGES: usize = 100;

/// How a destination lists, finds and creates its named resources.
pub struct Api {
    /// Target of the listing's first page (`GET`).
    pub list: fn(&Map<String, Value>) -> String,
    /// Target of the creation (`POST`, body `create` of the `Ensure`).
    pub create: fn(&Map<String, Value>) -> String,
    /// The id of the resource named `name` in one page of the listing (`None`: not on this
    /// page); `Err` says what makes the answer not a page of the listing.
    pub find: fn(&Value, &str) -> Result<Option<String>, &'static str>,
    /// The absolute URL of the listing's next page, when there is one.
    pub next: fn(&Value) -> Option<String>,
    /// The id in a creation response.
    pub created: fn(&Value) -> Option<String>,
}

/// What one request needs to exist first.
#[derive(Clone)]
pub struct Ensure {
    pub api: &'static Api,
    pub name: String,
    /// The creation request's body.
    pub create: Value,
}

impl PartialEq for Ensure {
    fn eq(&self, other: &Ensure) -> bool {
        std::ptr::eq(self.api, other.api) && self.name == other.name && self.create == other.create
    }
}

impl std::fmt::Debug for Ensure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ensure({})", self.name)
    }
}

/// Ids resolved so far, per destination (`Config`), by name.
#[derive(Default)]
pub struct Cache(RefCell<HashMap<String, String>>);

impl Cache {
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.borrow().get(name).cloned()
    }
}

type Failure = (DeliveryError, Option<u16>);

fn failed(message: String, status: Option<u16>, retryable: bool) -> Failure {
    (DeliveryError { code: if status.is_some() { ErrorCode::HttpError } else { ErrorCode::NetworkError }, message, retryable, retry_after_ms: None }, status)
}

/// Names the step a failure happened in.
fn during(step: &'static str) -> impl Fn(Failure) -> Failure {
    move |(err, status)| (DeliveryError { message: format!("Could not {step} the segment: {}", err.message), ..err }, status)
}

/// What every request of a lookup goes out with: the transport, the destination's retry
/// policy and its OAuth credentials (if any).
pub struct Caller<'a, T> {
    pub t: &'a T,
    pub policy: &'a Policy,
    pub auth: Option<&'a OAuth>,
}

/// One call with the destination's retry rules (and a token refresh on a 401); the answer's
/// body, or the error and status.
async fn call<T: Transport>(c: &Caller<'_, T>, req: &HttpRequest) -> Result<String, Failure> {
    let (t, p, auth) = (c.t, c.policy, c.auth);
    let mut attempts = 0;
    let mut refreshed = false;
    loop {
        attempts += 1;
        let sent = match auth.filter(|a| a.refreshed()) {
            Some(a) => a.authorize(req),
            None => req.clone(),
        };
        let used = auth.and_then(OAuth::token);
        let (message, status, retryable) = match t.send(&sent, p.timeout_ms).await {
            Ok(r) if r.status == 401 && auth.is_some() && !refreshed => {
                refreshed = true;
                if let Some(a) = auth {
                    a.refresh(t, used.as_deref(), p.timeout_ms).await.map_err(|e| (e, Some(401)))?;
                }
                continue;
            }
            Ok(r) => match classify(r.status) {
                Class::Success => return Ok(r.body),
                class => (format!("HTTP {}", r.status), Some(r.status), class == Class::Retryable),
            },
            Err(_) => ("the request did not complete".to_string(), None, true),
        };
        if !retryable || attempts >= p.max_attempts {
            return Err(failed(message, status, retryable));
        }
        t.sleep(backoff_ms(attempts, p, t.random())).await;
    }
}

/// Whether `link` is a plain absolute URL on `origin` (`scheme://host[:port]`): the next
/// page's request carries the access token, so it goes nowhere else. A prefix match, not a
/// parse, and no backslash, space or control character: `https://evil.example\@host/` is
/// another host to a WHATWG URL parser (fetch) whatever a simpler parser makes of it.
fn on_origin(link: &str, origin: &str) -> bool {
    let rest = link.get(origin.len()..).filter(|_| !origin.is_empty() && link[..origin.len()].eq_ignore_ascii_case(origin));
    rest.is_some_and(|r| r.is_empty() || r.starts_with(['/', '?'])) && !link.chars().any(|c| c == '\\' || c <= ' ' || c == '\u{7f}')
}

/// A page of the listing that cannot be used: permanent (asking again gets the same answer),
/// with the page's status.
fn bad_page(page: usize, problem: &str) -> Failure {
    during("look up")(failed(format!("page {page} of the listing {problem}"), Some(200), false))
}

/// The id of `e.name` in the listing, page by page, on the origin of its first page (`None`:
/// on no page).
async fn look_up<T: Transport>(c: &Caller<'_, T>, e: &Ensure, first: String, headers: &Map<String, Value>) -> Result<Option<String>, Failure> {
    let origin = location_origin(&first).unwrap_or_default();
    let mut url = first;
    for page in 1..=MAX_PAGES {
        let req = HttpRequest { method: "GET", url, headers: headers.clone(), body: String::new() };
        let body = call(c, &req).await.map_err(during("look up"))?;
        let listing: Value = serde_json::from_str(&body).map_err(|_| bad_page(page, "is not JSON"))?;
        if let Some(id) = (e.api.find)(&listing, &e.name).map_err(|problem| bad_page(page, problem))? {
            return Ok(Some(id));
        }
        let Some(next) = (e.api.next)(&listing) else { return Ok(None) };
        if !on_origin(&next, &origin) {
            // Only the link's origin is named: the rest of it is Snap's cursor, not ours to log.
            let shown = location_origin(&next).filter(|o| !o.eq_ignore_ascii_case(&origin)).unwrap_or_else(|| "a URL that is not plain".into());
            return Err(bad_page(page, &format!("links its next page to {shown}, not {origin}: not followed (the request carries the access token)")));
        }
        url = next;
    }
    Err(bad_page(MAX_PAGES, &format!("still links a next page: the segment was looked for on the first {MAX_PAGES} pages only, so it is not created")))
}

/// The id of `e.name`: remembered, else found in the listing, else created.
pub async fn resolve<T: Transport>(
    c: &Caller<'_, T>,
    e: &Ensure,
    settings: &Map<String, Value>,
    request: &HttpRequest,
    origin_of: impl Fn(&str) -> String,
    cache: &Cache,
) -> Result<String, Failure> {
    if let Some(id) = cache.get(&e.name) {
        return Ok(id);
    }
    let mut headers = request.headers.clone();
    headers.insert("content-type".into(), Value::String("application/json".into()));
    let id = match look_up(c, e, origin_of(&(e.api.list)(settings)), &headers).await? {
        Some(id) => id,
        None => {
            let create = HttpRequest { method: "POST", url: origin_of(&(e.api.create)(settings)), headers, body: crate::engine::split_body(e.create.clone()) };
            let answer = call(c, &create).await.map_err(during("create"))?;
            let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
            (e.api.created)(&answer).ok_or_else(|| failed("The segment was created but its id is not in the answer".into(), Some(200), false))?
        }
    };
    cache.0.borrow_mut().insert(e.name.clone(), id.clone());
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::on_origin;

    #[test]
    fn a_next_link_is_followed_only_on_the_same_origin() {
        let snap = "https://adsapi.snapchat.com";
        for ok in ["https://adsapi.snapchat.com/v1/adaccounts/a/segments?cursor=x&limit=1000", "HTTPS://ADSAPI.snapchat.com/v1/x", "https://adsapi.snapchat.com?cursor=x"] {
            assert!(on_origin(ok, snap), "{ok}");
        }
        for bad in [
            "https://evil.example/v1/adaccounts/a/segments?cursor=x",
            "http://adsapi.snapchat.com/v1/x",
            "https://adsapi.snapchat.com.evil.example/v1/x",
            "https://adsapi.snapchat.com:8443/v1/x",
            "https://adsapi.snapchat.com@evil.example/v1/x",
            "https://adsapi.snapchat.com%2f@evil.example/v1/x",
            "https://evil.example\\@adsapi.snapchat.com/v1/x",
            "https://adsapi.snapchat.com/v1/\\x",
            "https://adsapi.snapchat.com/v1/x y",
            "https://adsapi.snapchat.com/v1/\tx",
            "//adsapi.snapchat.com/v1/x",
            "/v1/adaccounts/a/segments?cursor=x",
            "",
        ] {
            assert!(!on_origin(bad, snap), "{bad}");
        }
        assert!(on_origin("http://127.0.0.1:4100/v1/x", "http://127.0.0.1:4100"));
        assert!(!on_origin("http://127.0.0.1:41000/v1/x", "http://127.0.0.1:4100"));
        assert!(!on_origin("/v1/x", ""), "no origin: nothing is followed");
    }
}
