//! What the dynamic loader reads from one ELF file, taken from the file's bytes.
//!
//! The reader follows the loader's view: program headers (`PT_INTERP`, `PT_DYNAMIC`,
//! `PT_LOAD`), not section headers, so stripped or section-less files read the same way
//! they load. Section headers are only consulted for an optional detail (which symbols use a
//! required version), and a broken section table never fails the parse.

use std::fmt;

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, SectionHeader as _, Sym as _};
use object::{Endianness, U16};

use crate::arch::Arch;

/// Why bytes could not be read as an ELF file. Every variant says which part is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The bytes do not start with the ELF magic `\x7fELF`.
    #[error("not an ELF file (no \\x7fELF magic at the start)")]
    NotElf,
    /// The file is shorter than its headers say, or a header field is out of range.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
}

impl ElfError {
    fn malformed(what: impl Into<String>) -> Self {
        ElfError::Malformed(what.into())
    }
}

/// ELF class: 32- or 64-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElfClass {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

/// The ELF file type (`e_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `ET_EXEC`: a position-dependent executable.
    Executable,
    /// `ET_DYN`: a shared library or a position-independent executable.
    SharedObject,
    /// `ET_REL`: an object file; nothing the loader can run.
    Relocatable,
    /// `ET_CORE`: a core dump.
    Core,
    /// Any other value.
    Other(u16),
}

/// A glibc release such as 2.34 or 2.2.5, ordered the way glibc versions compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    /// First component (2 for every glibc in use).
    pub major: u16,
    /// Second component.
    pub minor: u16,
    /// Third component, 0 when absent (`GLIBC_2.2.5` has 5).
    pub patch: u16,
}

impl GlibcVersion {
    /// The glibc of Amazon Linux 2023 (`provided.al2023`).
    pub const AL2023: GlibcVersion = GlibcVersion::new(2, 34);

    /// A version `major.minor` (patch 0).
    pub const fn new(major: u16, minor: u16) -> Self {
        GlibcVersion {
            major,
            minor,
            patch: 0,
        }
    }

    /// The glibc version a symbol-version name stands for: `GLIBC_2.38` is 2.38,
    /// `GLIBC_2.2.5` is 2.2.5, and `GLIBC_ABI_DT_RELR` (packed relative relocations) is
    /// 2.36, the release that introduced it. Anything else (`GLIBC_PRIVATE`, `GCC_3.0`,
    /// `OPENSSL_3.0.0`) is `None`.
    pub fn from_version_name(name: &str) -> Option<Self> {
        if name == "GLIBC_ABI_DT_RELR" {
            return Some(GlibcVersion::new(2, 36));
        }
        let rest = name.strip_prefix("GLIBC_")?;
        let mut parts = rest.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(GlibcVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

/// One symbol version a file needs from a library (`.gnu.version_r` / `DT_VERNEED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeed {
    /// The library the version is needed from (`vn_file`), e.g. `libc.so.6`.
    pub file: String,
    /// The version name (`vna_name`), e.g. `GLIBC_2.34`.
    pub version: String,
    /// Dynamic symbols bound to this version, when the section headers allow telling
    /// (empty for files without section headers). At most [`MAX_SYMBOLS_PER_VERSION`].
    pub symbols: Vec<String>,
}

/// How many symbol names are kept per needed version: enough to name the culprit.
pub const MAX_SYMBOLS_PER_VERSION: usize = 8;

/// Everything the dynamic loader needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// 32- or 64-bit.
    pub class: ElfClass,
    /// True for little-endian files.
    pub little_endian: bool,
    /// Raw `e_machine` (62 = x86-64, 183 = AArch64).
    pub machine: u16,
    /// `e_type`.
    pub kind: FileKind,
    /// `PT_INTERP`: the program interpreter (dynamic loader) an executable asks for.
    pub interpreter: Option<String>,
    /// True when the file has a `PT_DYNAMIC` segment (is dynamically linked).
    pub is_dynamic: bool,
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_NEEDED` entries, in file order.
    pub needed: Vec<String>,
    /// `DT_RPATH`, split on `:` (unexpanded: `$ORIGIN` stays as written).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH`, split on `:` (unexpanded).
    pub runpath: Vec<String>,
    /// `DT_VERNEED` entries: symbol versions needed from each library.
    pub version_needs: Vec<VersionNeed>,
}

impl ElfInfo {
    /// Reads an ELF file from its bytes. Never panics: bad or truncated input is an
    /// [`ElfError`] saying what is wrong.
    pub fn parse(data: &[u8]) -> Result<ElfInfo, ElfError> {
        parse_layout(data).map(|(info, _layout)| info)
    }

