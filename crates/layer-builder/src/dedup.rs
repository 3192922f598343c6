//! Leaving out of a function's zip what its layers already carry, at the place Lambda
//! would find it anyway.
//!
//! A file of the function is left out only when a layer has the *same bytes* at the path
//! Lambda falls back to once the function's copy is gone:
//!
//! - `bootstrap` ↔ `/opt/bootstrap` (Lambda runs `/var/task/bootstrap`, else `/opt/bootstrap`);
//! - a shared library `lib/<name>` or `<name>` (both on `LD_LIBRARY_PATH` before
//!   `/opt/lib`) ↔ `/opt/lib/<name>`.
//!
//! Other files (`bin/x` is not on `PATH` for the task root, data files are opened by
//! path) are always kept. When several layers have the path, the last one wins, as when
//! Lambda unpacks them in order. A file a symlink of the function points at is kept.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;
use crate::manifest::Manifest;
use crate::tree::{EntryKind, Tree};

/// One file left out of the function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftOut {
    /// Its path in the function's zip.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// The layer that has it.
    pub layer: String,
    /// Where Lambda finds it instead, e.g. `/opt/lib/libxslt.so.1`.
    pub found_at: String,
}

/// What [`leave_out_layer_files`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DedupReport {
    /// The files left out, in path order.
    pub left_out: Vec<LeftOut>,
    /// The function's unzipped size before.
    pub size_before: u64,
}

impl DedupReport {
    /// Bytes saved.
    pub fn saved(&self) -> u64 {
        self.left_out.iter().map(|l| l.size).sum()
    }

    /// A few lines: what was left out, where Lambda finds it, and the sizes.
    pub fn render(&self, function: &str) -> String {
        let saved = self.saved();
        let mut out = format!(
            "{function}: left out {} file(s), {saved} bytes, that its layers carry \
             (unzipped {} -> {} bytes)\n",
            self.left_out.len(),
            self.size_before,
            self.size_before - saved
        );
        let width = self
            .left_out
            .iter()
            .map(|l| l.path.len())
            .max()
            .unwrap_or(0);
        for file in &self.left_out {
            out.push_str(&format!(
                "  {:width$}  {:>10} bytes  = {} (layer {})\n",
                file.path, file.size, file.found_at, file.layer
            ));
        }
        out
    }
}

/// Removes from `tree` (a function's task root) every file identical to the one Lambda
/// would use instead from `layers` (name and manifest, in the function's layer order).
pub fn leave_out_layer_files(
    tree: &mut Tree,
    layers: &[(String, Manifest)],
) -> Result<DedupReport> {
    // The merged /opt: later layers replace earlier ones' files.
    let mut opt: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for (name, manifest) in layers {
        for file in &manifest.files {
            match (&file.kind, &file.sha256) {
                (EntryKind::File, Some(sha)) => {
                    opt.insert(file.path.as_str(), (name.as_str(), sha.as_str()));
                }
                _ => {
                    opt.remove(file.path.as_str());
                }
            }
        }
    }
    let entries = tree.plan()?;
    let size_before = entries.iter().map(|e| e.size).sum();
    let names: BTreeSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let link_targets: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| e.target.as_deref().map(|t| resolve_link(&e.name, t)))
        .collect();
    let mut left_out = Vec::new();
    for entry in &entries {
        if entry.kind != EntryKind::File || link_targets.contains(&entry.name) {
            continue;
        }
        let Some(opt_path) = lambda_fallback(&entry.name, &names) else {
            continue;
        };
        let Some((layer, sha)) = opt.get(opt_path.as_str()) else {
            continue;
        };
        if entry.sha256.as_deref() != Some(*sha) {
            continue;
        }
        left_out.push(LeftOut {
            path: entry.name.clone(),
            size: entry.size,
            layer: (*layer).to_owned(),
            found_at: format!("/opt/{opt_path}"),
        });
    }
    for file in &left_out {
        tree.remove_file(&file.path);
    }
    Ok(DedupReport {
        left_out,
        size_before,
    })
}

/// The `/opt` path (without `/opt/`) Lambda uses when the function has no `path`, if any.
fn lambda_fallback(path: &str, function_files: &BTreeSet<&str>) -> Option<String> {
    if path == "bootstrap" {
        return Some("bootstrap".into());
    }
    let (folder, name) = match path.rsplit_once('/') {
        Some((folder, name)) => (folder, name),
        None => ("", path),
    };
    if !is_library_name(name) {
        return None;
    }
    match folder {
        "lib" => Some(format!("lib/{name}")),
        // /var/task comes before /var/task/lib: with the root copy gone, a different
        // lib/<name> of the function would be loaded instead of the layer's.
        "" if !function_files.contains(format!("lib/{name}").as_str()) => {
            Some(format!("lib/{name}"))
        }
        _ => None,
    }
}

/// `libfoo.so`, `libfoo.so.1`, `libfoo.so.1.2.3`.
fn is_library_name(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.")
}

/// A symlink's target as a tree path (`a/b` -> `../c` is `c`).
fn resolve_link(link: &str, target: &str) -> String {
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}
