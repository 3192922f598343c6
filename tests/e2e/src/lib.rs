//! End-to-end tests of `lamina-runtime` under `lamina-emulator`, with real processes and real
//! HTTP. The functions under test are this package's binaries (`src/bin`); the tests are in
//! `tests/`. Nothing here is meant to be used as a library.
