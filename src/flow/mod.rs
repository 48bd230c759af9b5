//! Flows: YAML call-flow files compiled into validated, immutable graphs.
//!
//! This module never touches sockets, the clock or the runtime. Loading reads files; every
//! problem found is returned at once as a diagnostic naming file, line, column, node and field.

pub mod catalogue;
pub mod diagnostic;
pub mod expr;
pub mod model;
pub mod yaml;