    /// The Lambda architecture this file is for, if it is one of the two.
    pub fn arch(&self) -> Option<Arch> {
        Arch::from_elf(self.machine, self.class, self.little_endian)
    }

    /// A readable name for the file's machine, e.g. `x86_64`, `aarch64`, `i386 (32-bit)`.
    pub fn machine_name(&self) -> String {
        crate::arch::machine_name(self.machine, self.class, self.little_endian)
    }

    /// True for executables and shared objects, the files the loader maps.
    pub fn is_loadable(&self) -> bool {
        matches!(self.kind, FileKind::Executable | FileKind::SharedObject)
    }

    /// The newest glibc version this file needs, with the version entry it comes from
    /// (which library and which `GLIBC_x.y` name). `None` when it needs no versioned glibc
    /// symbol.
    pub fn newest_glibc(&self) -> Option<(GlibcVersion, &VersionNeed)> {
        self.version_needs
            .iter()
            .filter_map(|need| GlibcVersion::from_version_name(&need.version).map(|v| (v, need)))
            .max_by(|a, b| a.0.cmp(&b.0))
    }
}

/// A dynamic string reference kept while parsing, for the in-place rpath editor too.
pub(crate) struct DynamicLayout {
    /// File offset and count of the `PT_DYNAMIC` entries.
    pub dynamic_offset: usize,
    pub entry_size: usize,
    pub entries: Vec<(i64, u64)>,
    /// File offset and size of the dynamic string table (`DT_STRTAB`, `DT_STRSZ`).
    pub strtab_offset: usize,
    pub strtab_size: usize,
    /// String-table offsets referenced from outside the dynamic entries (verneed names,
    /// dynamic symbol names), so an edit never clobbers a shared tail.
    pub other_string_refs: Vec<u64>,
    /// False when the file has dynamic symbols whose names could not be listed (no
    /// section headers): then nobody can tell which strings they share.
    pub symbol_names_known: bool,
    /// File ranges an edit of the string table must not touch: the ELF header, the
    /// program header table and the dynamic entries, in that order (a malformed file may
    /// overlap them).
    pub protected: Vec<std::ops::Range<usize>>,
}

/// Dispatches on the ELF class and returns the info plus the dynamic layout.
pub(crate) fn parse_layout(data: &[u8]) -> Result<(ElfInfo, Option<DynamicLayout>), ElfError> {
    if !data.starts_with(b"\x7fELF") {
        return Err(ElfError::NotElf);
    }
    if data.len() < 16 {
        return Err(ElfError::malformed(format!(
            "truncated: {} bytes, shorter than the 16-byte e_ident",
            data.len()
        )));
    }
    // e_ident[EI_CLASS]
    match elf::FileClass(data[4]) {
        elf::ELFCLASS32 => parse_with_layout::<elf::FileHeader32<Endianness>>(data),
        elf::ELFCLASS64 => parse_with_layout::<elf::FileHeader64<Endianness>>(data),
        other => Err(ElfError::malformed(format!(
            "unknown ELF class {} in e_ident (expected 1 for 32-bit or 2 for 64-bit)",
            other.0
        ))),
    }
}

fn parse_with_layout<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
) -> Result<(ElfInfo, Option<DynamicLayout>), ElfError> {
    let header = Elf::parse(data).map_err(|e| ElfError::malformed(format!("ELF header: {e}")))?;
    let endian = header
        .endian()
        .map_err(|e| ElfError::malformed(format!("ELF header: {e}")))?;
    let class = if header.is_class_64() {
        ElfClass::Elf64
    } else {
        ElfClass::Elf32
    };
    let kind = match header.e_type(endian) {
        elf::ET_EXEC => FileKind::Executable,
        elf::ET_DYN => FileKind::SharedObject,
        elf::ET_REL => FileKind::Relocatable,
        elf::ET_CORE => FileKind::Core,
        other => FileKind::Other(other.0),
    };
    let segments = header
        .program_headers(endian, data)
        .map_err(|e| ElfError::malformed(format!("program header table: {e}")))?;

    if segments.is_empty() && matches!(kind, FileKind::Executable | FileKind::SharedObject) {
        return Err(ElfError::malformed(
            "an executable or shared object without program headers (e_phnum is 0, or \
             PN_XNUM with no count in section 0): the loader cannot map it",
        ));
    }

    let mut info = ElfInfo {
        class,
        little_endian: header.is_little_endian(),
        machine: header.e_machine(endian).0,
        kind,
        interpreter: None,
        is_dynamic: false,
        soname: None,
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: Vec::new(),
        version_needs: Vec::new(),
    };

    let mut dynamic_segment = None;
    for segment in segments {
        if let Some(interp) = segment
            .interpreter(endian, data)
            .map_err(|e| ElfError::malformed(format!("PT_INTERP segment: {e}")))?
        {
            info.interpreter = Some(utf8(interp, "PT_INTERP interpreter path")?);
        }
        if segment.p_type(endian) == elf::PT_DYNAMIC && dynamic_segment.is_none() {
            dynamic_segment = Some(segment);
        }
    }
    let Some(dynamic_segment) = dynamic_segment else {
        return Ok((info, None));
    };
    info.is_dynamic = true;
    let dynamic = dynamic_segment
        .dynamic(endian, data)
        .map_err(|e| ElfError::malformed(format!("PT_DYNAMIC segment: {e}")))?
        .unwrap_or(&[]);

    // Entries up to the first DT_NULL, as the loader reads them.
    let mut entries = Vec::new();
    for d in dynamic {
        let tag = d.d_tag(endian).0;
        if tag == elf::DT_NULL.0 {
            break;
        }
        entries.push((tag, d.d_val(endian).into()));
    }
    let value_of = |tag: elf::DynamicTag| {
        entries
            .iter()
            .find(|(t, _)| *t == tag.0)
            .map(|(_, value)| *value)
    };

    let string_tags = [
        elf::DT_NEEDED,
        elf::DT_SONAME,
        elf::DT_RPATH,
        elf::DT_RUNPATH,
    ];
    let has_strings = entries
        .iter()
        .any(|(t, _)| string_tags.iter().any(|s| s.0 == *t))
        || value_of(elf::DT_VERNEED).is_some();
    let (strtab_offset, strtab) = if has_strings {
        let address = value_of(elf::DT_STRTAB).ok_or_else(|| {
            ElfError::malformed("dynamic section has strings but no DT_STRTAB entry")
        })?;
        let size = value_of(elf::DT_STRSZ).ok_or_else(|| {
            ElfError::malformed("dynamic section has strings but no DT_STRSZ entry")
        })?;
        let offset =
            address_to_offset::<Elf>(segments, endian, address, size).ok_or_else(|| {
                ElfError::malformed(format!(
                    "DT_STRTAB {address:#x} (size {size}) is not inside a PT_LOAD segment"
                ))
            })?;
        let strtab = usize::try_from(size)
            .ok()
            .and_then(|size| data.get(offset..offset.checked_add(size)?))
            .ok_or_else(|| {
                ElfError::malformed(format!(
                    "DT_STRTAB at file offset {offset} (size {size}) runs past the end of the file"
                ))
            })?;
        (offset, strtab)
    } else {
        (0, &[][..])
    };
    let string_at = |offset: u64, what: &str| -> Result<String, ElfError> {
        let bytes = usize::try_from(offset)
            .ok()
            .and_then(|o| strtab.get(o..))
            .ok_or_else(|| {
                ElfError::malformed(format!(
                    "{what}: string offset {offset} is outside the dynamic string table ({} bytes)",
                    strtab.len()
                ))
            })?;
        let end = bytes.iter().position(|&b| b == 0).ok_or_else(|| {
            ElfError::malformed(format!(
                "{what}: string at offset {offset} is not NUL-terminated"
            ))
        })?;
        utf8(&bytes[..end], what)
    };

    for &(tag, value) in &entries {
        if tag == elf::DT_NEEDED.0 {
            info.needed.push(string_at(value, "DT_NEEDED")?);
        } else if tag == elf::DT_SONAME.0 {
            info.soname = Some(string_at(value, "DT_SONAME")?);
        } else if tag == elf::DT_RPATH.0 {
            info.rpath = split_path_list(&string_at(value, "DT_RPATH")?);
        } else if tag == elf::DT_RUNPATH.0 {
            info.runpath = split_path_list(&string_at(value, "DT_RUNPATH")?);
        }
    }

    let mut other_string_refs = Vec::new();
    let mut version_indices = Vec::new();
    if let Some(address) = value_of(elf::DT_VERNEED) {
        let count = value_of(elf::DT_VERNEEDNUM).unwrap_or(0);
        let offset = address_to_offset::<Elf>(segments, endian, address, 1).ok_or_else(|| {
            ElfError::malformed(format!(
                "DT_VERNEED {address:#x} is not inside a PT_LOAD segment"
            ))
        })?;
        let verneed = data.get(offset..).ok_or_else(|| {
            ElfError::malformed(format!(
                "DT_VERNEED at file offset {offset} is past the end of the file"
            ))
        })?;
        let raw = read_verneed(endian, verneed, count)?;
        let mut indices = Vec::with_capacity(raw.len());
        for (file, name, index) in raw {
            other_string_refs.push(u64::from(file));
            other_string_refs.push(u64::from(name));
            info.version_needs.push(VersionNeed {
                file: string_at(u64::from(file), "DT_VERNEED vn_file")?,
                version: string_at(u64::from(name), "DT_VERNEED vna_name")?,
                symbols: Vec::new(),
            });
            indices.push(index);
        }
        version_indices = indices;
    }
    if let Some(address) = value_of(elf::DT_VERDEF) {
        let count = value_of(elf::DT_VERDEFNUM).unwrap_or(0);
        let verdef = address_to_offset::<Elf>(segments, endian, address, 1)
            .and_then(|offset| data.get(offset..))
            .ok_or_else(|| {
                ElfError::malformed(format!(
                    "DT_VERDEF {address:#x} is not inside the file's PT_LOAD segments"
                ))
            })?;
        other_string_refs.extend(read_verdef_names(endian, verdef, count)?);
    }
    let symbol_names_known = attach_symbols::<Elf>(
        header,
        endian,
        data,
        &version_indices,
        &mut info,
        &mut other_string_refs,
    ) || value_of(elf::DT_SYMTAB).is_none();

    let dynamic_offset = dynamic_segment.p_offset(endian).into() as usize;
    let entry_size = if header.is_class_64() { 16 } else { 8 };
    let phoff = header.e_phoff(endian).into() as usize;
    let protected = vec![
        0..usize::from(header.e_ehsize(endian)).max(if header.is_class_64() { 64 } else { 52 }),
        phoff..phoff.saturating_add(std::mem::size_of_val(segments)),
        // The entries the loader reads, including the DT_NULL that ends them.
        dynamic_offset..dynamic_offset.saturating_add((entries.len() + 1) * entry_size),
    ];
    let layout = DynamicLayout {
        dynamic_offset,
        entry_size,
        protected,
        entries,
        strtab_offset,
        strtab_size: strtab.len(),
        other_string_refs,
        symbol_names_known,
    };
    Ok((info, Some(layout)))
}

