//! "Did you mean …" hints: the closest candidate by edit distance, when it is close enough to be
//! a plausible typo.

/// Levenshtein distance over chars, ASCII case-insensitive.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The candidate closest to `input`, if within a third of its length (at least 1, at most 3
/// edits), or if one is a case-insensitive match or a plural/singular of the other.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(input, c), c))
        .filter(|(d, c)| *d <= limit || c.eq_ignore_ascii_case(input))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let fields = ["hosts", "gateways", "http", "tls", "tcp", "exportTo"];
        assert_eq!(did_you_mean("host", fields), Some("hosts"));
        assert_eq!(did_you_mean("gatways", fields), Some("gateways"));
        assert_eq!(did_you_mean("exportto", fields), Some("exportTo"));
        assert_eq!(did_you_mean("completelyelse", fields), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
