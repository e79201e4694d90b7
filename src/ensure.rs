//! Named resources a request needs first (Snap: the segment of an audience, a lookalike):
//! found by name in the account's list, else created, then remembered per destination, so a
//! replayed or repeated call never creates a second one. A request whose URL holds
//! `PLACEHOLDER` gets the resolved id there; a request that only ensures the resource (a
//! lookalike) is done once it exists.

use crate::delivery::{backoff_ms, classify, Class, DeliveryError, Policy, Transport};
use crate::engine::HttpRequest;
use crate::error::ErrorCode;
use crate::oauth::OAuth;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;

/// Replaced by the resolved id in a request's URL.
pub const PLACEHOLDER: &str = "%7Bsegment%7D";

/// How a destination lists, finds and creates its named resources.
pub struct Api {
    /// Target of the listing (`GET`).
    pub list: fn(&Map<String, Value>) -> String,
    /// Target of the creation (`POST`, body `create` of the `Ensure`).
    pub create: fn(&Map<String, Value>) -> String,
    /// The id of the resource named `name` in a listing response.
    pub find: fn(&Value, &str) -> Option<String>,
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

fn failed(message: String, status: Option<u16>, retryable: bool) -> (DeliveryError, Option<u16>) {
    (DeliveryError { code: if status.is_some() { ErrorCode::HttpError } else { ErrorCode::NetworkError }, message, retryable, retry_after_ms: None }, status)
}

/// One call with the destination's retry rules (and a token refresh on a 401); the parsed
/// JSON answer, or the error and status.
async fn call<T: Transport>(t: &T, req: HttpRequest, p: &Policy, auth: Option<&OAuth>) -> Result<Value, (DeliveryError, Option<u16>)> {
    let mut attempts = 0;
    let mut refreshed = false;
    loop {
        attempts += 1;
        let sent = match auth.filter(|a| a.refreshed()) {
            Some(a) => a.authorize(&req),
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
                Class::Success => return Ok(serde_json::from_str(&r.body).unwrap_or(Value::Null)),
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

/// The id of `e.name`: remembered, else found in the listing, else created.
pub async fn resolve<T: Transport>(
    t: &T,
    e: &Ensure,
    settings: &Map<String, Value>,
    request: &HttpRequest,
    origin_of: impl Fn(&str) -> String,
    cache: &Cache,
    p: &Policy,
    auth: Option<&OAuth>,
) -> Result<String, (DeliveryError, Option<u16>)> {
    if let Some(id) = cache.get(&e.name) {
        return Ok(id);
    }
    let what = |step: &str, (err, status): (DeliveryError, Option<u16>)| {
        (DeliveryError { message: format!("Could not {step} the segment: {}", err.message), ..err }, status)
    };
    let mut headers = request.headers.clone();
    headers.insert("content-type".into(), Value::String("application/json".into()));
    let list = HttpRequest { method: "GET", url: origin_of(&(e.api.list)(settings)), headers: headers.clone(), body: String::new() };
    let listing = call(t, list, p, auth).await.map_err(|x| what("look up", x))?;
    let id = match (e.api.find)(&listing, &e.name) {
        Some(id) => id,
        None => {
            let create = HttpRequest { method: "POST", url: origin_of(&(e.api.create)(settings)), headers, body: crate::engine::split_body(e.create.clone()) };
            let answer = call(t, create, p, auth).await.map_err(|x| what("create", x))?;
            (e.api.created)(&answer).ok_or_else(|| failed("The segment was created but its id is not in the answer".into(), Some(200), false))?
        }
    };
    cache.0.borrow_mut().insert(e.name.clone(), id.clone());
    Ok(id)
}
