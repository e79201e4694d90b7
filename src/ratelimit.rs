//! Request-rate control per destination key (Snap: the pixel or app id in the request path),
//! shared by every `send` on one destination object.
//!
//! A token bucket (`burst` tokens, refilled at the current rate) with AIMD on top: a 429
//! halves the rate (from the lower of the current limit and the rate actually observed, so
//! it bites at once), at most once per second so one overload burst counts once; every
//! second without a 429 adds back a tenth of the rate seen at the decrease. With no ceiling
//! configured (the default: Snap publishes no limit, and treats 429 as the signal) requests
//! are not limited until the first 429, and the limit is lifted again once the rate has
//! recovered past the rate at which the 429 came.
//!
//! Plain state machine over caller-supplied times (ms), so it is tested with virtual time.

use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateConfig {
    /// Ceiling in requests per second per key; `f64::INFINITY` = no ceiling.
    pub requests_per_second: f64,
    /// Requests that may start back to back when tokens have accumulated.
    pub burst: f64,
    /// Shrink on 429 and recover (AIMD). Off: a fixed rate.
    pub adaptive: bool,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig { requests_per_second: f64::INFINITY, burst: 20.0, adaptive: true }
    }
}

/// Lowest rate a run of 429s can push a key to.
pub const MIN_RATE: f64 = 1.0;
const DECREASE_FACTOR: f64 = 0.5;
const DECREASE_COOLDOWN_MS: f64 = 1000.0;
/// Per second without a 429, the limit grows by this share of the rate at the last decrease.
const RECOVERY_SHARE: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct Bucket {
    cfg: RateConfig,
    /// Current limit (requests/s); infinite = not limiting.
    limit: f64,
    tokens: f64,
    last_ms: f64,
    last_decrease_ms: f64,
    recover_per_s: f64,
    /// Limit at which an adaptive limit with no ceiling is lifted again.
    lift_at: f64,
    /// Sliding one-second admission counter, for the observed rate.
    window_start: f64,
    window_count: f64,
    prev_count: f64,
}

impl Bucket {
    pub fn new(cfg: RateConfig, now: f64) -> Bucket {
        Bucket {
            cfg,
            limit: cfg.requests_per_second,
            tokens: cfg.burst,
            last_ms: now,
            last_decrease_ms: f64::NEG_INFINITY,
            recover_per_s: 0.0,
            lift_at: f64::INFINITY,
            window_start: now,
            window_count: 0.0,
            prev_count: 0.0,
        }
    }

    /// Current limit in requests per second (infinite when not limiting).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    fn advance(&mut self, now: f64) {
        let dt = (now - self.last_ms).max(0.0);
        self.last_ms = self.last_ms.max(now);
        if self.cfg.adaptive && self.limit < self.cfg.requests_per_second {
            self.limit += self.recover_per_s * dt / 1000.0;
            if self.limit >= self.lift_at || self.limit >= self.cfg.requests_per_second {
                self.limit = self.cfg.requests_per_second;
            }
        }
        if self.limit.is_finite() {
            self.tokens = (self.tokens + self.limit * dt / 1000.0).min(self.cfg.burst);
        } else {
            self.tokens = self.cfg.burst;
        }
        let elapsed = now - self.window_start;
        if elapsed >= 1000.0 {
            self.prev_count = if elapsed >= 2000.0 { 0.0 } else { self.window_count };
            self.window_count = 0.0;
            self.window_start = now - elapsed % 1000.0;
        }
    }

    /// Requests per second admitted over the last second (sliding estimate).
    pub fn observed_rate(&self, now: f64) -> f64 {
        let frac = ((now - self.window_start) / 1000.0).clamp(0.0, 1.0);
        self.prev_count * (1.0 - frac) + self.window_count
    }

    /// Takes a token now, or says how long to wait before asking again.
    pub fn try_acquire(&mut self, now: f64) -> Result<(), f64> {
        self.advance(now);
        if !self.limit.is_finite() || self.tokens >= 1.0 {
            if self.limit.is_finite() {
                self.tokens -= 1.0;
            }
            self.window_count += 1.0;
            return Ok(());
        }
        Err(((1.0 - self.tokens) * 1000.0 / self.limit).max(1.0))
    }

    /// The destination answered 429: multiplicative decrease.
    pub fn on_throttled(&mut self, now: f64) {
        self.advance(now);
        if !self.cfg.adaptive || now - self.last_decrease_ms < DECREASE_COOLDOWN_MS {
            return;
        }
        let seen = self.observed_rate(now).max(MIN_RATE);
        let from = self.limit.min(seen);
        self.limit = (from * DECREASE_FACTOR).max(MIN_RATE);
        self.recover_per_s = (from * RECOVERY_SHARE).max(MIN_RATE);
        self.lift_at = if self.cfg.requests_per_second.is_finite() { self.cfg.requests_per_second } else { from };
        self.tokens = self.tokens.min(1.0);
        self.last_decrease_ms = now;
    }
}

