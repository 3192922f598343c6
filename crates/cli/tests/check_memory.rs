//! `cargo lamina check` reads only the parts of an ELF file the loader reads (headers, the
//! dynamic segment, its string and version tables), never the whole file: a small zip may
//! hold a huge ELF file (#19 item 9e: a 245 KB zip holding a 240 MB ELF file took 253 MB of
//! memory to check).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::fs::File;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

/// The ELF file in the zip: a real program followed by zeros, 240 MiB in all (under
/// Lambda's 250 MB unzipped limit, so the check unpacks and reads it).
const ELF_BYTES: u64 = 240 * 1024 * 1024;

/// The most memory (peak resident set) the check may use: well under the file's size, and
/// far above what the command itself needs (about 10 MB for a small zip).
const MAX_RSS_BYTES: u64 = 64 * 1024 * 1024;

#[test]
fn checking_a_zip_holding_a_huge_elf_file_does_not_read_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("huge.zip");
    write_zip(&zip_path);
    let zip_size = std::fs::metadata(&zip_path).unwrap().len();
    assert!(
        zip_size < 4 * 1024 * 1024,
        "the zip is small ({zip_size} bytes) while its ELF file is {ELF_BYTES} bytes"
    );

    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    // Waited for by `wait4`, which also gives its peak memory; `Child::wait` would not.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args(["lamina", "check", "huge.zip", "--arch", "x86_64"])
        .current_dir(dir.path())
        // The check's scratch folder (the unpacked 240 MiB file) goes in the test's folder.
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let (status, peak_rss) = wait_with_peak_rss(child.id());
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let output = format!("status {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");

    // The check ran to its report on the file (which may list problems of the host's
    // /bin/true, such as a glibc newer than Lambda's: not what this test is about).
    assert!(status.code().is_some(), "{output}");
    assert!(
        stdout.contains("1 ELF file(s) checked for x86_64"),
        "{output}"
    );
    assert!(
        peak_rss < MAX_RSS_BYTES,
        "checking a {zip_size}-byte zip holding a {ELF_BYTES}-byte ELF file took a peak \
         resident set of {peak_rss} bytes (at most {MAX_RSS_BYTES} expected)\n{output}"
    );
}

/// A zip with one entry, `bootstrap`: this machine's /bin/true followed by zeros up to
/// [`ELF_BYTES`], streamed into the zip (deflated to a few hundred KB).
fn write_zip(path: &std::path::Path) {
    let program = std::fs::read("/bin/true").unwrap();
    assert!(program.starts_with(b"\x7fELF"), "/bin/true is an ELF file");
    let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755)
        .large_file(false);
    zip.start_file("bootstrap", options).unwrap();
    zip.write_all(&program).unwrap();
    let zeros = vec![0u8; 1024 * 1024];
    let mut written = program.len() as u64;
    while written < ELF_BYTES {
        let n = zeros.len().min((ELF_BYTES - written) as usize);
        zip.write_all(&zeros[..n]).unwrap();
        written += n as u64;
    }
    zip.finish().unwrap();
}

/// Waits for the child `pid` and returns its exit status and peak resident set in bytes
/// (`ru_maxrss` from `wait4`, the kernel's own count for that one process).
fn wait_with_peak_rss(pid: u32) -> (ExitStatus, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for the kernel to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are valid.
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(
        waited,
        pid as libc::pid_t,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    // Linux reports ru_maxrss in kilobytes.
    let peak = u64::try_from(usage.ru_maxrss).unwrap() * 1024;
    (ExitStatus::from_raw(status), peak)
}
