//! What every front end for people and scripts shares (DESIGN §11): who is calling
//! ([`auth`]: sessions, API tokens, passwords, two-factor codes, the login decision); the one
//! error type ([`ApiError`]) and its single mapping to an answer, in the native envelope and
//! in 3x-ui's ([`envelope`]); the shape of a handler ([`call`]: caller, body, audit, answer);
//! and the native API's route table ([`routes`]), which several front ends fill.

pub mod auth;
pub mod call;
pub mod envelope;
pub mod error;
pub mod routes;

pub use auth::Actor;
pub use call::{Audit, Call, JsonBody};
pub use envelope::{done, failed, ok, reply, reply_as, trace_id, ApiResult, Envelope, Msg};
pub use error::ApiError;
