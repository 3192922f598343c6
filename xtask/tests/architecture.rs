//! ARCHITECTURE.md checked against the code.
//!
//! # Dependencies: the crate table's "may depend on" column against `cargo metadata`
//!
//! Each row of the table in `## Crates` names a crate by its folder (`crates/deploy`,
//! `xtask`, `tests/e2e`); its short name is the folder's last part (`deploy`, `e2e`), which
//! is how other rows name it. The last column lists what it may depend on: items separated
//! by `,` or `;`, each item a crate name first, then remarks (`aws-config (default features
//! off, ...)`, `tokio behind the \`tokio\` feature`, `emulator (dev)`). The rules:
//!
//! - Our own crates, strictly: every workspace crate a crate depends on (normal or build
//!   dependency, optional or not, on any platform) is listed, and every one listed is a
//!   dependency. One listed with `(dev)` is a dev-dependency only; dev-dependencies on our
//!   crates need not be listed otherwise (tests may use any crate).
//! - Third-party crates, loosely: the column names the ones that shape a crate, not every
//!   helper, so an unlisted one is allowed; but every one listed must be a real (normal)
//!   dependency, and one said to be "behind the ... feature" must be optional.
//! - `anything` (xtask) opts out; a row whose package column says `(own workspace)` is not
//!   a member. Every workspace member has a row, except `samples/*`, which (as the diagram
//!   says) depend on `runtime` or `http` only among our crates.
//!
//! A failure names the crate and the edge that is missing or extra.
//!
//! # Module import cycles, per crate
//!
//! For each target (library or binary) of each workspace member, the files under its
//! `src/` form a graph: file A points at file B when A names an item of B's module through
//! `use crate::...`, `use super::...`, `use self::...`, a `use` of a child module, or such a
//! path written inline (`crate::x::f()`, `super::T`). This is a textual scan, not the
//! compiler's name resolution: comments and string contents are skipped, `mod x;` (and
//! `#[path]`) map modules to files, inline `mod x { ... }` blocks are followed by their
//! braces, and a name re-exported by a `use` in the module it is named through (the crate
//! root's `pub use error::DeployError`) is followed to the module that defines it. A
//! `mod x;` declaration alone is not an edge; glob imports count as an edge to the module
//! globbed but their names are not followed.
//!
//! A cycle of files (a strongly connected component of two or more) fails the test, except
//! in the crates listed in [`CYCLES_STILL_TO_BREAK`], whose cycles are printed as a to-do
//! list; a crate in that list that has no cycle left fails too, so that it is taken off and
//! asserted from then on.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package};

/// Crates whose module graph still has cycles (issue #24): printed, not failed, by
/// [`module_imports_have_no_cycles`]. Take a crate off this list once its cycles are broken;
/// the test then keeps it acyclic (and fails while a crate with no cycle left is listed).
///
/// When the list was written: emulator (`lib.rs` with `front_door/`, `function/`, the APIs
/// and `instance*.rs`, 12 files; `view.rs` with `view/entrypoint.rs`), bootstrap
/// (`environment.rs`, `init_error.rs`, `executable.rs`, `web/`, `worker/`: 8 files), cli
/// (`project.rs` with `spec.rs`; the binary's `main.rs`, `cli.rs`, `remote.rs`, `serve.rs`),
/// layer-builder (`build.rs`, `tree.rs` and 6 more; `pip.rs`, `pip_record.rs`, `spec.rs`);
/// beyond the issue's list, http (`lib.rs` defines `HttpError`, used by `request.rs`,
/// `response.rs`, `asynchronous.rs`), unzip (`lib.rs` with `headers.rs`, `unpack.rs`) and
/// xtask (`package.rs` with `repro.rs`). deploy, elf, context and runtime have none. Run
/// `cargo test -p xtask --test architecture -- --nocapture` for each cycle, line by line.
const CYCLES_STILL_TO_BREAK: &[&str] = &[];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn metadata() -> Metadata {
    MetadataCommand::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .no_deps()
        .exec()
        .unwrap()
}

/// A crate's short name, the one ARCHITECTURE.md uses: its folder's last part.
fn short_name(package: &Package) -> String {
    package
        .manifest_path
        .parent()
        .and_then(|dir| dir.file_name())
        .unwrap()
        .to_string()
}

