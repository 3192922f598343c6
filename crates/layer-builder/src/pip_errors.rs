//! What a failed `pip install` means, from its stderr: the package index unreachable, a
//! requirement with no wheel for the platform (named, with its line in the requirements
//! file), or pip's own errors.

use std::fs;
use std::path::Path;

/// Substrings of pip's output that mean the package index could not be reached (pip then
/// also says "no matching distribution", which would blame the package).
const UNREACHABLE: [&str; 9] = [
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "Network is unreachable",
    "No route to host",
];

/// What went wrong, from pip's stderr: the index unreachable, a requirement with no wheel
/// for the platform (named, with its line in the requirements file), or pip's errors.
pub(crate) fn explain(stderr: &str, requirements: &Path, named: &str, machine: &str) -> String {
    // pip's errors start at its first `ERROR:` line (details, like a hash mismatch's
    // expected and got, follow on lines of their own); without one, its last lines.
    let lines: Vec<&str> = stderr.lines().collect();
    let first_error = lines.iter().position(|l| l.starts_with("ERROR:"));
    let from = first_error.unwrap_or(lines.len().saturating_sub(15));
    let pip_said = lines[from..lines.len().min(from + 30)].join("\n");
    if let Some(line) = stderr
        .lines()
        .find(|l| UNREACHABLE.iter().any(|marker| l.contains(marker)))
    {
        return format!(
            "the package index (PyPI, or the one configured for pip) is unreachable from this \
             machine:\n  {}\npip: {pip_said}",
            line.trim()
        );
    }
    let missing = stderr
        .lines()
        .find_map(|l| l.split("No matching distribution found for ").nth(1));
    if let Some(requirement) = missing {
        let requirement = requirement.trim();
        let name = requirement_name(requirement);
        let at = line_of_requirement(requirements, &name)
            .map(|line| format!("{named}:{line}: "))
            .unwrap_or_default();
        return format!(
            "{at}no wheel of `{requirement}` for this Python and platform: lamina installs \
             wheels only (--only-binary=:all:) and never builds an sdist; `{name}` may publish \
             only an sdist, or no CPython wheel for manylinux {}; pick a version with such a \
             wheel\npip: {pip_said}",
            machine
        );
    }
    pip_said
}

/// The project name a requirement line starts with, normalised as PyPI does (lowercase,
/// runs of `-_.` as one `-`).
fn requirement_name(requirement: &str) -> String {
    let raw: String = requirement
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let mut name = String::new();
    for c in raw.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !name.ends_with('-') {
                name.push('-');
            }
        } else {
            name.push(c.to_ascii_lowercase());
        }
    }
    name
}

/// The 1-based line of `requirements` that names project `name`, if one does.
fn line_of_requirement(requirements: &Path, name: &str) -> Option<usize> {
    let text = fs::read_to_string(requirements).ok()?;
    text.lines()
        .position(|line| !name.is_empty() && requirement_name(line) == name)
        .map(|index| index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_names_are_normalised() {
        assert_eq!(requirement_name("MarkupSafe==2.1.5"), "markupsafe");
        assert_eq!(
            requirement_name("charset_normalizer>=3 ; python_version>'3'"),
            "charset-normalizer"
        );
        assert_eq!(requirement_name("zope.interface[x]"), "zope-interface");
        assert_eq!(requirement_name("# comment"), "");
    }
}
