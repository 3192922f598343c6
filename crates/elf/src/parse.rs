//! Reading an [`ElfInfo`] from a file's bytes, one step at a time.
//!
//! The reader follows the loader's view: program headers (`PT_INTERP`, `PT_DYNAMIC`,
//! `PT_LOAD`), not section headers, so stripped or section-less files read the same way
//! they load. Section headers are only consulted for an optional detail (which symbols use a
//! required version), and a broken section table never fails the parse.
//!
//! [`parse_layout`] is the walk; each step it takes (the file kind, the dynamic entries, the
//! string table, the strings the entries name, the version tables, the ranges an edit must
//! not touch) is a function of plain values, tested on its own below.
//!
//! The walk reads through `object`'s [`ReadRef`]: from a slice for [`ElfInfo::parse`], or
//! from a file for [`ElfInfo::parse_file`], which then reads only the ranges the walk asks
//! for (headers, `PT_INTERP`, `PT_DYNAMIC`, the string and version tables, `.dynsym`),
//! never the code and data that make a program large.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use object::elf;
use object::read::elf::{Dyn as _, FileHeader, ProgramHeader as _, SectionHeader as _, Sym as _};
use object::read::{ReadCache, ReadCacheOps, ReadRef};
use object::{Endianness, U16};

use crate::arch::ElfClass;
use crate::info::{
    ElfError, ElfFileError, ElfInfo, FileKind, MAX_SYMBOLS_PER_VERSION, VersionNeed,
};

impl ElfInfo {
    /// Reads an ELF file from its bytes. Never panics: bad or truncated input is an
    /// [`ElfError`] saying what is wrong.
    pub fn parse(data: &[u8]) -> Result<ElfInfo, ElfError> {
        parse_layout(data).map(|(info, _layout)| info)
    }

    /// Reads the ELF file at `path` as [`ElfInfo::parse`] reads its bytes (same result, same
    /// errors), reading only the parts the loader reads: memory stays in proportion to
    /// its headers and tables, not to the file (`/usr/bin/true` followed by 240 MB of
    /// zeros is read in 9 KB).
    /// Opening or reading the file failing is [`ElfFileError::Io`].
    pub fn parse_file(path: impl AsRef<Path>) -> Result<ElfInfo, ElfFileError> {
        let file = File::open(path)?;
        parse_source(PositionedReads {
            file,
            position: 0,
            error: None,
        })
    }
}

/// Parses through a [`ReadCache`] over `source` (a file, or in tests a counted buffer).
/// An I/O error met on the way wins over what the parse made of the missing bytes, even
/// when the parse went on without them (the section table is optional).
fn parse_source<S: ReadCacheOps + IoErrors>(source: S) -> Result<ElfInfo, ElfFileError> {
    let cache = ReadCache::new(source);
    let parsed = parse_layout_from(CachedReads(&cache)).map(|(info, _layout)| info);
    match cache.into_inner().take_error() {
        Some(error) => Err(ElfFileError::Io(error)),
        None => Ok(parsed?),
    }
}

/// A source that keeps the first I/O error it met, since [`ReadCacheOps`] can only say
/// `Err(())`.
trait IoErrors {
    /// The first I/O error met, if any.
    fn take_error(&mut self) -> Option<io::Error>;
}

/// A file read with positioned reads (`pread`: no shared cursor), keeping its first
/// I/O error.
struct PositionedReads {
    file: File,
    position: u64,
    error: Option<io::Error>,
}

impl PositionedReads {
    /// Keeps `error` (unless an earlier one is kept) and fails the read.
    fn fail<T>(&mut self, error: io::Error) -> Result<T, ()> {
        self.error.get_or_insert(error);
        Err(())
    }
}

