//! Writing a zip into a folder through descriptors, never through a path that a link
//! could redirect.

use std::ffi::OsStr;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, fchmod, mkdirat, openat, statat, symlinkat};
use rustix::io::Errno;

use crate::entry::{EntryKind, kind_of, normalise, stored_name};
use crate::error::{UnzipError, bad_zip, io_error};
use crate::listing::{Listing, check_unzipped_size, open};

/// Which files [`unpack`] writes. Folders and links are always written (they shape how
/// paths resolve); with [`Keep::FilesStartingWith`] only files whose first bytes pass the
/// test are, e.g. ELF files for a loader check.
#[derive(Clone, Copy)]
pub enum Keep {
    /// Every file.
    All,
    /// Files whose first 64 bytes (or fewer, for a shorter file) pass the test.
    FilesStartingWith(fn(&[u8]) -> bool),
}

/// How many bytes of a file [`Keep::FilesStartingWith`] looks at.
const HEAD: usize = 64;

/// Longest symbolic link target read (Linux's `PATH_MAX`).
const MAX_LINK: u64 = 4096;

/// Unpacks `zip` into the existing folder `into`, keeping unix modes and symbolic links; a
/// later entry (or a later zip unpacked into the same folder, as layers are) replaces an
/// earlier file or link at the same path. Refuses, before writing anything, a zip whose
/// headers declare more than `max_bytes` unzipped; refuses entries that would land outside
/// `into`, pass through or replace a folder by a link, or inflate past their declared size.
/// Returns the host paths of the files written, each once, in the order last written.
pub fn unpack(
    zip: &Path,
    into: &Path,
    keep: Keep,
    max_bytes: u64,
) -> Result<Vec<PathBuf>, UnzipError> {
    check_unzipped_size(&[&Listing::read(zip)?], max_bytes)?;
    let mut archive = open(zip)?;
    let root = openat(
        rustix::fs::CWD,
        into,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnzipError::Io {
        what: format!("opening the folder {}", into.display()),
        source: e.into(),
    })?;
    let tree = Tree { zip, into, root };
    let mut written: Vec<PathBuf> = Vec::new();
    // Folders' modes are applied last: a read-only folder must not stop its own contents.
    let mut folder_modes = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(bad_zip(zip))?;
        let name = stored_name(&entry, index);
        let relative = entry
            .enclosed_name()
            .and_then(|n| normalise(&n))
            .ok_or_else(|| UnzipError::EscapingEntry {
                zip: zip.to_path_buf(),
                entry: name.clone(),
            })?;
        let parts: Vec<&OsStr> = relative.iter().collect();
        let Some((last, parents)) = parts.split_last() else {
            continue; // `./` or `a/..`: the folder itself.
        };
        let kind = kind_of(&entry);
        let mode = entry.unix_mode().map(|m| m & 0o7777);
        if kind == EntryKind::Folder {
            tree.folder(&parts, &name)?;
            folder_modes.push((relative, mode.unwrap_or(0o755)));
            continue;
        }
        let mut head = Vec::new();
        if kind == EntryKind::File
            && let Keep::FilesStartingWith(test) = keep
        {
            let declared = entry.size();
            (&mut entry)
                .take(HEAD as u64)
                .read_to_end(&mut head)
                .map_err(|source| lying_or_io(zip, &name, declared, source))?;
            if !test(&head) {
                // Not written, but read to its end all the same: an entry that does not
                // inflate to what it declares is refused here as unpacking every file
                // refuses it, so a check and the emulator reach one verdict on one zip.
                let declared = entry.size();
                copy_declared(
                    zip,
                    &name,
                    &mut entry,
                    head.len() as u64,
                    declared,
                    &mut std::io::sink(),
                )?;
                continue;
            }
        }
        let parent = tree.folder(parents, &name)?;
        tree.clear(&parent, last, &relative, &name)?;
        if kind == EntryKind::Symlink {
            let mut target = String::new();
            (&mut entry)
                .take(MAX_LINK)
                .read_to_string(&mut target)
                .map_err(io_error(format!(
                    "{}: reading the link `{name}`",
                    zip.display()
                )))?;
            symlinkat(target.as_str(), &parent, *last).map_err(|e| UnzipError::Io {
                what: format!("creating the link {}", into.join(&relative).display()),
                source: e.into(),
            })?;
            continue;
        }
        let host = into.join(&relative);
        let fd = openat(
            &parent,
            *last,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| UnzipError::Io {
            what: format!("creating {}", host.display()),
            source: e.into(),
        })?;
        let mut out = fs::File::from(fd);
        let declared = entry.size();
        out.write_all(&head)
            .map_err(io_error(format!("writing {}", host.display())))?;
        copy_declared(
            zip,
            &name,
            &mut entry,
            head.len() as u64,
            declared,
            &mut out,
        )?;
        fchmod(&out, Mode::from_raw_mode(mode.unwrap_or(0o644))).map_err(|e| UnzipError::Io {
            what: format!("setting the mode of {}", host.display()),
            source: e.into(),
        })?;
        written.retain(|w| w != &host);
        written.push(host);
    }
    for (folder, mode) in folder_modes.into_iter().rev() {
        let parts: Vec<&OsStr> = folder.iter().collect();
        let fd = tree.folder(&parts, &folder.display().to_string())?;
        fchmod(&fd, Mode::from_raw_mode(mode | 0o700)).map_err(|e| UnzipError::Io {
            what: format!("setting the mode of {}", into.join(&folder).display()),
            source: e.into(),
        })?;
    }
    Ok(written)
}

