//! A server's core access log (3x-ui's `xraylogs`), as both front ends ask for it: the
//! agent's `core.access_log`, with an agent too old to know the method told apart from one
//! that failed.

use xfleet_common::channel::CallError;
use xfleet_common::methods::{
    core_methods, default_deadline, AccessLogEntries, AccessLogQuery, MAX_ACCESS_LOG_ENTRIES,
};
use xfleet_common::protocol::{from_body, to_body, ErrorBody};

use crate::store::ServerRow;
use crate::Controller;

/// The newest entries of `server`'s access log matching `query` (its count bounded).
pub async fn read(
    ctl: &Controller,
    server: &ServerRow,
    mut query: AccessLogQuery,
) -> Result<AccessLogEntries, CallError> {
    query.count = query.count.clamp(1, MAX_ACCESS_LOG_ENTRIES);
    let method = core_methods::ACCESS_LOG;
    let body = to_body(&query).map_err(remote)?;
    let deadline = default_deadline(method, &serde_json::Value::Null);
    let answer = crate::fleet::call(ctl, server.id, method, body, deadline)
        .await
        .map_err(|e| match e {
            CallError::Unsupported(_) => CallError::Unsupported(format!(
                "the agent on {} is too old to serve the core's access log; update it",
                server.name
            )),
            CallError::Offline(_) => CallError::Offline(format!(
                "server {} (id {}): its agent is not connected",
                server.name, server.id
            )),
            other => other,
        })?;
    from_body(&answer).map_err(remote)
}

fn remote(e: ErrorBody) -> CallError {
    CallError::Remote {
        code: e.code,
        message: e.message,
        details: None,
        retryable: false,
    }
}
