//! A per-source rate limit: a pacer for requests per second, a semaphore for
//! requests in flight, and a shared pause so one `429 Retry-After` holds back
//! every request of the source, not only the one that received it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Limits one source's requests. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct RateLimiter {
    /// `None` when requests per second are unlimited.
    interval: Option<Duration>,
    /// When the next request may start. A strict pacer (bucket of one) rather
    /// than a bucket of `rps` tokens: it never exceeds the rate in any window,
    /// which is what per-second API quotas count.
    next_start: Mutex<Instant>,
    paused_until: Mutex<Option<Instant>>,
    in_flight: Arc<Semaphore>,
    max_concurrency: usize,
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Debug)]
pub struct RatePermit {
    _permit: OwnedSemaphorePermit,
}

impl RateLimiter {
    /// `requests_per_second`: `None` or a value `<= 0` means unlimited.
    /// `max_concurrency`: at least 1.
    pub fn new(requests_per_second: Option<f64>, max_concurrency: usize) -> Self {
        let interval = requests_per_second
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| Duration::from_secs_f64(1.0 / r));
        let max_concurrency = max_concurrency.max(1);
        RateLimiter {
            interval,
            next_start: Mutex::new(Instant::now()),
            paused_until: Mutex::new(None),
            in_flight: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
        }
    }

    /// The concurrency limit.
    pub fn max_concurrency(&self) -> usize {
        self.max_concurrency
    }

    /// Waits for a free slot, any pause, and the pacer, in that order: taking
    /// the slot first keeps a request that is waiting for a slot from holding
    /// a pacing time it cannot use.
    pub async fn acquire(&self) -> RatePermit {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let paused = *self.paused_until.lock().await;
        if let Some(until) = paused {
            tokio::time::sleep_until(until).await;
        }
        if let Some(interval) = self.interval {
            let start = {
                let mut next = self.next_start.lock().await;
                let start = (*next).max(Instant::now());
                *next = start + interval;
                start
            };
            tokio::time::sleep_until(start).await;
        }
        RatePermit { _permit: permit }
    }

    /// Holds back every request that has not started yet for `wait`.
    pub async fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().await;
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_requests_per_second() {
        let limiter = RateLimiter::new(Some(10.0), 100);
        let t0 = Instant::now();
        for _ in 0..11 {
            drop(limiter.acquire().await);
        }
        // The first starts at once, the next ten 100 ms apart.
        assert_eq!(t0.elapsed(), Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn unlimited_rate_does_not_wait() {
        for rps in [None, Some(0.0), Some(-1.0), Some(f64::NAN)] {
            let limiter = RateLimiter::new(rps, 4);
            let t0 = Instant::now();
            for _ in 0..50 {
                drop(limiter.acquire().await);
            }
            assert_eq!(t0.elapsed(), Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded() {
        let limiter = Arc::new(RateLimiter::new(None, 3));
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (limiter, in_flight, peak) = (limiter.clone(), in_flight.clone(), peak.clone());
            tasks.spawn(async move {
                let _p = limiter.acquire().await;
                let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        while tasks.join_next().await.is_some() {}
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_back_later_requests() {
        let limiter = RateLimiter::new(None, 4);
        limiter.pause_for(Duration::from_secs(2)).await;
        limiter.pause_for(Duration::from_secs(1)).await; // a shorter pause does not shorten it
        let t0 = Instant::now();
        drop(limiter.acquire().await);
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
    }
}
