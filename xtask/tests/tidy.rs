//! Tidy: Lambda's facts are spelled once, in `crates/context/src/facts.rs` (in the spirit of
//! rust-analyzer's `tidy.rs`: a test that reads the source, run by `cargo test -p xtask`).
//!
//! Every `.rs` file of the workspace's members is read; outside `facts.rs` and tests (files
//! under a `tests` folder, `*_tests.rs` files, files declared by `#[cfg(test)] mod x;`, and
//! items under `#[cfg(test)]`, such as `mod tests { ... }` blocks), none may hold a literal that spells one of Lambda's facts again:
//! an error type (`"Runtime.`, `"Sandbox.`, `"Function.`), the task root (`"/var/task"`), the
//! unzipped limit (`262_144_000`, `262144000`), the buffered response limit (`6_291_456`),
//! the largest memory size (`10_240`) or the direct-upload limit (`52_428_800`, `52428800`,
//! `50 * 1024 * 1024`). Comments are not read. A failure names each
//! `file:line` and the literal; the fix is to use `lamina_context::facts`.
//!
//! Two exceptions, each a list:
//! - [`OWN_ERROR_TYPES`]: the one module in which a crate names the error types it reports
//!   itself (`Runtime.HandlerPanic` is lamina's, not Lambda's). There, a `"Runtime.` literal
//!   is allowed only as the value of a `const`, and neither the const's name nor its value
//!   may be one of `facts::error_type`'s: one name is one string, and Lambda's own types come
//!   from facts.
//! - [`STILL_TO_MOVE`]: files that spelled facts when this test was written (issue #24, being
//!   moved). Listed files are not checked; a listed file that is clean fails the test, so the
//!   list only shrinks.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Literals that spell one of Lambda's facts (see the module's documentation).
const FORBIDDEN: &[&str] = &[
    "\"Runtime.",
    "\"Sandbox.",
    "\"Function.",
    "\"/var/task\"",
    "262_144_000",
    "262144000",
    "6_291_456",
    "10_240",
    "52_428_800",
    "52428800",
    "50 * 1024 * 1024",
];

/// The one home of Lambda's facts.
const FACTS: &str = "crates/context/src/facts.rs";

/// Each crate's one module of its own error types (relative to the workspace root).
const OWN_ERROR_TYPES: &[&str] = &[
    "crates/runtime/src/error.rs",
    "crates/bootstrap/src/error_types.rs",
];

/// Files that still spell a fact outside `facts.rs` (issue #24): take a file off once it uses
/// `lamina_context::facts`; the test fails while a listed file is clean.
const STILL_TO_MOVE: &[&str] = &[];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every `.rs` file under `dir`, skipping build output, hidden folders and test folders.
fn sources(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name.starts_with('.') || name == "target" || name == "tests" {
                continue;
            }
            sources(root, &path, found);
        } else if name.ends_with(".rs") && !name.ends_with("_tests.rs") {
            found.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

/// The lines of `text` that are not tests: 1-based numbers and the code with comments and
/// `#[cfg(test)]` items blanked. The scan is textual: an item under `#[cfg(test)]` runs from
/// the attribute to its first `;` at depth 0 or the `}` closing its first `{`.
fn non_test_lines(text: &str) -> Vec<(usize, String)> {
    let mut kept = Vec::new();
    let mut skipping = false;
    let mut depth = 0usize;
    let mut opened = false;
    for (index, line) in text.lines().enumerate() {
        let code = match line.find("//") {
            // A `//` inside a string (a URL) is not a comment; only lines whose code is all
            // before a `//` outside quotes are cut there.
            Some(at) if line[..at].matches('"').count() % 2 == 0 => &line[..at],
            _ => line,
        };
        if !skipping && code.trim_start().starts_with("#[cfg(test)]") {
            skipping = true;
            depth = 0;
            opened = false;
        }
        if skipping {
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            let ended_by_semicolon = !opened && code.trim_end().ends_with(';');
            if (opened && depth == 0) || ended_by_semicolon {
                skipping = false;
            }
            continue;
        }
        kept.push((index + 1, code.to_owned()));
    }
    kept
}

/// `NAME = "value"` of each `pub const` in `facts.rs`'s `pub mod error_type`.
fn facts_error_types(root: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root.join(FACTS)).unwrap();
    let start = text
        .find("pub mod error_type {")
        .expect("facts.rs has `pub mod error_type`");
    let body = &text[start..];
    let body = &body[..body.find("\n}").unwrap()];
    consts(body)
}