/// Maps a virtual address range to a file offset through the `PT_LOAD` segments, checking
/// that the whole range is backed by file bytes.
fn address_to_offset<Elf: FileHeader<Endian = Endianness>>(
    segments: &[Elf::ProgramHeader],
    endian: Endianness,
    address: u64,
    size: u64,
) -> Option<usize> {
    segments
        .iter()
        .filter(|s| s.p_type(endian) == elf::PT_LOAD)
        .find_map(|s| {
            let vaddr: u64 = s.p_vaddr(endian).into();
            let filesz: u64 = s.p_filesz(endian).into();
            let file_offset: u64 = s.p_offset(endian).into();
            let start = address.checked_sub(vaddr)?;
            let end = start.checked_add(size)?;
            if end > filesz {
                return None;
            }
            usize::try_from(file_offset.checked_add(start)?).ok()
        })
}

/// Walks `DT_VERNEED` entries: (vn_file, vna_name, vna_other) triples. Bounded by the data
/// and by the declared count, so a cycle or a huge count cannot loop forever.
fn read_verneed(
    endian: Endianness,
    data: &[u8],
    count: u64,
) -> Result<Vec<(u32, u32, u16)>, ElfError> {
    let bytes = object::Bytes(data);
    let mut found = Vec::new();
    let mut offset = 0usize;
    for i in 0..count.min(u64::from(u16::MAX)) {
        let need: &elf::Verneed<Endianness> = bytes.read_at(offset).map_err(|()| {
            ElfError::malformed(format!(
                "DT_VERNEED entry {i} runs past the end of the file"
            ))
        })?;
        let file = need.vn_file.get(endian);
        let mut aux_offset = offset
            .checked_add(need.vn_aux.get(endian) as usize)
            .ok_or_else(|| ElfError::malformed("DT_VERNEED vn_aux overflows"))?;
        for j in 0..need.vn_cnt.get(endian) {
            let aux: &elf::Vernaux<Endianness> = bytes.read_at(aux_offset).map_err(|()| {
                ElfError::malformed(format!(
                    "DT_VERNEED entry {i}, auxiliary entry {j} runs past the end of the file"
                ))
            })?;
            found.push((file, aux.vna_name.get(endian), aux.vna_other.get(endian).0));
            let next = aux.vna_next.get(endian) as usize;
            if next == 0 {
                break;
            }
            aux_offset = aux_offset
                .checked_add(next)
                .ok_or_else(|| ElfError::malformed("DT_VERNEED vna_next overflows"))?;
        }
        let next = need.vn_next.get(endian) as usize;
        if next == 0 {
            break;
        }
        offset = offset
            .checked_add(next)
            .ok_or_else(|| ElfError::malformed("DT_VERNEED vn_next overflows"))?;
    }
    Ok(found)
}

