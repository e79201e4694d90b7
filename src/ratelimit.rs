//! Request-rate control per destination key (Snap: the pixel or app id in the request path),
//! shared by every `send` on one destination object.
//!
//! A token bucket (`burst` tokens, refilled at the current rate) with AIMD on top:
//! - Decrease: a 429 halves the rate, from the lower of the current limit and the rate
//!   actually sent (so it bites at once), at most once per second (one overload burst counts
//!   once) and only when 429s are at least a tenth of the key's answers over the last second:
//!   a server over its limit rejects the excess, so sending at 1.5x gives a third of 429s,
//!   while a stray 429 among many successes is left to the request's own retry
//!   (`Retry-After`) instead of throttling every other request.
//! - Increase: each second, a tenth of the rate at the decrease (at least `burst`) is added
//!   back.
//!
//! With no ceiling configured (the default: Snap publishes no limit and treats 429 as the
//! signal) nothing waits until the first decrease, and the limit is lifted again once the
//! rate has recovered to where the 429s came.
//!
//! A plain state machine over caller-supplied times (ms), so it is tested with virtual time.

use std::cell::RefCell;

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
/// Share of 429s among the last second's answers that counts as "over the limit".
const THROTTLED_SHARE: f64 = 0.1;
/// Per second without a decrease, the limit grows by this share of the rate at the decrease.
const RECOVERY_SHARE: f64 = 0.1;
const WINDOW_MS: f64 = 1000.0;

/// Counts over a sliding one-second window (the previous window weighted by overlap).
#[derive(Debug, Clone, Default)]
struct Window {
    start: f64,
    cur: [f64; 3],
    prev: [f64; 3],
}

const ADMITTED: usize = 0;
const ANSWERS: usize = 1;
const THROTTLED: usize = 2;

impl Window {
    fn roll(&mut self, now: f64) {
        let elapsed = now - self.start;
        if elapsed >= WINDOW_MS {
            self.prev = if elapsed >= 2.0 * WINDOW_MS { [0.0; 3] } else { self.cur };
            self.cur = [0.0; 3];
            self.start = now - elapsed % WINDOW_MS;
        }
    }

    fn get(&self, now: f64, k: usize) -> f64 {
        let frac = ((now - self.start) / WINDOW_MS).clamp(0.0, 1.0);
        self.prev[k] * (1.0 - frac) + self.cur[k]
    }
}

#[derive(Debug, Clone)]
pub struct Bucket {
    cfg: RateConfig,
    /// Current limit (requests/s); infinite = not limiting.
    limit: f64,
    tokens: f64,
    created_ms: f64,
    last_ms: f64,
    last_decrease_ms: f64,
    recover_per_s: f64,
    /// Limit at which an adaptive limit with no ceiling is lifted again.
    lift_at: f64,
    window: Window,
}

impl Bucket {
    pub fn new(cfg: RateConfig, now: f64) -> Bucket {
        Bucket {
            cfg,
            limit: cfg.requests_per_second,
            tokens: cfg.burst,
            created_ms: now,
            last_ms: now,
            last_decrease_ms: f64::NEG_INFINITY,
            recover_per_s: 0.0,
            lift_at: f64::INFINITY,
            window: Window { start: now, ..Window::default() },
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
        self.tokens = if self.limit.is_finite() { (self.tokens + self.limit * dt / 1000.0).min(self.cfg.burst) } else { self.cfg.burst };
        self.window.roll(now);
    }

    /// Requests per second sent over the last second (over the bucket's age while it is
    /// younger, so a first burst is not mistaken for a slow rate).
    pub fn observed_rate(&self, now: f64) -> f64 {
        let span = (now - self.created_ms).clamp(100.0, WINDOW_MS);
        self.window.get(now, ADMITTED) * WINDOW_MS / span
    }

    /// Takes a token now, or says how long to wait before asking again.
    pub fn try_acquire(&mut self, now: f64) -> Result<(), f64> {
        self.advance(now);
        if !self.limit.is_finite() || self.tokens >= 1.0 {
            if self.limit.is_finite() {
                self.tokens -= 1.0;
            }
            self.window.cur[ADMITTED] += 1.0;
            return Ok(());
        }
        Err(((1.0 - self.tokens) * 1000.0 / self.limit).max(1.0))
    }

    /// An HTTP answer came back; `throttled` = 429. Decreases the rate when due.
    pub fn on_answer(&mut self, now: f64, throttled: bool) {
        self.advance(now);
        self.window.cur[ANSWERS] += 1.0;
        if !throttled {
            return;
        }
        self.window.cur[THROTTLED] += 1.0;
        let share = self.window.get(now, THROTTLED) / self.window.get(now, ANSWERS).max(1.0);
        if !self.cfg.adaptive || share < THROTTLED_SHARE || now - self.last_decrease_ms < DECREASE_COOLDOWN_MS {
            return;
        }
        let from = self.limit.min(self.observed_rate(now)).max(MIN_RATE);
        self.limit = (from * DECREASE_FACTOR).max(MIN_RATE);
        self.recover_per_s = (from * RECOVERY_SHARE).max(self.cfg.burst).max(MIN_RATE);
        self.lift_at = if self.cfg.requests_per_second.is_finite() { self.cfg.requests_per_second } else { from };
        self.tokens = self.tokens.min(1.0);
        self.last_decrease_ms = now;
    }
}

/// Buckets by key, created on first use. A destination has one or two keys (pixel, app), so a
/// list beats a hash map (and keeps the wasm smaller).
#[derive(Debug, Default)]
pub struct Limiter {
    cfg: RateConfig,
    buckets: RefCell<Vec<(String, Bucket)>>,
}

impl Limiter {
    pub fn new(cfg: RateConfig) -> Limiter {
        Limiter { cfg, buckets: RefCell::new(Vec::new()) }
    }

