//! Small numeric summaries every crate shares.

/// The smallest and largest of `values`, ignoring NaN (as `f64::min`/`f64::max` do);
/// `(inf, -inf)` when there is no value.
pub fn min_max(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
}

#[cfg(test)]
mod tests {
    use super::min_max;

    #[test]
    fn min_max_ignores_nan_and_is_empty_safe() {
        assert_eq!(min_max([3.0, -1.0, f64::NAN, 2.0]), (-1.0, 3.0));
        assert_eq!(min_max([]), (f64::INFINITY, f64::NEG_INFINITY));
    }
}
