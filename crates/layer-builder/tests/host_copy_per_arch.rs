//! A host `[[copy]]` whose `from` names `{arch}` or `{triplet}` takes each architecture's
//! own files (an interpreter's compiled modules, its heap image): an x86_64 zip never gets
//! the arm64 files, nor the other way round.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::fs;
use std::path::Path;

use lamina_layer_builder::{
    Architecture, ArtifactKind, BuiltBinaries, ElfTarget, EntryKind, Spec, Tree,
};

/// The planned files of `tree` with their sha256, sorted.
fn files(tree: &Tree) -> Vec<(String, String)> {
    tree.plan()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| (e.name, e.sha256.unwrap_or_default()))
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

#[test]
fn each_architecture_gets_its_own_host_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (arch, triplet) in [
        ("x86_64", "x86_64-linux-gnu"),
        ("arm64", "aarch64-linux-gnu"),
    ] {
        let lib = root.join(format!("sysroot-{arch}/usr/lib/{triplet}/mods"));
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("Mod.so"), format!("{arch} module")).unwrap();
        fs::write(
            root.join(format!("sysroot-{arch}/core")),
            format!("{arch} core"),
        )
        .unwrap();
    }
    let text = format!(
        "[[copy]]\nfrom = \"{root}/sysroot-{{arch}}/usr/lib/{{triplet}}/mods\"\nto = \"lib/mods\"\nhost = true\n\n\
         [[copy]]\nfrom = \"{root}/sysroot-{{arch}}/core\"\nto = \"lib/core\"\nhost = true\n",
        root = root.display()
    );
    let spec = Spec::parse(&text, Path::new("layer.toml"), ArtifactKind::Layer).unwrap();
    for arch in [Architecture::X86_64, Architecture::Arm64] {
        let mut tree = spec
            .assemble(Path::new("."), Path::new("."), &BuiltBinaries::new())
            .unwrap();
        assert!(
            tree.get("lib/core").is_none(),
            "assembled before the architecture is known"
        );
        spec.add_elf_into(&mut tree, ArtifactKind::Layer, &ElfTarget::al2023(arch))
            .unwrap();
        let name = arch.name();
        assert_eq!(
            files(&tree),
            vec![
                (
                    "lib/core".to_owned(),
                    sha256(format!("{name} core").as_bytes())
                ),
                (
                    "lib/mods/Mod.so".to_owned(),
                    sha256(format!("{name} module").as_bytes())
                ),
            ],
            "{name}"
        );
    }
}

#[test]
fn a_missing_architecture_source_names_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("sysroot-x86_64")).unwrap();
    fs::write(root.join("sysroot-x86_64/core"), "x86_64 core").unwrap();
    let text = format!(
        "[[copy]]\nfrom = \"{}/sysroot-{{arch}}/core\"\nto = \"lib/core\"\nhost = true\n",
        root.display()
    );
    let spec = Spec::parse(&text, Path::new("layer.toml"), ArtifactKind::Layer).unwrap();
    let mut tree = Tree::new();
    let error = spec
        .add_elf_into(
            &mut tree,
            ArtifactKind::Layer,
            &ElfTarget::al2023(Architecture::Arm64),
        )
        .unwrap_err()
        .to_string();
    let wanted = root.join("sysroot-arm64/core");
    assert!(
        error.contains(&wanted.display().to_string()),
        "{error} should name {}",
        wanted.display()
    );
}
