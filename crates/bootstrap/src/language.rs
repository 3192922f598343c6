//! The languages whose `FILE.FUNCTION` handlers run through an adapter shipped in the layer.

/// A language whose functions run through an adapter shipped in the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `FILE.pl`, run by `perl <adapters>/perl.pl`.
    Perl,
    /// `FILE.py`, run by `python3 <adapters>/python.py`.
    Python,
    /// `FILE.sh`, run by `bash <adapters>/shell.sh`.
    Shell,
    /// `FILE.lisp`, run by `sbcl --script <adapters>/lisp.lisp` (Common Lisp, SBCL).
    Lisp,
}

impl Language {
    /// The order in which `FILE.pl`, `FILE.py`, `FILE.sh` and `FILE.lisp` are looked for:
    /// the first that exists wins.
    pub const PRECEDENCE: [Language; 4] = [
        Language::Perl,
        Language::Python,
        Language::Shell,
        Language::Lisp,
    ];

    /// File extension of handler files, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Language::Perl => "pl",
            Language::Python => "py",
            Language::Shell => "sh",
            Language::Lisp => "lisp",
        }
    }

    /// The interpreter, looked up on the handlers' `PATH` (`/opt/bin` first).
    pub fn interpreter(self) -> &'static str {
        match self {
            Language::Perl => "perl",
            Language::Python => "python3",
            Language::Shell => "bash",
            Language::Lisp => "sbcl",
        }
    }

    /// Arguments the interpreter takes before the adapter: SBCL runs a file as a program
    /// only with `--script` (which also keeps the debugger and init files out).
    pub fn interpreter_args(self) -> &'static [&'static str] {
        match self {
            Language::Lisp => &["--script"],
            Language::Perl | Language::Python | Language::Shell => &[],
        }
    }

    /// File name of the adapter in the adapters folder.
    pub fn adapter(self) -> &'static str {
        match self {
            Language::Perl => "perl.pl",
            Language::Python => "python.py",
            Language::Shell => "shell.sh",
            Language::Lisp => "lisp.lisp",
        }
    }

    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Language::Perl => "Perl",
            Language::Python => "Python",
            Language::Shell => "shell",
            Language::Lisp => "Lisp",
        }
    }
}
