//! Retry policy for provider calls: which failures are worth another try,
//! how long to wait (exponential backoff with full jitter, or the provider's
//! own `retry-after-ms` / `Retry-After`, capped), and how many tries.

use std::time::Duration;

use rand::Rng;
use reqwest::header::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub max_backoff: Duration,
    /// The longest provider-requested wait we honour; a provider asking for
    /// more gets the client a 503 with its Retry-After instead.
    pub retry_after_cap: Duration,
}

impl RetryPolicy {
    /// Full-jitter exponential backoff for retry number `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max_backoff);
        let jittered = rand::thread_rng().gen_range(0.0..=1.0) * exp.as_secs_f64();
        Duration::from_secs_f64(jittered)
    }

    /// The wait before the next try: at least what the provider asked for.
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(attempt);
        match retry_after {
            Some(ra) => ra.max(backoff),
            None => backoff,
        }
    }
}

/// The provider's requested wait: `retry-after-ms` (Azure/OpenAI), else
/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = headers.get("retry-after")?.to_str().ok()?.trim().to_owned();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(&value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_its_three_forms() {
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "1500")])),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "3")])),
            Some(Duration::from_secs(3))
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(10)).to_rfc2822();
        let d = retry_after(&headers(&[("retry-after", &future)])).unwrap();
        assert!(
            d > Duration::from_secs(8) && d <= Duration::from_secs(10),
            "{d:?}"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
        // The millisecond header wins over the coarse one.
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "200"), ("retry-after", "5")])),
            Some(Duration::from_millis(200))
        );
    }

    #[test]
    fn backoff_grows_and_stays_under_its_cap() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            max_backoff: Duration::from_millis(800),
            retry_after_cap: Duration::from_secs(30),
        };
        for attempt in 0..10 {
            let cap = Duration::from_millis(100 * 2u64.pow(attempt.min(3)));
            assert!(p.backoff(attempt) <= cap.min(Duration::from_millis(800)));
        }
        assert!(p.wait(0, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
    }
}
