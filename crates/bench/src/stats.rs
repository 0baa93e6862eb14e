//! Latency samples and how they are printed.

use std::time::Duration;

/// Latencies of one phase.
#[derive(Debug, Default)]
pub struct Samples {
    latencies: Vec<Duration>,
}

impl Samples {
    pub fn with_capacity(capacity: usize) -> Samples {
        Samples { latencies: Vec::with_capacity(capacity) }
    }

    pub fn record(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    pub fn extend(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
    }

    pub fn len(&self) -> usize {
        self.latencies.len()
    }

    /// The latency below which a `quantile` (0..=1) of the samples fall (nearest rank).
    pub fn quantile(&mut self, quantile: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let rank = ((self.latencies.len() as f64 * quantile).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }
}

/// One result line: name, rate, p50 and p99.
pub fn report(name: &str, mut samples: Samples, elapsed: Duration, unit: &str) {
    let rate = samples.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    let p50 = samples.quantile(0.50);
    let p99 = samples.quantile(0.99);
    println!("  {name:<34} {rate:>10.0} {unit:<10} p50 {:>8} p99 {:>8}", millis(p50), millis(p99));
}

fn millis(duration: Duration) -> String {
    format!("{:.3}ms", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut samples = Samples::default();
        for ms in (1..=100).rev() {
            samples.record(Duration::from_millis(ms));
        }
        assert_eq!(samples.quantile(0.50), Duration::from_millis(50));
        assert_eq!(samples.quantile(0.99), Duration::from_millis(99));
        assert_eq!(samples.quantile(1.0), Duration::from_millis(100));
        assert_eq!(Samples::default().quantile(0.5), Duration::ZERO);
    }
}
