//! OAuth2 access tokens that expire (Snap's Marketing API: about an hour): on a 401 the
//! token is refreshed once (`grant_type=refresh_token`) and the request sent again with it; a
//! refresh the server refuses (revoked or expired refresh token, wrong client) is a clear
//! permanent error. The refreshed token lives in the destination's config, so later calls
//! use it too. Secrets never leave this module except in the refresh request itself.

use crate::delivery::{DeliveryError, Transport};
use crate::destinations::encode_component;
use crate::engine::HttpRequest;
use crate::error::ErrorCode;
use serde_json::{Map, Value};
use std::cell::RefCell;

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// The token (if any) is the configured one, never refreshed.
    Configured,
    Refreshing,
    Refreshed,
    Failed(DeliveryError),
}

/// No `Debug`: the form carries the refresh token and client secret.
pub struct OAuth {
    url: String,
    /// `application/x-www-form-urlencoded` refresh body (carries the secrets).
    form: String,
    token: RefCell<Option<String>>,
    state: RefCell<State>,
}

/// How long a request waiting for another's refresh sleeps between looks.
const WAIT_MS: u64 = 20;

impl OAuth {
    /// `None` unless a refresh token is configured.
    pub fn new(token_url: &str, refresh_token: Option<&str>, client_id: Option<&str>, client_secret: Option<&str>, token: Option<String>) -> Option<OAuth> {
        let refresh_token = refresh_token?;
        let mut form = format!("refresh_token={}", encode_component(refresh_token));
        if let Some(id) = client_id {
            form.push_str(&format!("&client_id={}", encode_component(id)));
        }
        if let Some(secret) = client_secret {
            form.push_str(&format!("&client_secret={}", encode_component(secret)));
        }
        form.push_str("&grant_type=refresh_token");
        Some(OAuth { url: token_url.to_string(), form, token: RefCell::new(token), state: RefCell::new(State::Configured) })
    }

    pub fn token(&self) -> Option<String> {
        self.token.borrow().clone()
    }

    /// True once the token in use is not the configured one (requests built with the
    /// configured token need the new header).
    pub fn refreshed(&self) -> bool {
        *self.state.borrow() == State::Refreshed
    }

    /// The request with the current token in its `authorization` header.
    pub fn authorize(&self, req: &HttpRequest) -> HttpRequest {
        let mut r = req.clone();
        if let Some(t) = self.token() {
            r.headers.insert("authorization".into(), Value::String(format!("Bearer {t}")));
        }
        r
    }

    /// Refresh after `seen` (the token a request was refused with) got a 401: once per token,
    /// whoever asks first; the others wait for that refresh. `Ok` when a newer token is there.
    pub async fn refresh<T: Transport>(&self, t: &T, seen: Option<&str>, timeout_ms: u64) -> Result<(), DeliveryError> {
        loop {
            let state = self.state.borrow().clone();
            match state {
                State::Failed(e) => return Err(e),
                State::Refreshing => t.sleep(WAIT_MS).await,
                State::Refreshed if self.token().as_deref() != seen => return Ok(()),
                // Configured, or the refreshed token was refused too: one refresh per token.
                State::Refreshed | State::Configured => {
                    if state == State::Refreshed {
                        let e = revoked("the refreshed access token was refused too");
                        *self.state.borrow_mut() = State::Failed(e.clone());
                        return Err(e);
                    }
                    *self.state.borrow_mut() = State::Refreshing;
                    let result = self.call(t, timeout_ms).await;
                    *self.state.borrow_mut() = match &result {
                        Ok(token) => {
                            *self.token.borrow_mut() = Some(token.clone());
                            State::Refreshed
                        }
                        Err(e) if !e.retryable => State::Failed(e.clone()),
                        // A network problem or 5xx: the next 401 may try again.
                        Err(_) => State::Configured,
                    };
                    return result.map(|_| ());
                }
            }
        }
    }

    async fn call<T: Transport>(&self, t: &T, timeout_ms: u64) -> Result<String, DeliveryError> {
        let mut headers = Map::new();
        headers.insert("content-type".into(), Value::String("application/x-www-form-urlencoded".into()));
        let req = HttpRequest { method: "POST", url: self.url.clone(), headers, body: self.form.clone() };
        let failed = |message: String, retryable: bool| DeliveryError { code: ErrorCode::HttpError, message, retryable, retry_after_ms: None };
        let res = t.send(&req, timeout_ms).await.map_err(|_| failed("The access token could not be refreshed (network)".into(), true))?;
        match res.status {
            200..=299 => serde_json::from_str::<Value>(&res.body)
                .ok()
                .and_then(|v| v.get("access_token").and_then(Value::as_str).map(str::to_string))
                .filter(|t| !t.is_empty())
                .ok_or_else(|| failed("The token endpoint answered without an access_token".into(), false)),
            s if crate::delivery::classify(s) == crate::delivery::Class::Retryable => {
                Err(failed(format!("The access token could not be refreshed (HTTP {s})"), true))
            }
            s => Err(revoked(&format!("the token endpoint refused the refresh token (HTTP {s})"))),
        }
    }
}

fn revoked(why: &str) -> DeliveryError {
    DeliveryError {
        code: ErrorCode::HttpError,
        message: format!("Authorization failed: {why}; the refresh token is revoked or expired, reconnect the account"),
        retryable: false,
        retry_after_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_carries_the_credentials_encoded() {
        let o = OAuth::new("https://a/t", Some("r/1+2"), Some("cid"), Some("s&s"), None).unwrap();
        assert_eq!(o.form, "refresh_token=r%2F1%2B2&client_id=cid&client_secret=s%26s&grant_type=refresh_token");
        assert!(OAuth::new("https://a/t", None, Some("cid"), Some("s"), None).is_none());
    }
}
