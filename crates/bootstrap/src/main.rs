//! `bootstrap`: the entry point of lamina's runtime layer (`/opt/bootstrap`).
//!
//! Glue only: `lamina-runtime` talks to the Runtime API; `lamina_bootstrap` resolves
//! `_HANDLER` and runs the handler process(es).

fn main() {
    lamina_bootstrap::run()
}