/// Names the dynamic symbols bound to each needed version, from `.dynsym` and
/// `.gnu.version`, and collects every dynamic symbol's name offset. Best effort: the loader
/// never reads section headers, so a file whose section table is missing or broken still
/// parses, just without symbol names; then this returns false.
fn attach_symbols<Elf: FileHeader<Endian = Endianness>>(
    header: &Elf,
    endian: Endianness,
    data: &[u8],
    indices: &[u16],
    info: &mut ElfInfo,
    string_refs: &mut Vec<u64>,
) -> bool {
    let Ok(sections) = header.sections(endian, data) else {
        return false;
    };
    let Ok(symbols) = sections.symbols(endian, data, elf::SHT_DYNSYM) else {
        return false;
    };
    if symbols.is_empty() {
        return false;
    }
    let versym = sections
        .iter()
        .find(|s| s.sh_type(endian) == elf::SHT_GNU_VERSYM)
        .and_then(|s| s.data(endian, data).ok())
        .and_then(|v| {
            object::pod::slice_from_all_bytes::<U16<Endianness>>(&v[..v.len() - v.len() % 2]).ok()
        })
        .unwrap_or(&[]);
    for (symbol_index, symbol) in symbols.symbols().iter().enumerate() {
        string_refs.push(u64::from(symbol.st_name(endian)));
        let Some(version_index) = versym.get(symbol_index) else {
            continue;
        };
        // Bit 15 is "hidden"; the rest is the version index.
        let version_index = version_index.get(endian) & 0x7fff;
        if version_index < 2 {
            continue;
        }
        let Some(position) = indices.iter().position(|&i| i == version_index) else {
            continue;
        };
        let need = &mut info.version_needs[position];
        if need.symbols.len() >= MAX_SYMBOLS_PER_VERSION {
            continue;
        }
        if let Ok(name) = symbols.symbol_name(endian, symbol)
            && let Ok(name) = std::str::from_utf8(name)
            && !name.is_empty()
        {
            need.symbols.push(name.to_owned());
        }
    }
    true
}