/// Copies the rest of `entry` (its first `done` bytes already read) to `out`: never more
/// than the `declared` size (the total was checked against those sizes), and refused when it
/// inflates to more or fewer bytes than that.
fn copy_declared<R: std::io::Read>(
    zip: &Path,
    name: &str,
    entry: &mut zip::read::ZipFile<'_, R>,
    done: u64,
    declared: u64,
    out: &mut impl std::io::Write,
) -> Result<(), UnzipError> {
    let copied = std::io::copy(&mut entry.take(declared.saturating_sub(done)), out)
        .map_err(|source| lying_or_io(zip, name, declared, source))?;
    let mut probe = [0u8; 1];
    let more = entry
        .read(&mut probe)
        .map_err(|source| lying_or_io(zip, name, declared, source))?;
    if more > 0 {
        return Err(UnzipError::LyingSize {
            zip: zip.to_path_buf(),
            entry: name.to_string(),
            declared,
        });
    }
    if copied + done != declared {
        return Err(UnzipError::BadZip {
            zip: zip.to_path_buf(),
            reason: format!(
                "entry `{name}` inflates to {} bytes, not the {declared} its header declares",
                copied + done
            ),
        });
    }
    Ok(())
}

/// The zip reader also notices an entry inflating past its declared size (reading ahead);
/// that is the same refusal as ours, not an I/O failure.
fn lying_or_io(zip: &Path, name: &str, declared: u64, source: std::io::Error) -> UnzipError {
    if source.to_string().contains("larger than its declared") {
        UnzipError::LyingSize {
            zip: zip.to_path_buf(),
            entry: name.to_string(),
            declared,
        }
    } else {
        UnzipError::Io {
            what: format!("{}: unpacking `{name}`", zip.display()),
            source,
        }
    }
}

/// The folder being unpacked into, held open.
struct Tree<'a> {
    zip: &'a Path,
    into: &'a Path,
    root: OwnedFd,
}

impl Tree<'_> {
    /// Opens (creating what is missing) the folder `parts` below the root, one component at
    /// a time with `O_NOFOLLOW`: a link anywhere on the way is refused, never followed.
    fn folder(&self, parts: &[&OsStr], entry: &str) -> Result<OwnedFd, UnzipError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut current = self
            .root
            .try_clone()
            .map_err(io_error("duplicating a descriptor"))?;
        let mut shown = PathBuf::new();
        for part in parts {
            shown.push(part);
            let opened = match openat(&current, *part, flags, Mode::empty()) {
                Err(Errno::NOENT) => {
                    match mkdirat(&current, *part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => {
                            return Err(UnzipError::Io {
                                what: format!("creating {}", self.into.join(&shown).display()),
                                source: e.into(),
                            });
                        }
                    }
                    openat(&current, *part, flags, Mode::empty())
                }
                other => other,
            };
            current = match opened {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(self.in_the_way(&current, part, &shown, entry));
                }
                Err(e) => {
                    return Err(UnzipError::Io {
                        what: format!("opening {}", self.into.join(&shown).display()),
                        source: e.into(),
                    });
                }
            };
        }
        Ok(current)
    }

    /// Why `part` (in `parent`) cannot be opened as a folder: it is a link or a file.
    fn in_the_way(&self, parent: &OwnedFd, part: &OsStr, shown: &Path, entry: &str) -> UnzipError {
        let is_link = statat(parent, part, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
        if is_link {
            UnzipError::ThroughSymlink {
                zip: self.zip.to_path_buf(),
                entry: entry.to_string(),
                link: shown.display().to_string(),
            }
        } else {
            UnzipError::Collision {
                zip: self.zip.to_path_buf(),
                entry: entry.to_string(),
                other: shown.display().to_string(),
                found: "file",
            }
        }
    }

    /// Removes a file or link at `last` in `parent` so an entry can take its place (a later
    /// layer replaces an earlier one's file); a folder there is refused.
    fn clear(
        &self,
        parent: &OwnedFd,
        last: &OsStr,
        relative: &Path,
        entry: &str,
    ) -> Result<(), UnzipError> {
        match statat(parent, last, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                Err(UnzipError::Collision {
                    zip: self.zip.to_path_buf(),
                    entry: entry.to_string(),
                    other: relative.display().to_string(),
                    found: "folder",
                })
            }
            Ok(_) => rustix::fs::unlinkat(parent.as_fd(), last, AtFlags::empty()).map_err(|e| {
                UnzipError::Io {
                    what: format!("replacing {}", self.into.join(relative).display()),
                    source: e.into(),
                }
            }),
            Err(_) => Ok(()),
        }
    }
}
