//! Builds small, real ELF files for tests with `object`'s ELF writer: the same headers,
//! program headers, `.dynamic`, `.dynstr`, `.dynsym`, `.gnu.version` and
//! `.gnu.version_r` a linker writes, for any `e_machine` (so arm64 fixtures are made on an
//! x86_64 machine). There is no code in them; the loader-relevant metadata is all there.
#![allow(clippy::unwrap_used, dead_code)] // test support: fail loudly

use std::path::Path;

use object::Endianness;
use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, Sym, Vernaux, Verneed, Writer};

/// Symbol versions needed from one library: (library, [(version name, [symbols])]).
pub type VersionsFrom = (String, Vec<(String, Vec<String>)>);

/// What to put in a fixture ELF file.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub machine: u16,
    pub is_64: bool,
    pub kind: u16,
    pub interpreter: Option<String>,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Option<String>,
    pub runpath: Option<String>,
    pub verneed: Vec<VersionsFrom>,
}

pub const X86_64: u16 = 62;
pub const AARCH64: u16 = 183;

impl Fixture {
    /// A PIE executable for `machine` with glibc's interpreter.
    pub fn program(machine: u16) -> Self {
        let interpreter = if machine == AARCH64 {
            "/lib/ld-linux-aarch64.so.1"
        } else {
            "/lib64/ld-linux-x86-64.so.2"
        };
        Fixture {
            machine,
            is_64: true,
            kind: elf::ET_DYN.0,
            interpreter: Some(interpreter.to_owned()),
            soname: None,
            needed: Vec::new(),
            rpath: None,
            runpath: None,
            verneed: Vec::new(),
        }
    }

    /// A shared library for `machine` named `soname`.
    pub fn library(machine: u16, soname: &str) -> Self {
        Fixture {
            interpreter: None,
            soname: Some(soname.to_owned()),
            ..Fixture::program(machine)
        }
    }

    pub fn needs(mut self, names: &[&str]) -> Self {
        self.needed.extend(names.iter().map(|s| (*s).to_owned()));
        self
    }

    pub fn rpath(mut self, value: &str) -> Self {
        self.rpath = Some(value.to_owned());
        self
    }

    pub fn runpath(mut self, value: &str) -> Self {
        self.runpath = Some(value.to_owned());
        self
    }

    /// Needs `version` of `library`, used by `symbols`.
    pub fn needs_version(mut self, library: &str, version: &str, symbols: &[&str]) -> Self {
        let symbols = symbols.iter().map(|s| (*s).to_owned()).collect();
        match self.verneed.iter_mut().find(|(file, _)| file == library) {
            Some((_, versions)) => versions.push((version.to_owned(), symbols)),
            None => self
                .verneed
                .push((library.to_owned(), vec![(version.to_owned(), symbols)])),
        }
        self
    }

    /// The ELF file's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Writer::new(Endianness::Little, self.is_64, &mut out);

        // Phase one: reserve everything, in file order.
        w.reserve_file_header();
        let segment_count = 2 + u32::from(self.interpreter.is_some());
        w.reserve_program_headers(segment_count);
        let interp = self
            .interpreter
            .as_ref()
            .map(|i| [i.as_bytes(), b"\0"].concat());
        let interp_offset = interp.as_ref().map(|i| w.reserve(i.len() as u64, 1));

        let needed: Vec<_> = self
            .needed
            .iter()
            .map(|n| w.add_dynamic_string(n.as_bytes()))
            .collect();
        let soname = self
            .soname
            .as_ref()
            .map(|s| w.add_dynamic_string(s.as_bytes()));
        let rpath = self
            .rpath
            .as_ref()
            .map(|s| w.add_dynamic_string(s.as_bytes()));
        let runpath = self
            .runpath
            .as_ref()
            .map(|s| w.add_dynamic_string(s.as_bytes()));
        // Version index 2.. in order of appearance; symbols point at them.
        let mut verneed_ids = Vec::new();
        let mut symbols = Vec::new();
        let mut next_index = 2u16;
        for (file, versions) in &self.verneed {
            let file_id = w.add_dynamic_string(file.as_bytes());
            let mut aux = Vec::new();
            for (version, syms) in versions {
                let name_id = w.add_dynamic_string(version.as_bytes());
                aux.push((name_id, version.as_bytes(), next_index));
                for sym in syms {
                    symbols.push((w.add_dynamic_string(sym.as_bytes()), next_index));
                }
                next_index += 1;
            }
            verneed_ids.push((file_id, aux));
        }
        let has_versions = !self.verneed.is_empty();

        if has_versions {
            w.reserve_null_dynamic_symbol_index();
            for _ in &symbols {
                w.reserve_dynamic_symbol_index();
            }
        }
        let dynsym_offset = if has_versions { w.reserve_dynsym() } else { 0 };
        let versym_offset = if has_versions {
            w.reserve_gnu_versym()
        } else {
            0
        };
        let vernaux_count: usize = verneed_ids.iter().map(|(_, aux)| aux.len()).sum();
        let verneed_offset = w.reserve_gnu_verneed(verneed_ids.len() as u16, vernaux_count);
        let dynstr_offset = w.reserve_dynstr().unwrap();
        let dynamic_count = needed.len()
            + usize::from(soname.is_some())
            + usize::from(rpath.is_some())
            + usize::from(runpath.is_some())
            + 2 // DT_STRTAB, DT_STRSZ
            + if has_versions { 5 } else { 0 } // SYMTAB, SYMENT, VERSYM, VERNEED, VERNEEDNUM
            + 1; // DT_NULL
        let dynamic_offset = w.reserve_dynamic(dynamic_count);

