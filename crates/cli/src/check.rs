//! `cargo lamina check ZIP`: what in a layer or function zip (from any tool) would fail on
//! Lambda.
//!
//! Every ELF file must be for the architecture, need glibc <= 2.34 and find every library
//! it needs in the image, the zip itself or the layers given; no bundled library may be
//! shadowed by the image's copy; the zip must fit Lambda's size limits. Each problem names
//! the file as Lambda sees it (`/opt/lib/...`, `/var/task/...`) and the fix.

use std::path::{Path, PathBuf};

use lamina_layer_builder::{
    Architecture, ArtifactKind, ElfTarget, Limits, Manifest, check_zip, manifest_path,
};

/// What [`check`] found.
pub struct CheckReport {
    /// The report, a few lines.
    pub text: String,
    /// True when nothing would fail.
    pub ok: bool,
}

/// The sum of a zip's entries' unzipped sizes, from its central directory.
pub fn unzipped_size(zip: &Path) -> anyhow::Result<u64> {
    Ok(list_zip(zip)?.unzipped)
}

/// The architecture of a zip's first ELF file, if it has one (a function zip from any
/// tool: its `bootstrap`).
pub fn zip_architecture(zip: &Path) -> anyhow::Result<Option<Architecture>> {
    Ok(list_zip(zip)?.first_elf_arch)
}

/// Checks one zip. `arch` defaults to the manifest's beside the zip, else the first ELF
/// file's, else x86_64; `kind` to the manifest's, else a guess said in the report: a
/// function when checked with layers, or when it has files at its root (a layer's root
/// holds folders such as `bin/` and `lib/`, and at most a `bootstrap`), a layer otherwise.
pub fn check(
    zip: &Path,
    arch: Option<Architecture>,
    kind: Option<ArtifactKind>,
    layers: &[PathBuf],
) -> anyhow::Result<CheckReport> {
    let listing = list_zip(zip)?;
    let manifest = Manifest::read(&manifest_path(zip)).ok();
    let arch = arch
        .or(manifest.as_ref().map(|m| m.architecture))
        .or(listing.first_elf_arch)
        .unwrap_or(Architecture::X86_64);
    let (kind, guessed) = match kind.or(manifest.as_ref().map(|m| m.kind)) {
        Some(kind) => (kind, ""),
        None if !layers.is_empty() || listing.root_files_besides_bootstrap > 0 => (
            ArtifactKind::Function,
            " (guessed from its root files; --kind layer if it is a layer)",
        ),
        None if listing.has_root_bootstrap => (
            ArtifactKind::Function,
            " (guessed from its root bootstrap; --kind layer if it is a layer)",
        ),
        None => (
            ArtifactKind::Layer,
            " (guessed: only folders at its root; --kind function if it is a function)",
        ),
    };
    let kind_name = match kind {
        ArtifactKind::Function => format!("function (/var/task){guessed}"),
        ArtifactKind::Layer => format!("layer (/opt){guessed}"),
    };
    // Sizes first, from the zips' directories: a zip over the limit (a zip bomb among them)
    // is refused without unpacking a byte of it.
    let limits = Limits::LAMBDA;
    let mut sizes = vec![listing.unzipped];
    for layer in layers {
        sizes.push(list_zip(layer)?.unzipped);
    }
    let over = lamina_unzip::check_unzipped_total(sizes, limits.max_unzipped_bytes).err();
    let (mut ok, mut text) = if over.is_some() {
        (
            false,
            format!(
                "{}: {kind_name}, ELF files not checked: too large to unpack\n",
                zip.display()
            ),
        )
    } else {
        let elf = check_zip(zip, kind, layers, &ElfTarget::al2023(arch))?;
        (
            elf.is_ok(),
            format!("{}: {kind_name}, {}", zip.display(), elf.render()),
        )
    };
    if listing.zip_size > limits.max_zip_bytes {
        ok = false;
        text.push_str(&format!(
            "  - the zip is {} bytes, over the {} bytes Lambda accepts as a direct upload. \
             Fix: upload it through S3, or make it smaller.\n",
            listing.zip_size, limits.max_zip_bytes
        ));
    }
    if let Some(over) = over {
        ok = false;
        let mut largest = listing.entries.clone();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let names: Vec<String> = largest
            .iter()
            .take(5)
            .map(|(name, size)| format!("{name} {size} bytes"))
            .collect();
        text.push_str(&format!(
            "  - unzipped, it{} is {} bytes, over Lambda's limit of {} bytes; largest \
             entries: {}. Fix: leave out what the image or a layer already has.\n",
            if layers.is_empty() {
                ""
            } else {
                " and its layers"
            },
            over.size,
            over.limit,
            names.join(", ")
        ));
    }
    Ok(CheckReport { text, ok })
}

