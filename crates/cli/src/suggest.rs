//! "Did you mean" for a mistyped name: a function, a package, a binary, a layer or a spec key.
//! A module of its own so that `spec` and `project` both use it without naming each other.

/// ", did you mean `x`?" when one of `known` is a near miss of `asked`.
pub fn did_you_mean(asked: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (strsim::levenshtein(asked, k), k))
        .filter(|(distance, _)| *distance <= 2.max(asked.len() / 3))
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_near_miss_is_named_and_a_far_one_is_not() {
        assert_eq!(
            did_you_mean("memroy", &["memory", "timeout"]),
            " (did you mean `memory`?)"
        );
        assert_eq!(
            did_you_mean("runtim", &["runtime"]),
            " (did you mean `runtime`?)"
        );
        assert_eq!(did_you_mean("zzzzzz", &["memory", "timeout"]), "");
        assert_eq!(did_you_mean("x", &[]), "");
    }
}