impl IoErrors for PositionedReads {
    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl ReadCacheOps for PositionedReads {
    fn len(&mut self) -> Result<u64, ()> {
        match self.file.metadata() {
            Ok(metadata) => Ok(metadata.len()),
            Err(error) => self.fail(error),
        }
    }

    fn seek(&mut self, position: u64) -> Result<u64, ()> {
        self.position = position;
        Ok(position)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ()> {
        loop {
            match self.file.read_at(buf, self.position) {
                Ok(read) => {
                    self.position += read as u64;
                    return Ok(read);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return self.fail(error),
            }
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ()> {
        match self.file.read_exact_at(buf, self.position) {
            Ok(()) => {
                self.position += buf.len() as u64;
                Ok(())
            }
            // The file ended before the length it had when the parse began: bytes missing,
            // which the parse names like any truncated file.
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => Err(()),
            Err(error) => self.fail(error),
        }
    }
}

/// The [`ReadRef`] over a [`ReadCache`] the walk reads a file through. Reads of bytes are
/// the cache's. Reads of a delimited string (which the walk avoids: it looks names up in
/// tables it read once) are done here with the same result as from a slice: the cache's
/// own gives up on strings over 4 KiB, a slice never does.
struct CachedReads<'a, S: ReadCacheOps>(&'a ReadCache<S>);

impl<S: ReadCacheOps> Clone for CachedReads<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ReadCacheOps> Copy for CachedReads<'_, S> {}

impl<'a, S: ReadCacheOps> ReadRef<'a> for CachedReads<'a, S> {
    fn len(self) -> Result<u64, ()> {
        self.0.len()
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        self.0.read_bytes_at(offset, size)
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        if range.start > range.end || range.end > self.len()? {
            return Err(());
        }
        let whole = range.end - range.start;
        // Doubling reads: a name costs at most twice its length, a table is never read
        // whole for one name.
        let mut size = 256u64;
        loop {
            let size_now = size.min(whole);
            let bytes = self.read_bytes_at(range.start, size_now)?;
            if let Some(end) = bytes.iter().position(|&b| b == delimiter) {
                return Ok(&bytes[..end]);
            }
            if size_now == whole {
                return Err(());
            }
            size = size.saturating_mul(2);
        }
    }
}

/// `size` bytes at `offset`, or `None` when they run past the end of `data` (even for an
/// empty range, which a [`ReadRef`] itself allows anywhere).
fn bytes_at<'d, R: ReadRef<'d>>(data: R, offset: usize, size: u64) -> Option<&'d [u8]> {
    let end = (offset as u64).checked_add(size)?;
    if end > data.len().ok()? {
        return None;
    }
    data.read_bytes_at(offset as u64, size).ok()
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
    pub protected: Vec<Range<usize>>,
}

/// Dispatches on the ELF class and returns the info plus the dynamic layout.
pub(crate) fn parse_layout(data: &[u8]) -> Result<(ElfInfo, Option<DynamicLayout>), ElfError> {
    parse_layout_from(data)
}

/// [`parse_layout`] from any [`ReadRef`]: a slice, or a file read through a cache.
fn parse_layout_from<'d, R: ReadRef<'d>>(
    data: R,
) -> Result<(ElfInfo, Option<DynamicLayout>), ElfError> {
    // A length that cannot be told is a file that cannot be read: the caller reports the
    // I/O error it kept; for a slice it never happens.
    let len = data
        .len()
        .map_err(|()| ElfError::malformed("the file's length cannot be read"))?;
    let ident = data
        .read_bytes_at(0, len.min(16))
        .map_err(|()| ElfError::malformed("the file's first bytes cannot be read"))?;
    if !ident.starts_with(b"\x7fELF") {
        return Err(ElfError::NotElf);
    }
    if len < 16 {
        return Err(ElfError::malformed(format!(
            "truncated: {len} bytes, shorter than the 16-byte e_ident"
        )));
    }
    // e_ident[EI_CLASS]
    match elf::FileClass(ident[4]) {
        elf::ELFCLASS32 => parse_with_layout::<elf::FileHeader32<Endianness>, R>(data),
        elf::ELFCLASS64 => parse_with_layout::<elf::FileHeader64<Endianness>, R>(data),
        other => Err(ElfError::malformed(format!(
            "unknown ELF class {} in e_ident (expected 1 for 32-bit or 2 for 64-bit)",
            other.0
        ))),
    }
}

/// The walk: header, program headers, then (for a dynamic file) its entries, strings and
/// version tables, each read by one of the steps below.
fn parse_with_layout<'d, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'d>>(
    data: R,
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
    let kind = file_kind(header.e_type(endian));
    let segments = header
        .program_headers(endian, data)
        .map_err(|e| ElfError::malformed(format!("program header table: {e}")))?;
    require_program_headers(kind, segments.len())?;

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
    let entries = dynamic_entries(
        dynamic
            .iter()
            .map(|d| (d.d_tag(endian).0, d.d_val(endian).into())),
    );
    let loads = load_segments::<Elf>(segments, endian);

    let strings = StringTable::locate(&entries, &loads, data)?;
    let names = DynamicNames::read(&entries, &strings)?;
    info.needed = names.needed;
    info.soname = names.soname;
    info.rpath = names.rpath;
    info.runpath = names.runpath;

    let VersionTables {
        needs,
        indices: version_indices,
        mut string_refs,
    } = VersionTables::read(&entries, &loads, endian, data, &strings)?;
    info.version_needs = needs;
    let symbol_names_known = attach_symbols::<Elf, R>(
        header,
        endian,
        data,
        &version_indices,
        &mut info,
        &mut string_refs,
    ) || value_of(&entries, elf::DT_SYMTAB).is_none();

    let dynamic_offset = dynamic_segment.p_offset(endian).into() as usize;
    let entry_size = if header.is_class_64() { 16 } else { 8 };
    let protected = protected_ranges(
        class,
        header.e_ehsize(endian),
        header.e_phoff(endian).into() as usize,
        std::mem::size_of_val(segments),
        dynamic_offset,
        entries.len(),
    );
    let layout = DynamicLayout {
        dynamic_offset,
        entry_size,
        protected,
        entries,
        strtab_offset: strings.offset,
        strtab_size: strings.bytes.len(),
        other_string_refs: string_refs,
        symbol_names_known,
    };
    Ok((info, Some(layout)))
}

/// `e_type` as a [`FileKind`].
fn file_kind(e_type: elf::FileType) -> FileKind {
    match e_type {
        elf::ET_EXEC => FileKind::Executable,
        elf::ET_DYN => FileKind::SharedObject,
        elf::ET_REL => FileKind::Relocatable,
        elf::ET_CORE => FileKind::Core,
        other => FileKind::Other(other.0),
    }
}

/// A file the loader maps needs program headers: without them it cannot be mapped, so it
/// is malformed rather than merely static.
fn require_program_headers(kind: FileKind, count: usize) -> Result<(), ElfError> {
    if count == 0 && matches!(kind, FileKind::Executable | FileKind::SharedObject) {
        return Err(ElfError::malformed(
            "an executable or shared object without program headers (e_phnum is 0, or \
             PN_XNUM with no count in section 0): the loader cannot map it",
        ));
    }
    Ok(())
}

/// The `(d_tag, d_val)` entries up to the first `DT_NULL`, as the loader reads them.
fn dynamic_entries(raw: impl IntoIterator<Item = (i64, u64)>) -> Vec<(i64, u64)> {
    raw.into_iter()
        .take_while(|&(tag, _)| tag != elf::DT_NULL.0)
        .collect()
}

/// The value of the first entry with `tag`, as the loader takes it.
fn value_of(entries: &[(i64, u64)], tag: elf::DynamicTag) -> Option<u64> {
    entries
        .iter()
        .find(|(t, _)| *t == tag.0)
        .map(|(_, value)| *value)
}

/// A `PT_LOAD` segment: where its file bytes are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoadSegment {
    vaddr: u64,
    filesz: u64,
    offset: u64,
}

/// The `PT_LOAD` segments, in file order.
fn load_segments<Elf: FileHeader<Endian = Endianness>>(
    segments: &[Elf::ProgramHeader],
    endian: Endianness,
) -> Vec<LoadSegment> {
    segments
        .iter()
        .filter(|s| s.p_type(endian) == elf::PT_LOAD)
        .map(|s| LoadSegment {
            vaddr: s.p_vaddr(endian).into(),
            filesz: s.p_filesz(endian).into(),
            offset: s.p_offset(endian).into(),
        })
        .collect()
}

/// Maps a virtual address range to a file offset through the first `PT_LOAD` segment that
/// backs the whole range with file bytes.
fn address_to_offset(loads: &[LoadSegment], address: u64, size: u64) -> Option<usize> {
    loads.iter().find_map(|s| {
        let start = address.checked_sub(s.vaddr)?;
        let end = start.checked_add(size)?;
        if end > s.filesz {
            return None;
        }
        usize::try_from(s.offset.checked_add(start)?).ok()
    })
}

/// The dynamic string table (`DT_STRTAB`, `DT_STRSZ`): where it is in the file and its
/// bytes. Empty (at offset 0) when no entry names a string.
struct StringTable<'a> {
    offset: usize,
    bytes: &'a [u8],
}