/// Buckets by key, created on first use.
#[derive(Debug, Default)]
pub struct Limiter {
    cfg: RateConfig,
    buckets: RefCell<HashMap<String, Bucket>>,
}

impl Limiter {
    pub fn new(cfg: RateConfig) -> Limiter {
        Limiter { cfg, buckets: RefCell::new(HashMap::new()) }
    }

    pub fn config(&self) -> RateConfig {
        self.cfg
    }

    fn with<R>(&self, key: &str, now: f64, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let mut b = self.buckets.borrow_mut();
        if !b.contains_key(key) {
            b.insert(key.to_string(), Bucket::new(self.cfg, now));
        }
        f(b.get_mut(key).expect("inserted above"))
    }

    pub fn try_acquire(&self, key: &str, now: f64) -> Result<(), f64> {
        self.with(key, now, |b| b.try_acquire(now))
    }

    pub fn on_throttled(&self, key: &str, now: f64) {
        self.with(key, now, |b| b.on_throttled(now))
    }

    pub fn limit(&self, key: &str) -> Option<f64> {
        self.buckets.borrow().get(key).map(Bucket::limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(rate: f64, burst: f64) -> Bucket {
        Bucket::new(RateConfig { requests_per_second: rate, burst, adaptive: false }, 0.0)
    }

    /// Admits requests as fast as the bucket allows for `ms` of virtual time; returns the count.
    fn admitted(b: &mut Bucket, from: f64, ms: f64) -> usize {
        let (mut now, mut n) = (from, 0);
        while now < from + ms {
            match b.try_acquire(now) {
                Ok(()) => n += 1,
                Err(wait) => now += wait,
            }
        }
        n
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let mut b = fixed(10.0, 5.0);
        for _ in 0..5 {
            assert_eq!(b.try_acquire(0.0), Ok(()));
        }
        assert_eq!(b.try_acquire(0.0), Err(100.0));
        assert_eq!(b.try_acquire(50.0), Err(50.0));
        assert_eq!(b.try_acquire(100.0), Ok(()));
        // Over 10 s at 10/s: 100 more (the burst is spent).
        let n = admitted(&mut b, 100.0, 10_000.0);
        assert!((99..=101).contains(&n), "{n}");
        // Idle time refills only up to the burst.
        assert_eq!(admitted(&mut b, 60_000.0, 0.5), 5);
    }

    #[test]
    fn no_ceiling_means_no_wait_until_a_429() {
        let mut b = Bucket::new(RateConfig::default(), 0.0);
        for i in 0..1000 {
            assert_eq!(b.try_acquire(i as f64 * 0.5), Ok(()), "request {i}");
        }
        assert!(b.limit().is_infinite());
    }

    #[test]
    fn throttle_halves_observed_rate_then_recovers_additively() {
        let mut b = Bucket::new(RateConfig::default(), 0.0);
        // 200 requests/s for 2 s.
        for i in 0..400 {
            assert!(b.try_acquire(i as f64 * 5.0).is_ok());
        }
        b.on_throttled(2000.0);
        let after = b.limit();
        assert!((95.0..=105.0).contains(&after), "halved from ~200/s: {after}");
        // A second 429 within the cooldown does not halve again.
        b.on_throttled(2500.0);
        assert!(b.limit() >= after, "{}", b.limit());
        // Enforced: about `after` requests in the next second.
        let n = admitted(&mut b, 2500.0, 1000.0);
        assert!((100..=150).contains(&n), "burst 20 + ~105/s + recovery: {n}");
        // Recovery: +10% of the pre-decrease rate per second, then lifted entirely.
        let mut probe = b.clone();
        probe.advance(4500.0);
        assert!(probe.limit() > after + 30.0 && probe.limit() < 200.0, "{}", probe.limit());
        b.advance(20_000.0);
        assert!(b.limit().is_infinite(), "{}", b.limit());
    }

    #[test]
    fn repeated_throttles_floor_at_min_rate_and_respect_ceiling() {
        let mut b = Bucket::new(RateConfig { requests_per_second: 50.0, burst: 10.0, adaptive: true }, 0.0);
        for s in 1..40 {
            b.on_throttled(s as f64 * 1000.0);
        }
        assert_eq!(b.limit(), MIN_RATE);
        b.advance(1_000_000.0);
        assert_eq!(b.limit(), 50.0, "recovers to the ceiling, not beyond");
    }

    #[test]
    fn non_adaptive_ignores_429() {
        let mut b = fixed(10.0, 1.0);
        b.on_throttled(0.0);
        assert_eq!(b.limit(), 10.0);
    }

    #[test]
    fn limiter_keys_are_independent_and_shared_per_key() {
        let l = Limiter::new(RateConfig { requests_per_second: 1.0, burst: 1.0, adaptive: true });
        assert!(l.try_acquire("/v3/a", 0.0).is_ok());
        assert!(l.try_acquire("/v3/a", 0.0).is_err());
        assert!(l.try_acquire("/v3/b", 0.0).is_ok());
    }
}
