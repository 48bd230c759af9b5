//! Flows: YAML call-flow files compiled into validated, immutable graphs.
//!
//! This module never touches sockets, the clock or the runtime. Loading reads files; every
//! problem found is returned at once as a diagnostic naming file, line, column, node and field.

pub mod catalogue;
pub mod compile;
pub mod diagnostic;
pub mod expr;
pub mod kinds;
pub mod load;
pub mod model;
pub mod raw;
pub mod read;
pub mod route;
pub mod spec;
pub mod test_model;
pub mod yaml;

pub use diagnostic::{Diagnostic, Severity};
pub use load::{LoadOptions, LoadReport, load};
pub mod graph;
pub mod schema;
