//! The same program as `bootstrap`, under a name no other package in the workspace uses.
//!
//! `samples/sample-hello` also has a binary named `bootstrap` (every Rust function does), so
//! `target/debug/bootstrap` is whichever was linked last. Tests and local runs use
//! `target/debug/lamina-bootstrap`, which is always this one.

fn main() {
    lamina_bootstrap::run()
}
