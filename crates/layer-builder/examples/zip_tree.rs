//! Zips a folder the reproducible way and prints what it took:
//! `cargo run --release -p lamina-layer-builder --example zip_tree -- <folder> <out.zip>`.
//! The same work `cargo xtask bench` measures through [`zip_folder`].

use std::path::PathBuf;
use std::time::Instant;

use lamina_layer_builder::{SourceDateEpoch, zip_folder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(folder), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: zip_tree <folder> <out.zip>".into());
    };
    let (folder, out) = (PathBuf::from(folder), PathBuf::from(out));
    // Always rewrite: a benchmark that hits the "unchanged" shortcut measures nothing.
    for stale in [out.clone(), lamina_layer_builder::manifest_path(&out)] {
        if stale.exists() {
            std::fs::remove_file(&stale)?;
        }
    }
    let started = Instant::now();
    let built = zip_folder(&folder, &out, SourceDateEpoch::DEFAULT)?;
    let elapsed = started.elapsed();
    let files = built
        .manifest
        .files
        .iter()
        .filter(|f| f.kind != lamina_layer_builder::EntryKind::Folder)
        .count();
    println!(
        "{files} files, {} bytes unzipped -> {} bytes zipped in {:.2} s; sha256 {}",
        built.manifest.unzipped_size,
        built.manifest.zip_size,
        elapsed.as_secs_f64(),
        built.manifest.zip_sha256
    );
    Ok(())
}