/// The string offsets of `DT_VERDEF` names (version definitions of a library). Bounded
/// like [`read_verneed`].
fn read_verdef_names(endian: Endianness, data: &[u8], count: u64) -> Result<Vec<u64>, ElfError> {
    let bytes = object::Bytes(data);
    let mut names = Vec::new();
    let mut offset = 0usize;
    for i in 0..count.min(u64::from(u16::MAX)) {
        let def: &elf::Verdef<Endianness> = bytes.read_at(offset).map_err(|()| {
            ElfError::malformed(format!("DT_VERDEF entry {i} runs past the end of the file"))
        })?;
        let mut aux_offset = offset
            .checked_add(def.vd_aux.get(endian) as usize)
            .ok_or_else(|| ElfError::malformed("DT_VERDEF vd_aux overflows"))?;
        for j in 0..def.vd_cnt.get(endian) {
            let aux: &elf::Verdaux<Endianness> = bytes.read_at(aux_offset).map_err(|()| {
                ElfError::malformed(format!(
                    "DT_VERDEF entry {i}, auxiliary entry {j} runs past the end of the file"
                ))
            })?;
            names.push(u64::from(aux.vda_name.get(endian)));
            let next = aux.vda_next.get(endian) as usize;
            if next == 0 {
                break;
            }
            aux_offset = aux_offset
                .checked_add(next)
                .ok_or_else(|| ElfError::malformed("DT_VERDEF vda_next overflows"))?;
        }
        let next = def.vd_next.get(endian) as usize;
        if next == 0 {
            break;
        }
        offset = offset
            .checked_add(next)
            .ok_or_else(|| ElfError::malformed("DT_VERDEF vd_next overflows"))?;
    }
    Ok(names)
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, ElfError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ElfError::malformed(format!("{what} is not valid UTF-8")))
}