fn normalise(name: &str) -> String {
    name.replace('_', "-")
}

// ---------------------------------------------------------------------------------------
// The crate table

/// One item of a "may depend on" cell.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    /// The crate name, normalised (`_` as `-`).
    name: String,
    /// Marked `(dev)`: a dev-dependency only.
    dev: bool,
    /// "behind the ... feature": an optional dependency.
    behind_feature: bool,
}

/// A row of the crate table.
#[derive(Debug, Clone)]
struct Row {
    /// The first column: `crates/deploy`, `xtask`, ...
    folder: String,
    /// The package column as written.
    package: String,
    /// `None`: `anything`.
    may_depend_on: Option<Vec<Allowed>>,
}

/// Reads the table under `## Crates`: rows of four cells, the folder in backticks first.
fn crate_table(markdown: &str) -> Result<Vec<Row>, String> {
    let section = markdown
        .split("\n## ")
        .find(|s| s.starts_with("Crates"))
        .ok_or("ARCHITECTURE.md has no `## Crates` section")?;
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        if cells.len() != 4 {
            return Err(format!(
                "a crate table row has {} cells, not 4 (a `|` in a cell?): {line}",
                cells.len()
            ));
        }
        let folder = cells[0].trim();
        if folder == "crate" || folder.starts_with("---") {
            continue;
        }
        let folder = folder
            .strip_prefix('`')
            .and_then(|f| f.strip_suffix('`'))
            .ok_or_else(|| format!("the first cell is not a `folder` in backticks: {line}"))?;
        rows.push(Row {
            folder: folder.to_string(),
            package: cells[1].trim().to_string(),
            may_depend_on: may_depend_on(cells[3]),
        });
    }
    Ok(rows)
}

/// Parses a "may depend on" cell: items split on `,` and `;` outside parentheses, each
/// named by its first word.
fn may_depend_on(cell: &str) -> Option<Vec<Allowed>> {
    let cell = cell.trim();
    if cell == "anything" {
        return None;
    }
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in cell.chars().chain([',']) {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' | ';' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    Some(
        items
            .iter()
            .map(|item| item.trim().replace('`', ""))
            .filter(|item| !item.is_empty())
            .map(|item| {
                let name: String = item
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
                Allowed {
                    name: normalise(&name),
                    dev: item.contains("(dev)"),
                    behind_feature: item.contains("behind the") && item.contains("feature"),
                }
            })
            .collect(),
    )
}

/// Every way the table and `cargo metadata` disagree, one line each.
fn table_mismatches(rows: &[Row], metadata: &Metadata) -> Vec<String> {
    let members = metadata.workspace_packages();
    let ours: BTreeMap<String, String> = members
        .iter()
        .map(|p| (p.name.to_string(), short_name(p)))
        .collect();
    let root = &metadata.workspace_root;
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for package in &members {
        let folder = package
            .manifest_path
            .parent()
            .unwrap()
            .strip_prefix(root)
            .unwrap()
            .to_string();
        let short = short_name(package);
        let lamina_deps = |dev: bool| -> BTreeSet<String> {
            package
                .dependencies
                .iter()
                .filter(|d| (d.kind == DependencyKind::Development) == dev)
                .filter_map(|d| ours.get(&d.name).cloned())
                .collect()
        };
        let normal = lamina_deps(false);
        if folder.starts_with("samples/") {
            for dep in normal
                .iter()
                .filter(|d| !["runtime", "http"].contains(&d.as_str()))
            {
                problems.push(format!(
                    "{folder} ({}) depends on {dep}, but samples depend on runtime or http only",
                    package.name
                ));
            }
            continue;
        }
        let Some(row) = rows.iter().find(|r| r.folder == folder) else {
            problems.push(format!(
                "{folder} ({}) is a workspace member without a row in ARCHITECTURE.md's crate table",
                package.name
            ));
            continue;
        };
        seen.insert(row.folder.clone());
        let Some(allowed) = &row.may_depend_on else {
            continue;
        };
        let listed = |name: &str| allowed.iter().find(|a| a.name == normalise(name));
        for dep in &normal {
            match listed(dep) {
                None => problems.push(format!(
                    "{short} depends on {dep}, which its row's \"may depend on\" does not list"
                )),
                Some(a) if a.dev => problems.push(format!(
                    "{short} depends on {dep}, which its row lists as (dev) only"
                )),
                Some(_) => {}
            }
        }
        for a in allowed {
            // Our crate of that short name, unless it is this row's own (lamina-http's row
            // lists the third-party `http`).
            let lamina =
                a.name != normalise(&short) && ours.values().any(|s| normalise(s) == a.name);
            let deps: Vec<_> = package
                .dependencies
                .iter()
                .filter(|d| {
                    if lamina {
                        ours.get(&d.name).is_some_and(|s| normalise(s) == a.name)
                    } else {
                        normalise(&d.name) == a.name
                    }
                })
                .collect();
            let as_dev = deps.iter().any(|d| d.kind == DependencyKind::Development);
            let as_normal = deps.iter().any(|d| d.kind != DependencyKind::Development);
            if a.dev && !as_dev {
                problems.push(format!(
                    "{short}'s row lists {} (dev), which is not a dev-dependency of {}",
                    a.name, package.name
                ));
            } else if !a.dev && !as_normal {
                problems.push(format!(
                    "{short}'s row lists {}, which is not a dependency of {}{}",
                    a.name,
                    package.name,
                    if as_dev && lamina {
                        " (only a dev-dependency: mark it (dev))"
                    } else {
                        ""
                    }
                ));
            } else if a.behind_feature
                && !deps
                    .iter()
                    .any(|d| d.kind != DependencyKind::Development && d.optional)
            {
                problems.push(format!(
                    "{short}'s row says {} is behind a feature, but it is not optional in {}",
                    a.name, package.name
                ));
            }
        }
    }
    for row in rows {
        if !seen.contains(&row.folder) && row.package != "(own workspace)" {
            problems.push(format!(
                "ARCHITECTURE.md's crate table has a row for {}, which is not a workspace member",
                row.folder
            ));
        }
    }
    problems
}