    pub fn config(&self) -> RateConfig {
        self.cfg
    }

    fn with<R>(&self, key: &str, now: f64, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let mut b = self.buckets.borrow_mut();
        let i = match b.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                b.push((key.to_string(), Bucket::new(self.cfg, now)));
                b.len() - 1
            }
        };
        f(&mut b[i].1)
    }

    pub fn try_acquire(&self, key: &str, now: f64) -> Result<(), f64> {
        self.with(key, now, |b| b.try_acquire(now))
    }

    pub fn on_answer(&self, key: &str, now: f64, throttled: bool) {
        self.with(key, now, |b| b.on_answer(now, throttled))
    }

    pub fn limit(&self, key: &str) -> Option<f64> {
        self.buckets.borrow().iter().find(|(k, _)| k == key).map(|(_, b)| b.limit())
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

    /// Sends at 200/s from `from` for `ms`, answering each request; `throttled(i)` says
    /// which answers are 429s.
    fn traffic(b: &mut Bucket, from: f64, ms: f64, throttled: impl Fn(usize) -> bool) {
        let mut i = 0;
        let mut now = from;
        while now < from + ms {
            if b.try_acquire(now).is_ok() {
                b.on_answer(now, throttled(i));
                i += 1;
            }
            now += 5.0;
        }
    }

    #[test]
    fn throttle_halves_the_sent_rate_then_recovers_additively() {
        let mut b = Bucket::new(RateConfig::default(), 0.0);
        // 200/s: 1.5 s of successes, then every answer a 429.
        traffic(&mut b, 0.0, 1500.0, |_| false);
        assert!(b.limit().is_infinite());
        traffic(&mut b, 1500.0, 150.0, |_| true);
        let after = b.limit();
        assert!((95.0..=105.0).contains(&after), "halved from ~200/s: {after}");
        // More 429s within the cooldown do not halve again.
        b.on_answer(1900.0, true);
        assert!(b.limit() >= after, "{}", b.limit());
        // Enforced: about `after` requests in the next second, plus the recovery (+20/s per
        // second) and the burst refilled since the decrease.
        let n = admitted(&mut b, 1900.0, 1000.0);
        assert!((95..=145).contains(&n), "~100/s + 10 + 20: {n}");
        // Recovery: +max(10% of ~200, burst 20)/s, then lifted entirely at ~200/s.
        let mut probe = b.clone();
        probe.advance(3900.0);
        assert!(probe.limit() > after + 30.0 && probe.limit() < 200.0, "{}", probe.limit());
        b.advance(20_000.0);
        assert!(b.limit().is_infinite(), "{}", b.limit());
    }

    #[test]
    fn stray_429s_are_retried_not_taken_as_a_limit() {
        let mut b = Bucket::new(RateConfig::default(), 0.0);
        // 5% of answers are 429s (every 20th): below the 10% that signals an overload.
        traffic(&mut b, 0.0, 10_000.0, |i| i % 20 == 19);
        assert!(b.limit().is_infinite(), "{}", b.limit());
        // 25%: decreased.
        traffic(&mut b, 10_000.0, 2000.0, |i| i % 4 == 3);
        assert!(b.limit() < 150.0, "{}", b.limit());
    }

    #[test]
    fn repeated_throttles_floor_at_min_rate_and_respect_ceiling() {
        let mut b = Bucket::new(RateConfig { requests_per_second: 50.0, burst: 10.0, adaptive: true }, 0.0);
        for s in 1..40 {
            b.on_answer(s as f64 * 1000.0, true);
        }
        assert_eq!(b.limit(), MIN_RATE);
        b.advance(1_000_000.0);
        assert_eq!(b.limit(), 50.0, "recovers to the ceiling, not beyond");
    }

    #[test]
    fn non_adaptive_ignores_429() {
        let mut b = fixed(10.0, 1.0);
        b.on_answer(0.0, true);
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
