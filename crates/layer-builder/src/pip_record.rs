//! Normalising what `pip install --target` wrote, so the layer holds the wheels' files and
//! nothing about the build machine or the install: its scripts (`bin/`, with this
//! machine's Python in their `#!` line) and anything else outside the import root, pip's
//! install records (`INSTALLER`, `REQUESTED`, `direct_url.json`) and bytecode are removed,
//! and each `RECORD` is rewritten without their rows, sorted. Every row left with a hash is
//! checked against its file, so the RECORDs shipped are true.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Files pip writes into a `.dist-info` about the install rather than the package: the
/// tool's name, whether it was asked for, and (for a local or URL requirement) a `file://`
/// path of the build machine. None matters on Lambda; the last would differ per machine.
const INSTALL_RECORDS: [&str; 3] = ["INSTALLER", "REQUESTED", "direct_url.json"];

/// Bytecode is compiled for the build machine's Python; Lambda's compiles its own (and
/// `/opt` is read-only, so it is simply not cached there).
fn is_bytecode(path: &str) -> bool {
    path.ends_with(".pyc") || path.ends_with(".pyo") || path.split('/').any(|c| c == "__pycache__")
}

/// Normalises the install in `site` (see the module's doc); returns its distributions,
/// `name version`, sorted. `fail` makes the error for a RECORD that does not hold.
pub(crate) fn normalise(site: &Path, fail: &dyn Fn(String) -> Error) -> Result<Vec<String>> {
    let mut infos = Vec::new();
    for entry in fs::read_dir(site).map_err(|e| Error::io("reading", site, e))? {
        let entry = entry.map_err(|e| Error::io("reading", site, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".dist-info") && entry.path().is_dir() {
            infos.push(name);
        }
    }
    infos.sort();
    let mut removed: Vec<PathBuf> = Vec::new();
    for info in &infos {
        removed.extend(rewrite_record(site, info, fail)?);
    }
    remove_bytecode(site)?;
    // Folders left empty by removed scripts (`bin/`) or data files go too.
    for path in &removed {
        let mut folder = path.parent();
        while let Some(dir) = folder.filter(|d| *d != site && d.starts_with(site)) {
            if fs::remove_dir(dir).is_err() {
                break;
            }
            folder = dir.parent();
        }
    }
    let mut distributions: Vec<String> = infos
        .iter()
        .map(|info| {
            let stem = info.trim_end_matches(".dist-info");
            match stem.rsplit_once('-') {
                Some((name, version)) => format!("{name} {version}"),
                None => stem.to_owned(),
            }
        })
        .collect();
    distributions.sort_by_key(|d| d.to_ascii_lowercase());
    Ok(distributions)
}

/// Rewrites `<info>/RECORD` without the rows of files it removes, sorted, after checking
/// every hash left; returns the removed files' paths.
fn rewrite_record(site: &Path, info: &str, fail: &dyn Fn(String) -> Error) -> Result<Vec<PathBuf>> {
    let record_name = format!("{info}/RECORD");
    let record_path = site.join(&record_name);
    let text =
        fs::read_to_string(&record_path).map_err(|e| Error::io("reading", &record_path, e))?;
    let mut rows = Vec::new();
    let mut removed = Vec::new();
    let install_records: Vec<String> = INSTALL_RECORDS
        .iter()
        .map(|file| format!("{info}/{file}"))
        .collect();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let fields = parse_row(line)
            .ok_or_else(|| fail(format!("{record_name}: unreadable row {line:?}")))?;
        let path = fields.first().cloned().unwrap_or_default();
        // pip records files it put outside the import root (scripts, headers, data)
        // relative to it, as `../../bin/x`; with --target they land at `bin/x`.
        let outside = path.starts_with("../");
        let relative = path.trim_start_matches("../");
        if !is_plain_relative(Path::new(relative)) || relative.is_empty() {
            return Err(fail(format!(
                "{record_name}: row for an unsafe path {path:?}"
            )));
        }
        if outside || install_records.contains(&path) || is_bytecode(&path) {
            let file = site.join(relative);
            match fs::remove_file(&file) {
                Ok(()) => removed.push(file),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("removing", &file, e)),
            }
            continue;
        }
        if path != record_name {
            check_row(site, &record_name, &fields, fail)?;
        }
        rows.push(fields);
    }
    rows.sort();
    let mut out = String::new();
    for row in &rows {
        out.push_str(&write_row(row));
        out.push('\n');
    }
    fs::write(&record_path, out).map_err(|e| Error::io("writing", &record_path, e))?;
    Ok(removed)
}