#[test]
fn the_crate_table_lists_every_dependency_between_our_crates() {
    let markdown = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let rows = crate_table(&markdown).unwrap();
    assert!(rows.len() >= 10, "only {} rows read: {rows:?}", rows.len());
    let problems = table_mismatches(&rows, &metadata());
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's crate table disagrees with cargo metadata:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn a_may_depend_on_cell_is_read_item_by_item() {
    let cell = " runtime, aws_lambda_events (apigw, alb), http; tokio behind the `tokio` feature, \
                emulator (dev) ";
    let allowed = may_depend_on(cell).unwrap();
    let names: Vec<_> = allowed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        ["runtime", "aws-lambda-events", "http", "tokio", "emulator"]
    );
    assert!(allowed[3].behind_feature && !allowed[3].dev);
    assert!(allowed[4].dev && !allowed[4].behind_feature);
    assert!(!allowed[1].dev && !allowed[1].behind_feature);
    assert_eq!(may_depend_on(" anything "), None);
}

/// The check itself fails when an edge is added where the table does not allow it, or a
/// listed one is removed.
#[test]
fn a_dependency_in_the_wrong_place_is_named() {
    let markdown = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    let mut rows = crate_table(&markdown).unwrap();
    let metadata = metadata();
    // The CLI's row without emulator (a dependency it has) and with runtime (one it has not).
    let cli = rows.iter_mut().find(|r| r.folder == "crates/cli").unwrap();
    let allowed = cli.may_depend_on.as_mut().unwrap();
    allowed.retain(|a| a.name != "emulator");
    allowed.push(Allowed {
        name: "runtime".into(),
        dev: false,
        behind_feature: false,
    });
    let problems = table_mismatches(&rows, &metadata);
    assert!(
        problems.iter().any(
            |p| p == "cli depends on emulator, which its row's \"may depend on\" does not list"
        ),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p == "cli's row lists runtime, which is not a dependency of cargo-lamina"),
        "{problems:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Module import graphs

/// A token of Rust source, comments and literal contents aside.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
    /// A string literal's contents (for `#[path = "..."]`).
    Str(String),
}