impl<'a> StringTable<'a> {
    /// Finds the table the entries point at, checking it lies inside a `PT_LOAD` segment
    /// and inside the file.
    fn locate<R: ReadRef<'a>>(
        entries: &[(i64, u64)],
        loads: &[LoadSegment],
        data: R,
    ) -> Result<Self, ElfError> {
        let string_tags = [
            elf::DT_NEEDED,
            elf::DT_SONAME,
            elf::DT_RPATH,
            elf::DT_RUNPATH,
        ];
        let has_strings = entries
            .iter()
            .any(|(t, _)| string_tags.iter().any(|s| s.0 == *t))
            || value_of(entries, elf::DT_VERNEED).is_some();
        if !has_strings {
            return Ok(StringTable {
                offset: 0,
                bytes: &[],
            });
        }
        let address = value_of(entries, elf::DT_STRTAB).ok_or_else(|| {
            ElfError::malformed("dynamic section has strings but no DT_STRTAB entry")
        })?;
        let size = value_of(entries, elf::DT_STRSZ).ok_or_else(|| {
            ElfError::malformed("dynamic section has strings but no DT_STRSZ entry")
        })?;
        let offset = address_to_offset(loads, address, size).ok_or_else(|| {
            ElfError::malformed(format!(
                "DT_STRTAB {address:#x} (size {size}) is not inside a PT_LOAD segment"
            ))
        })?;
        let bytes = bytes_at(data, offset, size).ok_or_else(|| {
            ElfError::malformed(format!(
                "DT_STRTAB at file offset {offset} (size {size}) runs past the end of the file"
            ))
        })?;
        Ok(StringTable { offset, bytes })
    }

    /// The NUL-terminated UTF-8 string at `offset`; `what` names the reference in errors.
    fn string_at(&self, offset: u64, what: &str) -> Result<String, ElfError> {
        let bytes = usize::try_from(offset)
            .ok()
            .and_then(|o| self.bytes.get(o..))
            .ok_or_else(|| {
                ElfError::malformed(format!(
                    "{what}: string offset {offset} is outside the dynamic string table ({} bytes)",
                    self.bytes.len()
                ))
            })?;
        let end = bytes.iter().position(|&b| b == 0).ok_or_else(|| {
            ElfError::malformed(format!(
                "{what}: string at offset {offset} is not NUL-terminated"
            ))
        })?;
        utf8(&bytes[..end], what)
    }
}

/// What the string entries name: `DT_NEEDED` (in order), `DT_SONAME`, `DT_RPATH`,
/// `DT_RUNPATH` (a later entry of the last three replaces an earlier one).
#[derive(Debug, Default, PartialEq, Eq)]
struct DynamicNames {
    needed: Vec<String>,
    soname: Option<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
}