/// A RECORD row `path,sha256=...,size` holds for the file on disk.
fn check_row(
    site: &Path,
    record: &str,
    fields: &[String],
    fail: &dyn Fn(String) -> Error,
) -> Result<()> {
    let path = &fields[0];
    let file = site.join(path);
    let bytes = match fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(fail(format!(
                "{record} lists `{path}`, which pip did not install"
            )));
        }
        Err(e) => return Err(Error::io("reading", &file, e)),
    };
    let hash = fields.get(1).map(String::as_str).unwrap_or("");
    if hash.is_empty() {
        return Ok(());
    }
    if !hash.starts_with("sha256=") {
        return Err(fail(format!(
            "{record}: `{path}` has a {hash:?} hash; only sha256 is checked"
        )));
    }
    let actual = record_hash(&bytes);
    let size_ok = match fields.get(2).map(String::as_str) {
        None | Some("") => true,
        Some(size) => size.parse::<usize>().ok() == Some(bytes.len()),
    };
    if actual != hash || !size_ok {
        return Err(fail(format!(
            "{record} says `{path}` is {hash} ({} bytes), the installed file is {actual} ({} bytes)",
            fields.get(2).map(String::as_str).unwrap_or("?"),
            bytes.len()
        )));
    }
    Ok(())
}

/// Removes every `__pycache__` folder and `.pyc`/`.pyo` file under `site`.
fn remove_bytecode(site: &Path) -> Result<()> {
    let mut doomed = Vec::new();
    let mut walk = walkdir::WalkDir::new(site).min_depth(1).into_iter();
    while let Some(entry) = walk.next() {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(site).to_owned();
            Error::io(
                "reading",
                path,
                e.into_io_error()
                    .unwrap_or_else(|| io::Error::other("walking failed")),
            )
        })?;
        let name = entry.file_name().to_string_lossy();
        if entry.file_type().is_dir() && name == "__pycache__" {
            doomed.push((entry.path().to_owned(), true));
            walk.skip_current_dir();
        } else if !entry.file_type().is_dir() && is_bytecode(&name) {
            doomed.push((entry.path().to_owned(), false));
        }
    }
    for (path, is_dir) in doomed {
        let removed = if is_dir {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io("removing", &path, e))?;
    }
    Ok(())
}

/// One CSV row as Python's `csv` module writes RECORD: `,`-separated, a field quoted with
/// `"` when it holds `,` or `"` (doubled inside). `None` for an unterminated quote.
fn parse_row(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// The inverse of [`parse_row`], quoting only where needed.
fn write_row(fields: &[String]) -> String {
    fields
        .iter()
        .map(|field| {
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `true` when `path` (relative, from a RECORD or a walk) has only normal components.
pub(crate) fn is_plain_relative(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// The sha256 of `bytes` as a RECORD writes it: `sha256=` and URL-safe base64 unpadded.
pub(crate) fn record_hash(bytes: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        for line in [
            "six.py,sha256=abc,34549",
            "dist-info/RECORD,,",
            "\"a,b.py\",sha256=x,1",
            "\"say \"\"hi\"\".txt\",,",
        ] {
            let fields = parse_row(line).unwrap();
            assert_eq!(write_row(&fields), line);
        }
        assert_eq!(parse_row("\"a,b.py\",x").unwrap(), vec!["a,b.py", "x"]);
        assert_eq!(parse_row("\"open,x"), None);
    }

    #[test]
    fn bytecode_paths() {
        assert!(is_bytecode("pkg/__pycache__/x.cpython-312.pyc"));
        assert!(is_bytecode("x.pyc"));
        assert!(!is_bytecode("pkg/pyc.py"));
    }
}
