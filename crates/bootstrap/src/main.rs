//! `lamina-bootstrap`, installed as `/opt/bootstrap` by the runtime layer: its entry point.
//!
//! Glue only: `lamina-runtime` talks to the Runtime API; `lamina_bootstrap` resolves
//! `_HANDLER` and runs the handler process(es).

fn main() {
    lamina_bootstrap::run()
}