impl DynamicNames {
    fn read(entries: &[(i64, u64)], strings: &StringTable<'_>) -> Result<Self, ElfError> {
        let mut names = DynamicNames::default();
        for &(tag, value) in entries {
            if tag == elf::DT_NEEDED.0 {
                names.needed.push(strings.string_at(value, "DT_NEEDED")?);
            } else if tag == elf::DT_SONAME.0 {
                names.soname = Some(strings.string_at(value, "DT_SONAME")?);
            } else if tag == elf::DT_RPATH.0 {
                names.rpath = split_path_list(&strings.string_at(value, "DT_RPATH")?);
            } else if tag == elf::DT_RUNPATH.0 {
                names.runpath = split_path_list(&strings.string_at(value, "DT_RUNPATH")?);
            }
        }
        Ok(names)
    }
}

/// The symbol versions a file needs (`DT_VERNEED`) and the string-table offsets the
/// version tables (`DT_VERNEED`, `DT_VERDEF`) refer to.
#[derive(Debug, Default)]
struct VersionTables {
    /// One entry per needed version, symbols not attached yet.
    needs: Vec<VersionNeed>,
    /// Each need's version index (`vna_other`), for matching `.gnu.version`.
    indices: Vec<u16>,
    /// Offsets of the names the tables use.
    string_refs: Vec<u64>,
}

impl VersionTables {
    fn read<'d, R: ReadRef<'d>>(
        entries: &[(i64, u64)],
        loads: &[LoadSegment],
        endian: Endianness,
        data: R,
        strings: &StringTable<'_>,
    ) -> Result<Self, ElfError> {
        let mut tables = VersionTables::default();
        if let Some(address) = value_of(entries, elf::DT_VERNEED) {
            let count = value_of(entries, elf::DT_VERNEEDNUM).unwrap_or(0);
            let offset = address_to_offset(loads, address, 1).ok_or_else(|| {
                ElfError::malformed(format!(
                    "DT_VERNEED {address:#x} is not inside a PT_LOAD segment"
                ))
            })?;
            let verneed = Tail::new(data, offset).ok_or_else(|| {
                ElfError::malformed(format!(
                    "DT_VERNEED at file offset {offset} is past the end of the file"
                ))
            })?;
            for (file, name, index) in read_verneed(endian, verneed, count)? {
                tables.string_refs.push(u64::from(file));
                tables.string_refs.push(u64::from(name));
                tables.needs.push(VersionNeed {
                    file: strings.string_at(u64::from(file), "DT_VERNEED vn_file")?,
                    version: strings.string_at(u64::from(name), "DT_VERNEED vna_name")?,
                    symbols: Vec::new(),
                });
                tables.indices.push(index);
            }
        }
        if let Some(address) = value_of(entries, elf::DT_VERDEF) {
            let count = value_of(entries, elf::DT_VERDEFNUM).unwrap_or(0);
            let verdef = address_to_offset(loads, address, 1)
                .and_then(|offset| Tail::new(data, offset))
                .ok_or_else(|| {
                    ElfError::malformed(format!(
                        "DT_VERDEF {address:#x} is not inside the file's PT_LOAD segments"
                    ))
                })?;
            tables
                .string_refs
                .extend(read_verdef_names(endian, verdef, count)?);
        }
        Ok(tables)
    }
}

/// The file ranges an in-place edit must not touch: the ELF header (at least its standard
/// size for the class), the program header table, and the dynamic entries including the
/// `DT_NULL` that ends them.
fn protected_ranges(
    class: ElfClass,
    e_ehsize: u16,
    phoff: usize,
    program_headers_size: usize,
    dynamic_offset: usize,
    entry_count: usize,
) -> Vec<Range<usize>> {
    let (header_size, entry_size) = match class {
        ElfClass::Elf64 => (64, 16),
        ElfClass::Elf32 => (52, 8),
    };
    vec![
        0..usize::from(e_ehsize).max(header_size),
        phoff..phoff.saturating_add(program_headers_size),
        dynamic_offset..dynamic_offset.saturating_add((entry_count + 1) * entry_size),
    ]
}

/// The bytes of a file from `start` to its end, read on demand: where a table that is
/// walked by its links (`DT_VERNEED`, `DT_VERDEF`) begins, its end being unknown.
#[derive(Clone, Copy)]
struct Tail<R> {
    data: R,
    start: u64,
}

impl<'d, R: ReadRef<'d>> Tail<R> {
    /// The tail from `start`, `None` when `start` is past the end of `data`.
    fn new(data: R, start: usize) -> Option<Self> {
        let start = start as u64;
        (start <= data.len().ok()?).then_some(Tail { data, start })
    }

    /// The `T` at `offset` into the tail, `Err` when it runs past the end.
    fn read_at<T: object::Pod>(self, offset: usize) -> Result<&'d T, ()> {
        let offset = self.start.checked_add(offset as u64).ok_or(())?;
        self.data.read_at(offset)
    }
}

/// Walks `DT_VERNEED` entries: (vn_file, vna_name, vna_other) triples. Bounded by the data
/// and by the declared count, so a cycle or a huge count cannot loop forever.
/// The most needed versions one file may name in all: real files name tens; without a bound
/// a hostile file's overlapping entries (each `vna_next` 1 byte on) would be collected by the
/// billion.
const MAX_VERSION_NEEDS: usize = 65_536;

