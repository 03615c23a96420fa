//! Desired state on the agent (DESIGN §4): persisted, applied to the core with the least
//! disruption, and enforced locally while the controller is away.

pub mod enforce;
pub mod plan;
pub mod refusals;
pub mod runtime;
pub mod session_cut;
pub mod store;

pub use runtime::CoreRuntime;

#[cfg(test)]
mod tests;