/// Splits an rpath/runpath string on `:`, dropping empty entries.
fn split_path_list(value: &str) -> Vec<String> {
    value
        .split(':')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn glibc_version_names() {
        let v = |name| GlibcVersion::from_version_name(name);
        assert_eq!(v("GLIBC_2.34"), Some(GlibcVersion::new(2, 34)));
        assert_eq!(
            v("GLIBC_2.2.5"),
            Some(GlibcVersion {
                major: 2,
                minor: 2,
                patch: 5
            })
        );
        assert_eq!(v("GLIBC_ABI_DT_RELR"), Some(GlibcVersion::new(2, 36)));
        for other in [
            "GLIBC_PRIVATE",
            "GCC_3.0",
            "OPENSSL_3.0.0",
            "GLIBC_2",
            "GLIBC_2.x",
            "GLIBC_2.1.2.3",
        ] {
            assert_eq!(v(other), None, "{other}");
        }
        // 2.2.5 is older than 2.17, which is older than 2.34.
        assert!(v("GLIBC_2.2.5").unwrap() < v("GLIBC_2.17").unwrap());
        assert!(v("GLIBC_2.17").unwrap() < GlibcVersion::AL2023);
        assert_eq!(v("GLIBC_2.2.5").unwrap().to_string(), "2.2.5");
        assert_eq!(GlibcVersion::AL2023.to_string(), "2.34");
    }
}