fn read_verneed<'d, R: ReadRef<'d>>(
    endian: Endianness,
    bytes: Tail<R>,
    count: u64,
) -> Result<Vec<(u32, u32, u16)>, ElfError> {
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
            if found.len() >= MAX_VERSION_NEEDS {
                return Err(ElfError::malformed(format!(
                    "DT_VERNEED names more than {MAX_VERSION_NEEDS} versions"
                )));
            }
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
fn attach_symbols<'d, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'d>>(
    header: &Elf,
    endian: Endianness,
    data: R,
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
    // The symbols' string section, read once and looked up in place (as `object` looks
    // names up, from `sh_offset` to `sh_offset + sh_size`): one read per name from a file
    // would copy each name again, and a hostile table's overlapping names far more.
    let names = (symbols.string_section() != object::SectionIndex(0))
        .then(|| sections.section(symbols.string_section()).ok())
        .flatten()
        .and_then(|s| {
            data.read_bytes_at(s.sh_offset(endian).into(), s.sh_size(endian).into())
                .ok()
        });
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
        if let Some(name) = name_at(names, symbol.st_name(endian))
            && let Ok(name) = std::str::from_utf8(name)
            && !name.is_empty()
        {
            need.symbols.push(name.to_owned());
        }
    }
    true
}