        w.reserve_null_section_index();
        if has_versions {
            w.reserve_dynsym_section_index();
        }
        w.reserve_dynstr_section_index();
        if has_versions {
            w.reserve_gnu_versym_section_index();
            w.reserve_gnu_verneed_section_index();
        }
        w.reserve_dynamic_section_index();
        w.reserve_shstrtab_section_index();
        w.reserve_shstrtab().unwrap();
        w.reserve_section_headers();
        let file_size = w.reserved_len();

        // Phase two: write in the same order. One PT_LOAD maps the whole file at address 0,
        // so every address equals its file offset.
        w.write_file_header(&FileHeader {
            os_abi: elf::ELFOSABI_NONE,
            abi_version: 0,
            e_type: elf::FileType(self.kind),
            e_machine: elf::Machine(self.machine),
            e_entry: 0,
            e_flags: elf::FileFlags(0),
        })
        .unwrap();
        w.write_align_program_headers();
        let dyn_size = if self.is_64 { 16 } else { 8 };
        if let Some(offset) = interp_offset {
            w.write_program_header(&ProgramHeader {
                p_type: elf::PT_INTERP,
                p_flags: elf::PF_R,
                p_offset: offset,
                p_vaddr: offset,
                p_paddr: offset,
                p_filesz: interp.as_ref().unwrap().len() as u64,
                p_memsz: interp.as_ref().unwrap().len() as u64,
                p_align: 1,
            });
        }
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: elf::PF_R,
            p_offset: 0,
            p_vaddr: 0,
            p_paddr: 0,
            p_filesz: file_size,
            p_memsz: file_size,
            p_align: 0x1000,
        });
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_DYNAMIC,
            p_flags: elf::PF_R,
            p_offset: dynamic_offset,
            p_vaddr: dynamic_offset,
            p_paddr: dynamic_offset,
            p_filesz: dynamic_count as u64 * dyn_size,
            p_memsz: dynamic_count as u64 * dyn_size,
            p_align: 8,
        });
        if let (Some(offset), Some(bytes)) = (interp_offset, &interp) {
            w.pad_until(offset);
            w.write(bytes);
        }

        if has_versions {
            w.write_null_dynamic_symbol();
            for (name, _) in &symbols {
                w.write_dynamic_symbol(&Sym {
                    section: None,
                    st_name: w.dynamic_string_offset(Some(*name)),
                    st_info: elf::SymbolInfo::new(elf::STB_GLOBAL, elf::STT_FUNC),
                    st_other: elf::SymbolOther(0),
                    st_shndx: elf::SHN_UNDEF,
                    st_value: 0,
                    st_size: 0,
                });
            }
            w.write_null_gnu_versym();
            for (_, index) in &symbols {
                w.write_gnu_versym(elf::VersymIndex(*index));
            }
            w.write_align_gnu_verneed();
            for (file_id, aux) in &verneed_ids {
                w.write_gnu_verneed(&Verneed {
                    version: 1,
                    aux_count: aux.len() as u16,
                    file: w.dynamic_string_offset(Some(*file_id)),
                });
                for (name_id, name, index) in aux {
                    w.write_gnu_vernaux(&Vernaux {
                        flags: elf::VersionFlags(0),
                        index: elf::VersionIndex(*index),
                        name: w.dynamic_string_offset(Some(*name_id)),
                        hash: elf::hash(name),
                    });
                }
            }
        }
        w.write_dynstr();
        w.write_align_dynamic();
        for id in &needed {
            w.write_dynamic_string(elf::DT_NEEDED, *id).unwrap();
        }
        if let Some(id) = soname {
            w.write_dynamic_string(elf::DT_SONAME, id).unwrap();
        }
        if let Some(id) = rpath {
            w.write_dynamic_string(elf::DT_RPATH, id).unwrap();
        }
        if let Some(id) = runpath {
            w.write_dynamic_string(elf::DT_RUNPATH, id).unwrap();
        }
        w.write_dynamic(elf::DT_STRTAB, dynstr_offset).unwrap();
        w.write_dynamic(elf::DT_STRSZ, u64::from(w.dynstr_len()))
            .unwrap();
        if has_versions {
            w.write_dynamic(elf::DT_SYMTAB, dynsym_offset).unwrap();
            w.write_dynamic(elf::DT_SYMENT, if self.is_64 { 24 } else { 16 })
                .unwrap();
            w.write_dynamic(elf::DT_VERSYM, versym_offset).unwrap();
            w.write_dynamic(elf::DT_VERNEED, verneed_offset).unwrap();
            w.write_dynamic(elf::DT_VERNEEDNUM, verneed_ids.len() as u64)
                .unwrap();
        }
        w.write_dynamic(elf::DT_NULL, 0).unwrap();

        w.write_shstrtab();
        w.write_null_section_header();
        if has_versions {
            w.write_dynsym_section_header(dynsym_offset, 1);
        }
        w.write_dynstr_section_header(dynstr_offset);
        if has_versions {
            w.write_gnu_versym_section_header(versym_offset);
            w.write_gnu_verneed_section_header(verneed_offset);
        }
        w.write_dynamic_section_header(dynamic_offset);
        w.write_shstrtab_section_header();
        assert_eq!(w.reserved_len(), file_size);
        out
    }

    /// Writes the file at `path`, creating its directory.
    pub fn write(&self, path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, self.build()).unwrap();
    }
}
