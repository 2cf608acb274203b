//! Smooth weighted round robin (nginx): each pick adds every weight to its running score,
//! takes the highest score and subtracts the total from it. Over any `total / gcd` picks
//! every choice gets exactly its share, interleaved (80/20 gives v1 v1 v2 v1 v1 v1 v1 v2 …,
//! never 80 then 20). Envoy's weighted clusters pick randomly, so Istio only promises the
//! split "over many requests"; this makes it exact. Equal weights use an atomic counter.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A smooth weighted round-robin picker over choices `0..n`.
#[derive(Debug)]
pub struct Swrr {
    weights: Box<[i64]>,
    total: i64,
    state: State,
}

#[derive(Debug)]
enum State {
    /// All weights equal: plain round robin.
    Uniform(AtomicUsize),
    /// Running scores.
    Smooth(Mutex<Box<[i64]>>),
}

impl Swrr {
    /// A picker over `weights`; zero-weight choices are never picked. None when no weight is
    /// positive.
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Option<Self> {
        let weights: Box<[i64]> = weights.into_iter().map(i64::from).collect();
        let total: i64 = weights.iter().sum();
        if total == 0 {
            return None;
        }
        let state = if weights.windows(2).all(|w| w[0] == w[1]) {
            State::Uniform(AtomicUsize::new(0))
        } else {
            State::Smooth(Mutex::new(vec![0; weights.len()].into_boxed_slice()))
        };
        Some(Swrr { weights, total, state })
    }

    /// Number of choices.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// True without choices (never: `new` refuses that).
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The next choice.
    pub fn pick(&self) -> usize {
        match &self.state {
            State::Uniform(next) => next.fetch_add(1, Ordering::Relaxed) % self.weights.len(),
            State::Smooth(scores) => {
                // A poisoned lock only means another pick panicked mid-update; the scores are
                // still usable numbers.
                let mut scores = scores.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut best = 0;
                for (i, w) in self.weights.iter().enumerate() {
                    scores[i] += w;
                    if scores[i] > scores[best] {
                        best = i;
                    }
                }
                scores[best] -= self.total;
                best
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Swrr;

    fn window_counts(s: &Swrr, window: usize, windows: usize) -> Vec<Vec<usize>> {
        (0..windows)
            .map(|_| {
                let mut c = vec![0; s.len()];
                for _ in 0..window {
                    c[s.pick()] += 1;
                }
                c
            })
            .collect()
    }

    #[test]
    fn eighty_twenty_is_exact_over_every_ten_and_hundred() {
        let s = Swrr::new([80, 20]).expect("weights");
        for c in window_counts(&s, 10, 50) {
            assert_eq!(c, [8, 2]);
        }
        for c in window_counts(&s, 100, 5) {
            assert_eq!(c, [80, 20]);
        }
    }

    #[test]
    fn splits_are_exact_per_cycle() {
        let table: &[(&[u32], usize, &[usize])] = &[
            (&[50, 50], 2, &[1, 1]),
            (&[1, 2, 3], 6, &[1, 2, 3]),
            (&[33, 33, 34], 100, &[33, 33, 34]),
            (&[90, 10], 10, &[9, 1]),
            (&[100, 0], 10, &[10, 0]),
            (&[7], 3, &[3]),
        ];
        for (weights, window, want) in table {
            let s = Swrr::new(weights.iter().copied()).expect("weights");
            for c in window_counts(&s, *window, 7) {
                assert_eq!(&c, want, "weights {weights:?}");
            }
        }
    }

    #[test]
    fn interleaves_instead_of_bursting() {
        let s = Swrr::new([80, 20]).expect("weights");
        let picks: Vec<usize> = (0..10).map(|_| s.pick()).collect();
        // The minority choice never comes twice in a row and never waits more than 4 picks.
        assert!(picks.windows(2).all(|w| !(w[0] == 1 && w[1] == 1)), "{picks:?}");
        assert!(picks.windows(5).all(|w| w.contains(&1)), "{picks:?}");
    }

    #[test]
    fn all_zero_weights_are_refused() {
        assert!(Swrr::new([0, 0]).is_none());
        assert!(Swrr::new([]).is_none());
    }
}
