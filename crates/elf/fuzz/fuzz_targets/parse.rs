//! Any bytes: parsing never panics, and neither do the check and the in-place rpath edit
//! on whatever parses.
#![no_main]

use std::path::Path;

use lamina_elf::{Arch, ElfInfo, GlibcVersion, check, set_rpath};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = ElfInfo::parse(data) {
        let _ = check(Path::new("fuzz"), &info, Arch::X86_64, GlibcVersion::AL2023);
        let _ = info.newest_glibc();
        let mut copy = data.to_vec();
        if set_rpath(&mut copy, "/opt/lib").is_ok() {
            // An edited file must still parse and carry the new path.
            let edited = ElfInfo::parse(&copy).expect("edited file parses");
            assert_eq!(edited.rpath, ["/opt/lib"]);
            assert!(edited.runpath.is_empty());
        }
    }
});
