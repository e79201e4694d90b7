//! Destination configuration as users bring it from Segment: settings and subscriptions in the
//! shape Segment's Public API returns. Everything is checked here, once, before any event is
//! processed; problems are `InvalidConfig` errors naming the field.

use crate::destinations::{self, Action, Definition, Settings};
use crate::error::{ErrorCode, EventError};
use crate::ratelimit::{Limiter, RateConfig};
use crate::{fql, mapping};
use serde_json::{Map, Value};

pub struct Subscription {
    /// Shared with every entry prepared for it (`Prepared`), not copied per event.
    pub name: std::sync::Arc<str>,
    pub trigger: fql::Fql,
    pub action: &'static Action,
    pub mapping: mapping::Compiled,
}

pub struct Config {
    pub definition: &'static Definition,
    pub settings: Settings,
    pub subscriptions: Vec<Subscription>,
    /// Origin used instead of the destination's API host (mock servers, proxies).
    pub origin: String,
    /// Consent categories that must all be granted (Segment Consent Management).
    pub consent_categories: Vec<String>,
    /// Request-rate buckets per destination key, shared by every `send` on this destination.
    pub limiter: Limiter,
    /// Access-token refresh, when the destination has a token endpoint and a refresh token
    /// is configured.
    pub oauth: Option<crate::oauth::OAuth>,
    /// Ids of named resources found or created so far (see `ensure`).
    pub names: crate::ensure::Cache,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> EventError {
    EventError::new(ErrorCode::InvalidConfig, message).with_field(field)
}

/// Merge `over` onto `base` (top-level keys), as Segment's presets spread the defaults.
fn merged(base: &str, over: &str) -> Value {
    // Read as `Value`s: a typed `Map` would link serde's type-error messages (input::fields).
    let object = |s: &str| match serde_json::from_str(s) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let (mut b, o) = (object(base), object(over));
    // Preset fields come first in Segment's objects; order only matters for readability.
    let mut out = Map::new();
    for (k, v) in o {
        b.remove(&k);
        out.insert(k, v);
    }
    out.extend(b);
    Value::Object(out)
}

pub fn preset_subscriptions(def: &'static Definition) -> Value {
    Value::Array(
        def.presets
            .iter()
            .filter_map(|p| {
                let action = def.action(p.action)?;
                Some(serde_json::json!({
                    "name": p.name,
                    "subscribe": p.trigger,
                    "partnerAction": p.action,
                    "mapping": merged(action.default_mapping, p.mapping),
                    "enabled": true,
                }))
            })
            .collect(),
    )
}

pub fn parse(options: &Value) -> Result<Config, EventError> {
    let Some(opts) = options.as_object() else {
        return Err(EventError::new(ErrorCode::InvalidConfig, "Options must be an object"));
    };
    let slug = opts.get("destination").and_then(Value::as_str).ok_or_else(|| bad("destination", "`destination` (a string) is required"))?;
    let def = destinations::lookup(slug).map_err(|m| {
        let known: Vec<&str> = destinations::ALL.iter().map(|d| d.slug).collect();
        m.error(format!("Unknown destination; known: {}", known.join(", ")))
    })?;
    let settings = parse_settings(def, opts.get("settings"))?;
    let origin = match opts.get("baseUrl") {
        None | Some(Value::Null) => def.origin.to_string(),
        Some(Value::String(u)) if u.starts_with("http://") || u.starts_with("https://") => u.trim_end_matches('/').to_string(),
        Some(_) => return Err(bad("baseUrl", "`baseUrl` must be an http(s) URL")),
    };
    let subs_value = match opts.get("subscriptions") {
        None | Some(Value::Null) => preset_subscriptions(def),
        Some(v) => v.clone(),
    };
    // Segment's Public API answers `{"data": {"subscriptions": [...]}}`: take it as it comes.
    let unwrapped = subs_value.pointer("/data/subscriptions").or_else(|| subs_value.get("subscriptions")).cloned();
    let Value::Array(list) = unwrapped.unwrap_or(subs_value) else {
        return Err(bad("subscriptions", "`subscriptions` must be an array (or Segment's Public API list response)"));
    };
    let mut subscriptions = Vec::new();
    for (i, s) in list.iter().enumerate() {
        if let Some(sub) = parse_subscription(def, s, i)? {
            subscriptions.push(sub);
        }
    }
    let consent_categories = match settings.values.get("consent_categories") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| c.as_str().map(str::to_string).ok_or_else(|| bad("settings.consent_categories", "consent categories must be strings")))
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect(),
        Some(_) => return Err(bad("settings.consent_categories", "must be an array of category names")),
    };
    let limiter = Limiter::new(parse_rate_limit(opts.get("rateLimit"))?);
    // Only Snap audiences refreshes its token (`oauth_token_url`): in builds without it the
    // token refresh code is never reached, so it is left out (about 2 KB gzipped).
    #[cfg(not(feature = "snap-audiences"))]
    let oauth = None;
    #[cfg(feature = "snap-audiences")]
    let oauth = def.oauth_token_url.and_then(|url| {
        // A base URL override (mock servers, proxies) serves the token endpoint's path too.
        let url = match opts.get("baseUrl") {
            Some(Value::String(_)) => format!("{origin}{}", url.splitn(4, '/').nth(3).map_or(String::new(), |p| format!("/{p}"))),
            _ => url.to_string(),
        };
        crate::oauth::OAuth::new(&url, settings.str("refresh_token"), settings.str("client_id"), settings.str("client_secret"), settings.access_token.clone())
    });
    Ok(Config { definition: def, settings, subscriptions, origin, consent_categories, limiter, oauth, names: Default::default() })
}