/// What the zip's directory says, without unpacking it.
struct Listing {
    zip_size: u64,
    unzipped: u64,
    entries: Vec<(String, u64)>,
    has_root_bootstrap: bool,
    root_files_besides_bootstrap: usize,
    first_elf_arch: Option<Architecture>,
}

fn list_zip(zip: &Path) -> anyhow::Result<Listing> {
    // 20 bytes reach an ELF header's `e_machine`.
    let read = lamina_unzip::Listing::read_with_heads(zip, 20).map_err(|err| match err {
        lamina_unzip::UnzipError::BadZip { reason, .. } => anyhow::anyhow!(
            "{}: not a readable zip (check takes a function or layer zip, e.g. one `cargo lamina build` made): {reason}",
            zip.display()
        ),
        other => anyhow::Error::new(other),
    })?;
    let root_file = |name: &str| !name.contains('/') && name != "bootstrap";
    Ok(Listing {
        zip_size: read.zip_size,
        unzipped: read.unzipped_size(),
        has_root_bootstrap: read.entries.iter().any(|e| e.name == "bootstrap"),
        root_files_besides_bootstrap: read.entries.iter().filter(|e| root_file(&e.name)).count(),
        first_elf_arch: read.entries.iter().find_map(|e| elf_arch_of(&e.head)),
        entries: read.entries.into_iter().map(|e| (e.name, e.size)).collect(),
    })
}