/// `NAME -> value` of each `const NAME: &str = "value";` in `text`.
fn consts(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub ").unwrap_or(line.trim());
            let rest = rest.strip_prefix("const ")?;
            let (name, value) = rest.split_once(": &str = \"")?;
            let value = value.strip_suffix("\";")?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// What a file spells that it should not: `file:line: literal in: code` lines.
fn violations(root: &Path, file: &Path, facts: &BTreeMap<String, String>) -> Vec<String> {
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let own = OWN_ERROR_TYPES.iter().any(|f| Path::new(f) == file);
    let mut found = Vec::new();
    for (number, code) in non_test_lines(&text) {
        for literal in FORBIDDEN {
            if !contains_literal(&code, literal) {
                continue;
            }
            if own
                && *literal == "\"Runtime."
                && let Some((name, value)) = consts(&code).into_iter().next()
            {
                if facts.contains_key(&name) {
                    found.push(format!(
                            "{}:{number}: {name} is also facts::error_type::{name} (\"{}\"): one name, two strings; rename it",
                            file.display(),
                            facts[&name]
                        ));
                }
                if let Some((fact, _)) = facts.iter().find(|(_, v)| **v == value) {
                    found.push(format!(
                        "{}:{number}: \"{value}\" is Lambda's: use facts::error_type::{fact}",
                        file.display()
                    ));
                }
                continue;
            }
            found.push(format!(
                "{}:{number}: {literal} in `{}`",
                file.display(),
                code.trim()
            ));
        }
    }
    found
}

/// Whether `code` holds `literal`; a number must not be part of a longer one.
fn contains_literal(code: &str, literal: &str) -> bool {
    if literal.starts_with('"') {
        return code.contains(literal);
    }
    let is_digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    code.match_indices(literal).any(|(at, _)| {
        !is_digit(code[..at].chars().next_back())
            && !is_digit(code[at + literal.len()..].chars().next())
    })
}

/// The files that `file` declares as test modules: `#[cfg(test)]` followed (after other
/// attributes, perhaps `#[path = "..."]`) by `mod name;`.
fn test_module_files(root: &Path, file: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let name = file.file_name().unwrap().to_string_lossy();
    let parent = file.parent().unwrap();
    // Where `mod x;` looks: beside lib.rs, main.rs and mod.rs, in `foo/` for `foo.rs`.
    let dir = if ["lib.rs", "main.rs", "mod.rs"].contains(&name.as_ref()) {
        parent.to_path_buf()
    } else {
        parent.join(file.file_stem().unwrap())
    };
    let mut found = Vec::new();
    let mut under_cfg_test = false;
    let mut path_attribute = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with("#[cfg(test)]") {
            under_cfg_test = true;
            continue;
        }
        if !under_cfg_test {
            continue;
        }
        if let Some(rest) = line.strip_prefix("#[path = \"") {
            path_attribute = rest.split_once('"').map(|(p, _)| p.to_owned());
            continue;
        }
        if line.starts_with("#[") {
            continue;
        }
        let declared = line
            .strip_prefix("pub ")
            .unwrap_or(line)
            .strip_prefix("mod ")
            .and_then(|rest| rest.strip_suffix(';'));
        if let Some(module) = declared {
            match path_attribute.take() {
                // `#[path]` is relative to the declaring file's folder.
                Some(path) => found.push(parent.join(path)),
                None => {
                    found.push(dir.join(format!("{module}.rs")));
                    found.push(dir.join(module).join("mod.rs"));
                }
            }
        }
        under_cfg_test = false;
        path_attribute = None;
    }
    found
}

fn checked_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    // The workspace's members but `tests/e2e` (a tests folder); `bench/` is not a member.
    for top in ["crates", "xtask", "samples"] {
        if root.join(top).is_dir() {
            sources(root, &root.join(top), &mut files);
        }
    }
    let tests: Vec<PathBuf> = files
        .iter()
        .flat_map(|f| test_module_files(root, f))
        .collect();
    files.retain(|f| f != Path::new(FACTS) && !tests.contains(f));
    files
}

#[test]
fn lambdas_facts_are_spelled_only_in_facts_rs() {
    let root = workspace_root();
    let facts = facts_error_types(&root);
    assert!(facts.contains_key("TIMEOUT"), "{facts:?}");
    let mut failures = Vec::new();
    let mut clean_but_listed = Vec::new();
    for file in checked_files(&root) {
        let found = violations(&root, &file, &facts);
        let listed = STILL_TO_MOVE.iter().any(|f| Path::new(f) == file);
        if listed {
            if found.is_empty() {
                clean_but_listed.push(file.display().to_string());
            } else {
                println!("TODO(#24) {} still spells facts:", file.display());
                for line in &found {
                    println!("    {line}");
                }
            }
        } else {
            failures.extend(found);
        }
    }
    for listed in STILL_TO_MOVE {
        assert!(
            root.join(listed).is_file(),
            "STILL_TO_MOVE lists {listed}, which does not exist: take it off"
        );
    }
    assert!(
        failures.is_empty(),
        "Lambda's facts spelled outside {FACTS} (use lamina_context::facts):\n{}",
        failures.join("\n")
    );
    assert!(
        clean_but_listed.is_empty(),
        "no fact spelled any more in {}: take it off STILL_TO_MOVE in xtask/tests/tidy.rs",
        clean_but_listed.join(", ")
    );
}

/// The scan itself: what counts as a test, a comment and a number.
#[test]
fn the_scan_skips_tests_and_comments_and_matches_whole_numbers() {
    let text = "const A: u64 = 262_144_000;\n// \"Runtime.X\" in a comment\n#[cfg(test)]\nmod tests {\n    fn f() { let _ = \"/var/task\"; }\n}\n#[cfg(test)]\nconst B: &str = \"Sandbox.Timedout\";\nlet url = \"https://x\"; let t = \"Function.Y\";\n";
    let lines = non_test_lines(text);
    let numbers: Vec<usize> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [1, 2, 9]);
    assert!(contains_literal(&lines[0].1, "262_144_000"));
    assert!(!contains_literal(&lines[1].1, "\"Runtime."));
    assert!(contains_literal(&lines[2].1, "\"Function."));
    assert!(!contains_literal("let n = 110_240;", "10_240"));
    assert!(!contains_literal("let n = 10_2400;", "10_240"));
    assert!(contains_literal("(1..=10_240)", "10_240"));
}