/// `rateLimit: { requestsPerSecond, burst, adaptive }` (all optional), or `false` for no
/// limiting at all (not even after a 429).
fn parse_rate_limit(v: Option<&Value>) -> Result<RateConfig, EventError> {
    let mut cfg = RateConfig::default();
    let o = match v {
        None | Some(Value::Null) | Some(Value::Bool(true)) => return Ok(cfg),
        Some(Value::Bool(false)) => return Ok(RateConfig { adaptive: false, ..cfg }),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(bad("rateLimit", "`rateLimit` must be an object or false")),
    };
    let num = |k: &str, min: f64| -> Result<Option<f64>, EventError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n >= min && n.is_finite() => Ok(Some(n)),
                _ => Err(bad(format!("rateLimit.{k}"), format!("`{k}` must be a number of at least {}", crate::js::number_to_string(min)))),
            },
        }
    };
    if let Some(n) = num("requestsPerSecond", crate::ratelimit::MIN_RATE)? {
        cfg.requests_per_second = n;
    }
    if let Some(n) = num("burst", 1.0)? {
        cfg.burst = n;
    }
    match o.get("adaptive") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => cfg.adaptive = *b,
        Some(_) => return Err(bad("rateLimit.adaptive", "`adaptive` must be a boolean")),
    }
    Ok(cfg)
}

fn parse_settings(def: &Definition, v: Option<&Value>) -> Result<Settings, EventError> {
    let values = match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad("settings", "`settings` must be an object")),
    };
    for key in def.string_settings {
        if let Some(v) = values.get(*key) {
            if !v.is_string() && !v.is_null() {
                return Err(bad(format!("settings.{key}"), format!("`{key}` must be a string")));
            }
        }
    }
    let access_token = match values.get("access_token").or_else(|| values.get("accessToken")) {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(crate::pii::js_trim(t).to_string()).filter(|t| !t.is_empty()),
        Some(_) => return Err(bad("settings.access_token", "`access_token` must be a string")),
    };
    let test_mode = match values.get("test_mode") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("settings.test_mode", "`test_mode` must be a boolean")),
    };
    let batch_size = match values.get("batch_size") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && n as usize <= def.max_batch => n as usize,
            _ => return Err(bad("settings.batch_size", format!("`batch_size` must be an integer from 1 to {}", def.max_batch))),
        },
    };
    let settings = Settings { values, access_token, test_mode, batch_size };
    (def.check_settings)(&settings)?;
    Ok(settings)
}

fn parse_subscription(def: &'static Definition, s: &Value, i: usize) -> Result<Option<Subscription>, EventError> {
    let at = |k: &str| format!("subscriptions[{i}].{k}");
    let Some(o) = s.as_object() else {
        return Err(bad(format!("subscriptions[{i}]"), "A subscription must be an object"));
    };
    if o.get("enabled") == Some(&Value::Bool(false)) {
        return Ok(None);
    }
    let name = match o.get("name") {
        Some(Value::String(n)) => n.as_str().into(),
        None | Some(Value::Null) => format!("subscription {i}").into(),
        Some(_) => return Err(bad(at("name"), "`name` must be a string")),
    };
    let trigger_src = o.get("subscribe").or_else(|| o.get("trigger")).and_then(Value::as_str)
        .ok_or_else(|| bad(at("subscribe"), "`subscribe` (an FQL trigger string) is required"))?;
    let trigger = fql::parse(trigger_src)
        .map_err(|e| bad(at("subscribe"), format!("Invalid FQL trigger: {} at position {}", e.message, e.position)))?;
    // Presets say `partnerAction`; the Public API says `actionSlug` (its `actionId` is an opaque
    // id, accepted only when it is the action's name).
    let action_id = ["partnerAction", "actionSlug", "actionId"]
        .iter()
        .filter_map(|k| o.get(*k).and_then(Value::as_str))
        .find(|id| def.action(id).is_some())
        .or_else(|| ["partnerAction", "actionSlug", "actionId"].iter().find_map(|k| o.get(*k).and_then(Value::as_str)))
        .ok_or_else(|| bad(at("partnerAction"), "`partnerAction` (or `actionSlug`: the action name) is required"))?;
    let action = def.action(action_id).ok_or_else(|| {
        let known: Vec<&str> = def.actions.iter().map(|a| a.id).collect();
        bad(at("partnerAction"), format!("Unknown action `{action_id}` for {}; known: {}", def.slug, known.join(", ")))
    })?;
    let mapping = match o.get("mapping").or_else(|| o.get("fields")).or_else(|| o.get("settings")) {
        None | Some(Value::Null) => serde_json::from_str(action.default_mapping).unwrap_or(Value::Null),
        Some(m @ Value::Object(_)) => m.clone(),
        Some(_) => return Err(bad(at("mapping"), "`mapping` must be an object")),
    };
    let mapping = mapping::Compiled::new(&mapping)
        .map_err(|e| bad(at("mapping"), format!("Invalid mapping: {} (at {})", e.message, e.path)))?;
    Ok(Some(Subscription { name, trigger, action, mapping }))
}