/// The architecture named by an ELF header's `e_machine`, if it is one of Lambda's.
fn elf_arch_of(head: &[u8]) -> Option<Architecture> {
    if !lamina_elf::is_elf(head) || head.len() < 20 {
        return None;
    }
    let machine = if head[5] == 2 {
        u16::from_be_bytes([head[18], head[19]])
    } else {
        u16::from_le_bytes([head[18], head[19]])
    };
    match machine {
        62 => Some(Architecture::X86_64),
        183 => Some(Architecture::Arm64),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use std::fs;
    use std::process::Command;

    use lamina_layer_builder::{Artifact, BuildOptions, FileMode, Mode, Tree, build};

    use super::*;

    fn cc(dir: &Path, source: &str, output: &str, args: &[&str]) -> PathBuf {
        let c = dir.join(format!("{output}.c"));
        fs::write(&c, source).unwrap();
        let status = Command::new("cc")
            .arg("-o")
            .arg(dir.join(output))
            .arg(&c)
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success());
        dir.join(output)
    }

    fn zip_of(tree: &Tree, name: &str, kind: ArtifactKind, path: &Path) {
        let artifact = Artifact {
            name: name.into(),
            kind,
            architecture: Architecture::X86_64,
            compatible_runtimes: vec!["provided.al2023".into()],
        };
        build(tree, &artifact, path, &BuildOptions::default(), Mode::Write).unwrap();
        // A zip "from anywhere": no manifest beside it, so kind and arch are guessed.
        fs::remove_file(manifest_path(path)).unwrap();
    }

    /// A function whose program needs a library its layer carries: alone it cannot find
    /// it (named, with Lambda's paths and the fix); with the layer it passes.
    #[test]
    fn a_function_zip_is_checked_with_its_layers() {
        let dir = tempfile::tempdir().unwrap();
        let lib = cc(
            dir.path(),
            "int answer(void) { return 42; }\n",
            "libanswer.so.1",
            &["-shared", "-fPIC", "-Wl,-soname,libanswer.so.1"],
        );
        let tool = cc(
            dir.path(),
            "int answer(void);\nint main(void) { return answer() == 42 ? 0 : 1; }\n",
            "tool",
            &["-L.", "-l:libanswer.so.1"],
        );
        let mut function = Tree::new();
        function
            .add_bytes(
                "bootstrap",
                b"#!/bin/sh\nexec ./bin/tool\n".to_vec(),
                FileMode::Executable,
            )
            .unwrap();
        function.add_path("bin/tool", &tool).unwrap();
        let function_zip = dir.path().join("function.zip");
        zip_of(&function, "fn", ArtifactKind::Function, &function_zip);
        let mut layer = Tree::new();
        layer.add_path("lib/libanswer.so.1", &lib).unwrap();
        let layer_zip = dir.path().join("layer.zip");
        zip_of(&layer, "answers", ArtifactKind::Layer, &layer_zip);

        let alone = check(&function_zip, None, None, &[]).unwrap();
        assert!(!alone.ok);
        let text = alone
            .text
            .replace(&dir.path().display().to_string(), "$TMP");
        insta::assert_snapshot!("function_without_its_layer", text);

        let with_layer =
            check(&function_zip, None, None, std::slice::from_ref(&layer_zip)).unwrap();
        assert!(with_layer.ok, "{}", with_layer.text);
        assert!(
            with_layer.text.ends_with(
                "function (/var/task) (guessed from its root files; --kind layer if it is a layer), \
                 1 ELF file(s) checked for x86_64 (glibc <= 2.34): ok\n"
            ),
            "{}",
            with_layer.text
        );
        // The layer alone is guessed a layer (no bootstrap) and is fine.
        let layer_alone = check(&layer_zip, None, None, &[]).unwrap();
        assert!(
            layer_alone.ok
                && layer_alone
                    .text
                    .contains("layer (/opt) (guessed: only folders"),
            "{}",
            layer_alone.text
        );
    }

    /// A zip that unzips past Lambda's 262,144,000 bytes is refused, naming its largest
    /// entries (a sparse file, deflated by Info-ZIP: small on disk, large unzipped).
    #[test]
    fn an_oversized_zip_names_its_largest_entries() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(&data).unwrap();
        fs::File::create(data.join("big.bin"))
            .unwrap()
            .set_len(262_144_001)
            .unwrap();
        fs::write(data.join("small.txt"), "hello\n").unwrap();
        let zip = dir.path().join("big.zip");
        let status = Command::new("zip")
            .args(["-q", "-r"])
            .arg(&zip)
            .arg(".")
            .current_dir(&data)
            .status()
            .expect("zip (apt-get install -y zip)");
        assert!(status.success());
        let report = check(&zip, None, Some(ArtifactKind::Layer), &[]).unwrap();
        assert!(!report.ok);
        // Refused from the directory alone: nothing was unpacked to check ELF files.
        assert!(
            report
                .text
                .contains("ELF files not checked: too large to unpack"),
            "{}",
            report.text
        );
        assert!(
            report.text.contains(
                "unzipped, it is 262144007 bytes, over Lambda's limit of 262144000 bytes; \
                 largest entries: big.bin 262144001 bytes, small.txt 6 bytes"
            ),
            "{}",
            report.text
        );
    }

    /// A zip whose local header of `notes.txt` claims a 2-byte extra field the central
    /// directory does not have: its data starts 2 bytes late and runs into the next entry.
    /// `check` called it ok (it looks only at ELF heads) while the emulator's unpacking
    /// refused it; now both refuse it with the same error.
    #[test]
    fn check_and_the_emulators_unpacking_reach_one_verdict_on_lying_headers() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("function.zip");
        let mut writer = zip::ZipWriter::new(fs::File::create(&zip).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("notes.txt", options).unwrap();
        writer
            .write_all("a note that deflates well; ".repeat(100).as_bytes())
            .unwrap();
        writer
            .start_file("bootstrap", options.unix_permissions(0o755))
            .unwrap();
        writer.write_all(b"#!/bin/sh\ncat notes.txt\n").unwrap();
        writer.finish().unwrap();
        let mut bytes = fs::read(&zip).unwrap();
        // The first local header is notes.txt's; its extra field length is at offset 28.
        assert_eq!(&bytes[30..39], b"notes.txt");
        bytes[28..30].copy_from_slice(&2u16.to_le_bytes());
        fs::write(&zip, &bytes).unwrap();

        // What the emulator does with a function zip (layout.rs): list, then unpack all.
        let into = tempfile::tempdir().unwrap();
        let emulator = lamina_unzip::Listing::read(&zip).and_then(|_| {
            lamina_unzip::unpack(
                &zip,
                into.path(),
                lamina_unzip::Keep::All,
                lamina_unzip::MAX_UNZIPPED_BYTES,
            )
        });
        let emulator = emulator.expect_err("the emulator refuses it").to_string();
        let checked = match check(&zip, None, None, &[]) {
            Ok(report) => panic!("check called it {}:\n{}", report.ok, report.text),
            Err(err) => format!("{err:#}"),
        };
        assert_eq!(checked, emulator);
        assert!(
            checked.contains(
                "the data of entry `notes.txt` runs into the local header of entry `bootstrap`"
            ),
            "{checked}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_zip_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not.zip");
        fs::write(&path, "hello").unwrap();
        let error = check(&path, None, None, &[]).err().unwrap();
        assert!(
            format!("{error:#}").contains("not.zip: not a readable zip"),
            "{error:#}"
        );
    }
}