/// The NUL-terminated name at `offset` in a string section, `None` when it runs past it.
fn name_at(names: Option<&[u8]>, offset: u32) -> Option<&[u8]> {
    let rest = names?.get(usize::try_from(offset).ok()?..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

/// The string offsets of `DT_VERDEF` names (version definitions of a library). Bounded
/// like [`read_verneed`].
fn read_verdef_names<'d, R: ReadRef<'d>>(
    endian: Endianness,
    bytes: Tail<R>,
    count: u64,
) -> Result<Vec<u64>, ElfError> {
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

    /// A whole buffer as the tail a table walk reads.
    fn tail(data: &[u8]) -> Tail<&[u8]> {
        Tail { data, start: 0 }
    }

    fn malformed(result: Result<impl std::fmt::Debug, ElfError>) -> String {
        match result {
            Err(ElfError::Malformed(why)) => why,
            other => panic!("expected a malformed-file error, got {other:?}"),
        }
    }

    #[test]
    fn file_kinds() {
        assert_eq!(file_kind(elf::ET_EXEC), FileKind::Executable);
        assert_eq!(file_kind(elf::ET_DYN), FileKind::SharedObject);
        assert_eq!(file_kind(elf::ET_REL), FileKind::Relocatable);
        assert_eq!(file_kind(elf::ET_CORE), FileKind::Core);
        assert_eq!(file_kind(elf::FileType(0xfe00)), FileKind::Other(0xfe00));
    }

    #[test]
    fn only_files_the_loader_maps_need_program_headers() {
        assert!(
            malformed(require_program_headers(FileKind::Executable, 0))
                .contains("the loader cannot map it")
        );
        assert!(require_program_headers(FileKind::SharedObject, 0).is_err());
        assert!(require_program_headers(FileKind::Executable, 1).is_ok());
        assert!(require_program_headers(FileKind::Relocatable, 0).is_ok());
        assert!(require_program_headers(FileKind::Core, 0).is_ok());
    }

    #[test]
    fn entries_end_at_the_first_dt_null_and_the_first_of_a_tag_counts() {
        let needed = elf::DT_NEEDED.0;
        let entries = dynamic_entries([
            (needed, 1),
            (elf::DT_STRSZ.0, 10),
            (elf::DT_STRSZ.0, 20),
            (elf::DT_NULL.0, 0),
            (needed, 99),
        ]);
        assert_eq!(
            entries,
            [(needed, 1), (elf::DT_STRSZ.0, 10), (elf::DT_STRSZ.0, 20)]
        );
        assert_eq!(value_of(&entries, elf::DT_STRSZ), Some(10));
        assert_eq!(value_of(&entries, elf::DT_STRTAB), None);
        assert_eq!(dynamic_entries([(elf::DT_NULL.0, 0)]), []);
    }

    const LOADS: [LoadSegment; 2] = [
        LoadSegment {
            vaddr: 0x1000,
            filesz: 0x100,
            offset: 0,
        },
        LoadSegment {
            vaddr: 0x4000,
            filesz: 0x10,
            offset: 0x200,
        },
    ];

    #[test]
    fn addresses_map_to_offsets_only_when_file_bytes_back_the_whole_range() {
        assert_eq!(address_to_offset(&LOADS, 0x1000, 0x100), Some(0));
        assert_eq!(address_to_offset(&LOADS, 0x1010, 4), Some(0x10));
        assert_eq!(address_to_offset(&LOADS, 0x4008, 8), Some(0x208));
        // Past the file bytes (the rest of memsz is zeros, not file), before, between.
        assert_eq!(address_to_offset(&LOADS, 0x10f0, 0x20), None);
        assert_eq!(address_to_offset(&LOADS, 0x0fff, 1), None);
        assert_eq!(address_to_offset(&LOADS, 0x2000, 1), None);
        // Overflowing sizes are refused, not wrapped.
        assert_eq!(address_to_offset(&LOADS, 0x1000, u64::MAX), None);
        assert_eq!(address_to_offset(&[], 0x1000, 1), None);
    }

    /// A file whose first 0x100 bytes are mapped at 0x1000, with a string table of
    /// `size` bytes at file offset 0x10.
    fn strings_entries(size: u64) -> Vec<(i64, u64)> {
        vec![
            (elf::DT_NEEDED.0, 1),
            (elf::DT_STRTAB.0, 0x1010),
            (elf::DT_STRSZ.0, size),
        ]
    }

    #[test]
    fn the_string_table_is_located_or_its_fault_named() {
        let mut data = vec![0u8; 0x100];
        data[0x10..0x20].copy_from_slice(b"\0libc.so.6\0\xff\xfe\0xy");
        let table = StringTable::locate(&strings_entries(16), &LOADS, &data[..]).unwrap();
        assert_eq!((table.offset, table.bytes.len()), (0x10, 16));

        // No entry names a string: no table needed, none read.
        let none = StringTable::locate(&[(elf::DT_STRTAB.0, 0xdead)], &LOADS, &data[..]).unwrap();
        assert_eq!((none.offset, none.bytes.len()), (0, 0));

        let without = |tag: elf::DynamicTag| {
            let entries: Vec<_> = strings_entries(16)
                .into_iter()
                .filter(|(t, _)| *t != tag.0)
                .collect();
            malformed(StringTable::locate(&entries, &LOADS, &data[..]).map(|_| ()))
        };
        assert_eq!(
            without(elf::DT_STRTAB),
            "dynamic section has strings but no DT_STRTAB entry"
        );
        assert_eq!(
            without(elf::DT_STRSZ),
            "dynamic section has strings but no DT_STRSZ entry"
        );
        assert_eq!(
            malformed(StringTable::locate(&strings_entries(0x1000), &LOADS, &data[..]).map(|_| ())),
            "DT_STRTAB 0x1010 (size 4096) is not inside a PT_LOAD segment"
        );
        // Mapped by the headers, but the file is shorter than they say.
        assert_eq!(
            malformed(StringTable::locate(&strings_entries(16), &LOADS, &data[..0x18]).map(|_| ())),
            "DT_STRTAB at file offset 16 (size 16) runs past the end of the file"
        );
    }

    #[test]
    fn strings_are_nul_terminated_utf8_inside_the_table() {
        let table = StringTable {
            offset: 0,
            bytes: b"\0libc.so.6\0\xff\xfe\0xy",
        };
        assert_eq!(table.string_at(1, "DT_NEEDED").unwrap(), "libc.so.6");
        assert_eq!(table.string_at(0, "DT_SONAME").unwrap(), "");
        assert_eq!(
            malformed(table.string_at(11, "DT_NEEDED")),
            "DT_NEEDED is not valid UTF-8"
        );
        assert_eq!(
            malformed(table.string_at(14, "DT_RPATH")),
            "DT_RPATH: string at offset 14 is not NUL-terminated"
        );
        assert_eq!(
            malformed(table.string_at(17, "DT_VERNEED vn_file")),
            "DT_VERNEED vn_file: string offset 17 is outside the dynamic string table (16 bytes)"
        );
        assert!(table.string_at(u64::MAX, "DT_NEEDED").is_err());
    }

    #[test]
    fn names_come_from_their_entries_in_order() {
        let table = StringTable {
            offset: 0,
            bytes: b"\0liba.so\0libb.so\0/opt/lib::$ORIGIN\0/old\0",
        };
        let entries = [
            (elf::DT_NEEDED.0, 1),
            (elf::DT_RPATH.0, 35),
            (elf::DT_NEEDED.0, 9),
            (elf::DT_SONAME.0, 9),
            (elf::DT_RPATH.0, 17),
            (elf::DT_RUNPATH.0, 27),
            (elf::DT_STRSZ.0, 1_000_000),
        ];
        assert_eq!(
            DynamicNames::read(&entries, &table).unwrap(),
            DynamicNames {
                needed: vec!["liba.so".into(), "libb.so".into()],
                soname: Some("libb.so".into()),
                // The later DT_RPATH wins; empty parts are dropped.
                rpath: vec!["/opt/lib".into(), "$ORIGIN".into()],
                runpath: vec!["$ORIGIN".into()],
            }
        );
        assert_eq!(
            malformed(DynamicNames::read(&[(elf::DT_NEEDED.0, 100)], &table)),
            "DT_NEEDED: string offset 100 is outside the dynamic string table (40 bytes)"
        );
    }

    #[test]
    fn an_edit_keeps_off_the_headers_and_the_dynamic_entries() {
        assert_eq!(
            protected_ranges(ElfClass::Elf64, 64, 64, 7 * 56, 0x3000, 20),
            [0..64, 64..456, 0x3000..0x3000 + 21 * 16]
        );
        // A header claiming to be smaller than its class's still protects the standard size.
        assert_eq!(
            protected_ranges(ElfClass::Elf32, 0, 52, 32, 0x100, 0),
            [0..52, 52..84, 0x100..0x108]
        );
        // Offsets near the end of the address space saturate instead of wrapping.
        let ranges = protected_ranges(ElfClass::Elf64, 64, usize::MAX - 1, 56, usize::MAX, 1);
        assert_eq!(ranges[1], usize::MAX - 1..usize::MAX);
        assert_eq!(ranges[2], usize::MAX..usize::MAX);
    }

    fn verneed(count: u16, file: u32, aux: u32, next: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(1u16.to_le_bytes());
        b.extend(count.to_le_bytes());
        b.extend(file.to_le_bytes());
        b.extend(aux.to_le_bytes());
        b.extend(next.to_le_bytes());
        b
    }

    fn vernaux(other: u16, name: u32, next: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(0u32.to_le_bytes());
        b.extend(0u16.to_le_bytes());
        b.extend(other.to_le_bytes());
        b.extend(name.to_le_bytes());
        b.extend(next.to_le_bytes());
        b
    }

    #[test]
    fn verneed_is_walked_as_linked_and_bounded_by_the_data() {
        let le = Endianness::Little;
        // Two libraries: the first needs two versions, the second one.
        let mut data = verneed(2, 10, 16, 48);
        data.extend(vernaux(2, 20, 16));
        data.extend(vernaux(3, 30, 0));
        data.extend(verneed(1, 40, 16, 0));
        data.extend(vernaux(4, 50, 0));
        assert_eq!(
            read_verneed(le, tail(&data), 2).unwrap(),
            [(10, 20, 2), (10, 30, 3), (40, 50, 4)]
        );
        // The declared count bounds the walk, whatever the links say.
        assert_eq!(read_verneed(le, tail(&data), 1).unwrap().len(), 2);
        assert_eq!(read_verneed(le, tail(&data), 0).unwrap(), []);
        // A count larger than the entries: the walk stops at vn_next = 0.
        assert_eq!(read_verneed(le, tail(&data), u64::MAX).unwrap().len(), 3);
        assert_eq!(
            malformed(read_verneed(le, tail(&data[..40]), 2)),
            "DT_VERNEED entry 0, auxiliary entry 1 runs past the end of the file"
        );
        assert_eq!(
            malformed(read_verneed(le, tail(&data[..60]), 2)),
            "DT_VERNEED entry 1 runs past the end of the file"
        );
        assert_eq!(
            malformed(read_verneed(le, tail(&verneed(1, 0, u32::MAX, 0)), 1)),
            "DT_VERNEED entry 0, auxiliary entry 0 runs past the end of the file"
        );
    }

    #[test]
    fn verneed_names_at_most_a_bounded_number_of_versions() {
        let le = Endianness::Little;
        // Two libraries of 40,000 versions each: past the bound, however the links chain.
        let mut data = Vec::new();
        for library in 0..2u32 {
            let after = if library == 0 { 16 + 40_000 * 16 } else { 0 };
            data.extend(verneed(40_000, library, 16, after));
            for version in 0..40_000u32 {
                let next = if version == 39_999 { 0 } else { 16 };
                data.extend(vernaux(2, version, next));
            }
        }
        assert_eq!(
            malformed(read_verneed(le, tail(&data), 2)),
            format!("DT_VERNEED names more than {MAX_VERSION_NEEDS} versions")
        );
        assert_eq!(
            read_verneed(le, tail(&data), 1).map(|found| found.len()),
            Ok(40_000)
        );
    }

    #[test]
    fn version_needs_name_their_library_and_version() {
        let mut data = vec![0u8; 0x100];
        let strings = b"\0libc.so.6\0GLIBC_2.34\0";
        data[0x10..0x10 + strings.len()].copy_from_slice(strings);
        let mut need = verneed(1, 1, 16, 0);
        need.extend(vernaux(2, 11, 0));
        data[0x40..0x40 + need.len()].copy_from_slice(&need);
        let mut entries = vec![
            (elf::DT_STRTAB.0, 0x1010),
            (elf::DT_STRSZ.0, strings.len() as u64),
            (elf::DT_VERNEED.0, 0x1040),
            (elf::DT_VERNEEDNUM.0, 1),
        ];
        let table = StringTable::locate(&entries, &LOADS, &data[..]).unwrap();
        let tables =
            VersionTables::read(&entries, &LOADS, Endianness::Little, &data[..], &table).unwrap();
        assert_eq!(
            tables.needs,
            [VersionNeed {
                file: "libc.so.6".into(),
                version: "GLIBC_2.34".into(),
                symbols: Vec::new(),
            }]
        );
        assert_eq!(tables.indices, [2]);
        assert_eq!(tables.string_refs, [1, 11]);

        entries[2] = (elf::DT_VERNEED.0, 0x9000);
        assert_eq!(
            malformed(
                VersionTables::read(&entries, &LOADS, Endianness::Little, &data[..], &table)
                    .map(|_| ())
            ),
            "DT_VERNEED 0x9000 is not inside a PT_LOAD segment"
        );
    }

    #[test]
    fn verdef_names_are_collected_and_bounded_by_the_data() {
        let le = Endianness::Little;
        let verdef = |cnt: u16, next: u32| {
            let mut b = Vec::new();
            b.extend(1u16.to_le_bytes()); // vd_version
            b.extend(0u16.to_le_bytes()); // vd_flags
            b.extend(1u16.to_le_bytes()); // vd_ndx
            b.extend(cnt.to_le_bytes());
            b.extend(0u32.to_le_bytes()); // vd_hash
            b.extend(20u32.to_le_bytes()); // vd_aux
            b.extend(next.to_le_bytes());
            b
        };
        let verdaux = |name: u32, next: u32| {
            let mut b = name.to_le_bytes().to_vec();
            b.extend(next.to_le_bytes());
            b
        };
        let mut data = verdef(2, 36);
        data.extend(verdaux(5, 8));
        data.extend(verdaux(6, 0));
        data.extend(verdef(1, 0));
        data.extend(verdaux(7, 0));
        assert_eq!(read_verdef_names(le, tail(&data), 2).unwrap(), [5, 6, 7]);
        assert_eq!(read_verdef_names(le, tail(&data), 1).unwrap(), [5, 6]);
        assert_eq!(
            malformed(read_verdef_names(le, tail(&data[..50]), 2)),
            "DT_VERDEF entry 1 runs past the end of the file"
        );
    }

    /// A file as a stream: its real bytes, then zeros up to `len` (a huge file that costs
    /// nothing to hold), counting the bytes read from it.
    struct Padded<'a> {
        real: &'a [u8],
        len: u64,
        position: u64,
        read: std::rc::Rc<std::cell::Cell<u64>>,
    }

    impl std::io::Read for Padded<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let left = self.len.saturating_sub(self.position);
            let n = buf.len().min(usize::try_from(left).unwrap());
            for (i, byte) in buf[..n].iter_mut().enumerate() {
                let at = usize::try_from(self.position).unwrap() + i;
                *byte = self.real.get(at).copied().unwrap_or(0);
            }
            self.position += n as u64;
            self.read.set(self.read.get() + n as u64);
            Ok(n)
        }
    }

    impl std::io::Seek for Padded<'_> {
        fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
            self.position = match to {
                std::io::SeekFrom::Start(at) => at,
                std::io::SeekFrom::End(back) => self.len.checked_add_signed(back).unwrap(),
                std::io::SeekFrom::Current(by) => self.position.checked_add_signed(by).unwrap(),
            };
            Ok(self.position)
        }
    }

    impl IoErrors for Padded<'_> {
        fn take_error(&mut self) -> Option<io::Error> {
            None
        }
    }

    /// Parses `real` followed by zeros up to `len` through the reader-based path; returns
    /// what it made of it and how many bytes it read.
    fn parse_padded(real: &[u8], len: u64) -> (Result<ElfInfo, ElfError>, u64) {
        let read = std::rc::Rc::new(std::cell::Cell::new(0));
        let source = Padded {
            real,
            len,
            position: 0,
            read: std::rc::Rc::clone(&read),
        };
        let parsed = match parse_source(source) {
            Ok(info) => Ok(info),
            Err(ElfFileError::Elf(error)) => Err(error),
            Err(ElfFileError::Io(error)) => panic!("no I/O error can happen here: {error}"),
        };
        (parsed, read.get())
    }

    const REAL_PROGRAM: &str = "/usr/bin/true";

    #[test]
    fn a_file_is_read_as_its_bytes_are_down_to_every_error_message() {
        let real = std::fs::read(REAL_PROGRAM).unwrap();
        let same = |bytes: &[u8], what: &str| {
            let (from_reads, _) = parse_padded(bytes, bytes.len() as u64);
            assert_eq!(from_reads, ElfInfo::parse(bytes), "{what}");
        };
        same(&real, "the whole program");
        // Every length through the headers and dynamic tables, then a stride through the
        // rest (the section table and .dynsym are near the end).
        for length in (0..4096.min(real.len())).chain((4096..real.len()).step_by(61)) {
            same(&real[..length], &format!("{length} bytes"));
        }
        // Header fields (offsets, counts, class, endianness) broken one byte at a time.
        for index in 0..64 {
            for value in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut bytes = real.clone();
                bytes[index] = value;
                same(&bytes, &format!("byte {index} set to {value:#x}"));
            }
        }
    }

    #[test]
    fn a_huge_file_is_read_only_where_the_loader_looks() {
        let real = std::fs::read(REAL_PROGRAM).unwrap();
        let huge = 1 << 40; // 1 TiB of zeros after the program.
        let (parsed, read) = parse_padded(&real, huge);
        assert_eq!(parsed, ElfInfo::parse(&real));
        // Headers, PT_INTERP, PT_DYNAMIC, .dynstr, the version tables, the section table
        // and .dynsym: a fraction of even this small program, nothing of the zeros.
        assert!(
            read < real.len() as u64,
            "{read} bytes read of a {}-byte program",
            real.len()
        );
    }

    #[test]
    fn parse_file_reads_a_real_file_and_names_io_errors_as_such() {
        let real = std::fs::read(REAL_PROGRAM).unwrap();
        assert_eq!(
            ElfInfo::parse_file(REAL_PROGRAM).unwrap(),
            ElfInfo::parse(&real).unwrap()
        );
        let dir = tempfile::tempdir().unwrap();
        let folder = ElfInfo::parse_file(dir.path()).unwrap_err();
        assert!(
            matches!(&folder, ElfFileError::Io(e) if e.raw_os_error() == Some(21)),
            "{folder:?}"
        );
        // Shown as the I/O error alone, as `fs::read`'s was.
        assert_eq!(folder.to_string(), "Is a directory (os error 21)");
        let missing = ElfInfo::parse_file(dir.path().join("missing")).unwrap_err();
        assert!(
            matches!(&missing, ElfFileError::Io(e) if e.kind() == io::ErrorKind::NotFound),
            "{missing:?}"
        );
        let text = dir.path().join("script");
        std::fs::write(&text, "#!/bin/sh\n").unwrap();
        assert!(matches!(
            ElfInfo::parse_file(&text),
            Err(ElfFileError::Elf(ElfError::NotElf))
        ));
    }
}