/// Splits Rust source into tokens with their line numbers: comments dropped, string and
/// char literals kept as one token (char literals as `Punct('\'')`), lifetimes as idents.
fn tokens(source: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            let start_line = line;
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    text.push(chars[i]);
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    if ch == '\n' {
                        line += 1;
                    }
                    text.push(ch);
                }
                i += 1;
            }
            i += 1;
            out.push((Tok::Str(text), start_line));
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push((Tok::Punct('\''), line));
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push((Tok::Punct('\''), line));
            } else {
                i += 1;
            }
        } else if ident_char(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // Raw strings: r"..", r#".."#, br#".."#.
            if matches!(word.as_str(), "r" | "br" | "cr")
                && matches!(chars.get(i), Some('"') | Some('#'))
            {
                let mut hashes = 0;
                while chars.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if chars.get(i) == Some(&'"') {
                    let start_line = line;
                    i += 1;
                    let mut text = String::new();
                    while let Some(&ch) = chars.get(i) {
                        if ch == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                            i += 1 + hashes;
                            break;
                        }
                        if ch == '\n' {
                            line += 1;
                        }
                        text.push(ch);
                        i += 1;
                    }
                    out.push((Tok::Str(text), start_line));
                    continue;
                }
                // `r#ident`: a raw identifier.
                let start = i;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
                out.push((Tok::Ident(chars[start..i].iter().collect()), line));
                continue;
            }
            // Byte and C strings: the prefix is not an identifier.
            if matches!(word.as_str(), "b" | "c") && chars.get(i) == Some(&'"') {
                continue;
            }
            if word == "b" && chars.get(i) == Some(&'\'') {
                continue;
            }
            out.push((Tok::Ident(word), line));
        } else if c == ':' && next == Some(':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// A module path inside a crate: `[]` is the root, `["closure", "resolver"]`.
type ModPath = Vec<String>;

/// One `use` import: the path as written, the name it brings in (`None` for a glob).
#[derive(Debug, Clone)]
struct Import {
    path: Vec<String>,
    name: Option<String>,
}

/// Expands a use tree (`a::{b, c::{self, d as e}, f::*}`) into imports.
fn use_tree(toks: &[Tok], prefix: &[String], out: &mut Vec<Import>) {
    let mut path = prefix.to_vec();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(word) if word == "as" => {
                let alias = match toks.get(i + 1) {
                    Some(Tok::Ident(alias)) if alias != "_" => Some(alias.clone()),
                    _ => None,
                };
                out.push(Import {
                    path: path.clone(),
                    name: alias,
                });
                return;
            }
            Tok::Ident(word) => path.push(word.clone()),
            Tok::PathSep => {}
            Tok::Punct('*') => {
                out.push(Import { path, name: None });
                return;
            }
            Tok::Punct('{') => {
                // Split the group on top-level commas.
                let mut depth = 0;
                let mut start = i + 1;
                for j in i + 1..toks.len() {
                    match toks[j] {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') if depth == 0 => {
                            if start < j {
                                use_tree(&toks[start..j], &path, out);
                            }
                            return;
                        }
                        Tok::Punct('}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => {
                            if start < j {
                                use_tree(&toks[start..j], &path, out);
                            }
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            _ => {}
        }
        i += 1;
    }
    if path.last().is_some_and(|s| s == "self") {
        path.pop();
    }
    let name = path.last().cloned();
    if !path.is_empty() {
        out.push(Import { path, name });
    }
}

/// A path written in a file, to resolve: from which module, on which line.
#[derive(Debug, Clone)]
struct Reference {
    module: ModPath,
    path: Vec<String>,
    line: usize,
}

/// What one target's files declare and name.
#[derive(Default)]
struct ModuleTree {
    /// Files, relative to the crate's folder.
    files: Vec<String>,
    /// Module -> the file it lives in (inline modules in their parent's file).
    file_of: HashMap<ModPath, usize>,
    /// Module -> its child modules.
    children: HashMap<ModPath, BTreeSet<String>>,
    /// Module -> name -> the import that brings it in.
    imports: HashMap<ModPath, HashMap<String, Vec<String>>>,
    references: Vec<Reference>,
}

impl ModuleTree {
    /// Reads the module tree from `root` (`src/lib.rs`, `src/main.rs`), following `mod`.
    fn read(crate_dir: &Path, root: &Path) -> ModuleTree {
        let mut tree = ModuleTree::default();
        let mut queue = VecDeque::from([(root.to_path_buf(), Vec::new(), true)]);
        while let Some((file, module, owns_dir)) = queue.pop_front() {
            let Ok(source) = std::fs::read_to_string(&file) else {
                continue; // A `mod` behind a cfg for a file absent here.
            };
            let index = tree.files.len();
            tree.files.push(
                file.strip_prefix(crate_dir)
                    .unwrap_or(&file)
                    .display()
                    .to_string(),
            );
            tree.file_of.insert(module.clone(), index);
            // Where a child `mod x;` of this file's module lives.
            let dir = if owns_dir {
                file.parent().unwrap().to_path_buf()
            } else {
                file.with_extension("")
            };
            let toks = tokens(&source);
            let mut inline: Vec<(String, usize)> = Vec::new();
            let mut depth = 0usize;
            let mut path_attr: Option<String> = None;
            let mut i = 0;
            while i < toks.len() {
                let current: ModPath = module
                    .iter()
                    .cloned()
                    .chain(inline.iter().map(|(m, _)| m.clone()))
                    .collect();
                let (tok, line) = &toks[i];
                match tok {
                    Tok::Punct('{') => depth += 1,
                    Tok::Punct('}') => {
                        depth = depth.saturating_sub(1);
                        while inline.last().is_some_and(|(_, d)| *d > depth) {
                            inline.pop();
                        }
                    }
                    Tok::Punct('#') => {
                        // #[path = "file.rs"]
                        if let [
                            (Tok::Punct('['), _),
                            (Tok::Ident(p), _),
                            (Tok::Punct('='), _),
                            (Tok::Str(value), _),
                            ..,
                        ] = &toks[i + 1..toks.len().min(i + 5)]
                            && p == "path"
                        {
                            path_attr = Some(value.clone());
                        }
                    }
                    Tok::Ident(word) if word == "mod" => {
                        if let Some((Tok::Ident(name), _)) = toks.get(i + 1) {
                            let mut child = current.clone();
                            child.push(name.clone());
                            tree.children
                                .entry(current.clone())
                                .or_default()
                                .insert(name.clone());
                            match toks.get(i + 2) {
                                Some((Tok::Punct(';'), _)) if inline.is_empty() => {
                                    let (path, owns) = match path_attr.take() {
                                        Some(p) => (file.parent().unwrap().join(p), true),
                                        None if dir.join(format!("{name}.rs")).exists() => {
                                            (dir.join(format!("{name}.rs")), false)
                                        }
                                        None => (dir.join(name).join("mod.rs"), true),
                                    };
                                    queue.push_back((path, child, owns));
                                }
                                Some((Tok::Punct('{'), _)) => {
                                    tree.file_of.insert(child, index);
                                    inline.push((name.clone(), depth + 1));
                                    depth += 1;
                                    i += 3;
                                    continue;
                                }
                                _ => {}
                            }
                            i += 2;
                            continue;
                        }
                    }
                    Tok::Ident(word)
                        if word == "use"
                            && !matches!(toks.get(i + 1), Some((Tok::Punct('<'), _))) =>
                    {
                        let end = toks[i..]
                            .iter()
                            .position(|(t, _)| *t == Tok::Punct(';'))
                            .map_or(toks.len(), |p| i + p);
                        let tree_toks: Vec<Tok> =
                            toks[i + 1..end].iter().map(|(t, _)| t.clone()).collect();
                        let mut imports = Vec::new();
                        use_tree(&tree_toks, &[], &mut imports);
                        for import in imports {
                            if let Some(name) = &import.name {
                                tree.imports
                                    .entry(current.clone())
                                    .or_default()
                                    .insert(name.clone(), import.path.clone());
                            }
                            tree.references.push(Reference {
                                module: current.clone(),
                                path: import.path,
                                line: *line,
                            });
                        }
                        i = end;
                        continue;
                    }
                    Tok::Ident(first) => {
                        // A path written inline: `a::b::c`, not the tail of a longer one.
                        let after_sep = i > 0 && toks[i - 1].0 == Tok::PathSep;
                        let in_macro = i > 0 && toks[i - 1].0 == Tok::Punct('$');
                        let mut path = vec![first.clone()];
                        let mut j = i + 1;
                        while let (Some((Tok::PathSep, _)), Some((Tok::Ident(next), _))) =
                            (toks.get(j), toks.get(j + 1))
                        {
                            path.push(next.clone());
                            j += 2;
                        }
                        if path.len() > 1 && !after_sep && !in_macro {
                            tree.references.push(Reference {
                                module: current.clone(),
                                path,
                                line: *line,
                            });
                        }
                        i = j;
                        continue;
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        tree
    }

    /// The module a path names an item of (or names), following child modules and
    /// re-exports; `None` for paths outside the crate.
    fn resolve(&self, from: &ModPath, path: &[String], depth: usize) -> Option<ModPath> {
        if depth > 16 {
            return None;
        }
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "crate" => self.walk(Vec::new(), rest, depth),
            "self" => self.walk(from.clone(), rest, depth),
            "super" => {
                let mut at = from.clone();
                at.pop()?;
                let mut rest = rest;
                while rest.first().is_some_and(|s| s == "super") {
                    at.pop()?;
                    rest = &rest[1..];
                }
                self.walk(at, rest, depth)
            }
            name if self.children.get(from).is_some_and(|c| c.contains(name)) => {
                let mut at = from.clone();
                at.push(name.to_string());
                self.walk(at, rest, depth)
            }
            name => {
                // A name this module imported (`use crate::upload;` then `upload::code`);
                // anything else (std, another crate, a local) is outside the graph.
                let import = self.imports.get(from)?.get(name)?;
                let target = self.resolve(from, import, depth + 1)?;
                self.walk(target, rest, depth + 1)
            }
        }
    }

    /// Follows `rest` down from module `at`: child modules, then names `at` re-exports.
    fn walk(&self, mut at: ModPath, rest: &[String], depth: usize) -> Option<ModPath> {
        for (k, segment) in rest.iter().enumerate() {
            if self.children.get(&at).is_some_and(|c| c.contains(segment)) {
                at.push(segment.clone());
            } else if let Some(import) = self.imports.get(&at).and_then(|i| i.get(segment)) {
                return match self.resolve(&at, import, depth + 1) {
                    Some(target) => self.walk(target, &rest[k + 1..], depth + 1),
                    // Re-exported from another crate: no file of ours is named.
                    None => None,
                };
            } else {
                break;
            }
        }
        Some(at)
    }

    fn file(&self, module: &ModPath) -> Option<usize> {
        let mut module = module.clone();
        loop {
            if let Some(&f) = self.file_of.get(&module) {
                return Some(f);
            }
            module.pop()?;
        }
    }

    /// File -> file it names -> the first line naming it.
    fn edges(&self) -> BTreeMap<usize, BTreeMap<usize, usize>> {
        let mut edges: BTreeMap<usize, BTreeMap<usize, usize>> = BTreeMap::new();
        for reference in &self.references {
            let Some(target) = self.resolve(&reference.module, &reference.path, 0) else {
                continue;
            };
            let (Some(from), Some(to)) = (self.file(&reference.module), self.file(&target)) else {
                continue;
            };
            if from != to {
                edges
                    .entry(from)
                    .or_default()
                    .entry(to)
                    .or_insert(reference.line);
            }
        }
        edges
    }

    /// Each cycle of files (a strongly connected component of two or more), shown as one
    /// shortest loop through its first file with the line of each step, then its members.
    fn cycles(&self) -> Vec<String> {
        let edges = self.edges();
        let components = strongly_connected(self.files.len(), &edges);
        let mut found = Vec::new();
        for component in components.into_iter().filter(|c| c.len() > 1) {
            let start = component[0];
            let members: BTreeSet<usize> = component.iter().copied().collect();
            // Shortest loop start -> ... -> start inside the component.
            let mut previous: HashMap<usize, usize> = HashMap::new();
            let mut queue = VecDeque::from([start]);
            let mut last = None;
            'search: while let Some(node) = queue.pop_front() {
                for &next in edges.get(&node).map(|e| e.keys()).into_iter().flatten() {
                    if !members.contains(&next) {
                        continue;
                    }
                    if next == start {
                        last = Some(node);
                        break 'search;
                    }
                    if next != start && !previous.contains_key(&next) {
                        previous.insert(next, node);
                        queue.push_back(next);
                    }
                }
            }
            let mut loop_nodes = vec![start];
            let mut node = last.unwrap();
            while node != start {
                loop_nodes.push(node);
                node = previous[&node];
            }
            loop_nodes[1..].reverse();
            let mut text = String::new();
            for (k, &n) in loop_nodes.iter().enumerate() {
                let next = loop_nodes.get(k + 1).copied().unwrap_or(start);
                write!(text, "{}:{} -> ", self.files[n], edges[&n][&next]).unwrap();
            }
            write!(text, "{}", self.files[start]).unwrap();
            if component.len() > loop_nodes.len() {
                let names: Vec<&str> = component.iter().map(|&n| self.files[n].as_str()).collect();
                write!(
                    text,
                    " (in a knot of {}: {})",
                    names.len(),
                    names.join(", ")
                )
                .unwrap();
            }
            found.push(text);
        }
        found
    }
}

/// Tarjan's strongly connected components, each sorted, in order of their first node.
fn strongly_connected(
    nodes: usize,
    edges: &BTreeMap<usize, BTreeMap<usize, usize>>,
) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a BTreeMap<usize, BTreeMap<usize, usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        let targets: Vec<usize> = s
            .edges
            .get(&v)
            .map(|e| e.keys().copied().collect())
            .unwrap_or_default();
        for w in targets {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(index) if s.on_stack[w] => s.low[v] = s.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            s.out.push(component);
        }
    }
    let mut state = State {
        edges,
        index: vec![None; nodes],
        low: vec![0; nodes],
        on_stack: vec![false; nodes],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..nodes {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.out.sort();
    state.out
}

/// Every workspace member's cycles, by short name (one entry per target with cycles).
fn cycles_by_crate() -> BTreeMap<String, Vec<String>> {
    let metadata = metadata();
    let mut by_crate: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for package in metadata.workspace_packages() {
        let crate_dir = package.manifest_path.parent().unwrap().as_std_path();
        let short = short_name(package);
        for target in &package.targets {
            if !(target.is_lib() || target.is_bin() || target.is_proc_macro()) {
                continue;
            }
            let tree = ModuleTree::read(crate_dir, target.src_path.as_std_path());
            for cycle in tree.cycles() {
                by_crate
                    .entry(short.clone())
                    .or_default()
                    .push(format!("[{}] {cycle}", target.name));
            }
        }
    }
    by_crate
}

#[test]
fn module_imports_have_no_cycles() {
    let by_crate = cycles_by_crate();
    let mut failures = Vec::new();
    for name in CYCLES_STILL_TO_BREAK {
        match by_crate.get(*name) {
            Some(cycles) => {
                println!(
                    "TODO(#24) {name}: {} cycle(s) still to break:",
                    cycles.len()
                );
                for cycle in cycles {
                    println!("    {cycle}");
                }
            }
            None => failures.push(format!(
                "{name} has no module cycle left: take it off CYCLES_STILL_TO_BREAK"
            )),
        }
    }
    for (name, cycles) in &by_crate {
        if !CYCLES_STILL_TO_BREAK.contains(&name.as_str()) {
            for cycle in cycles {
                failures.push(format!("{name}: {cycle}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "module import cycles (each file names an item of the next, at that line):\n  {}",
        failures.join("\n  ")
    );
}

/// The scan itself, on a made-up crate: an import cycle through a re-export is found, a
/// parent's `mod` and a test module's `use super::*` are not edges.
#[test]
fn the_import_scan_finds_a_cycle_through_a_re_export() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("b")).unwrap();
    let write = |path: &str, text: &str| std::fs::write(src.join(path), text).unwrap();
    write(
        "lib.rs",
        "mod a;\nmod b;\npub use b::Thing;\n// use crate::a::x; in a comment\n",
    );
    write(
        "a.rs",
        "use crate::Thing;\nconst S: &str = \"crate::b::c\";\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    write("b/mod.rs", "mod c;\npub use c::Thing;\n");
    write(
        "b/c.rs",
        "pub struct Thing;\nfn f() -> char {\n    '{'\n}\nfn g() { crate::a::h() }\n",
    );
    let tree = ModuleTree::read(dir.path(), &src.join("lib.rs"));
    assert_eq!(
        tree.cycles(),
        ["src/a.rs:1 -> src/b/c.rs:5 -> src/a.rs"],
        "files: {:?}",
        tree.files
    );
    // Without the inline call, no cycle.
    write("b/c.rs", "pub struct Thing;\n");
    let tree = ModuleTree::read(dir.path(), &src.join("lib.rs"));
    assert_eq!(tree.cycles(), Vec::<String>::new());
}
