//! What may be queued or fanned out to agents: a method the agent answers, with a body it
//! can read. A task with an unknown operation or a body the agent cannot decode would sit
//! in the queue and fail on every delivery; refusing it here says why at once.

use serde::de::DeserializeOwned;
use serde_json::Value;
use xfleet_common::methods::{
    agent, core_methods, AccessLogQuery, CoreInstallRequest, CoreLogsQuery, GeoUpdateRequest,
    KeyRequest, OutboundTestRequest, Sleep,
};
use xfleet_common::state::{method, ApplyState};

use crate::front::ApiError;
use crate::model::FieldError;

/// The methods an agent answers besides `core.*` ([`core_methods::ALL`]).
const AGENT_METHODS: &[&str] = &[
    agent::INFO,
    agent::SYSTEM_STATS,
    agent::ECHO,
    agent::SLEEP,
    agent::CORE_INSTALL,
    agent::GEO_UPDATE,
    method::APPLY,
];

fn answered(operation: &str) -> bool {
    AGENT_METHODS.contains(&operation) || core_methods::ALL.contains(&operation)
}

/// Refuses an unknown `operation`, or a `body` the agent could not read for it; `field`
/// and `body_field` name them in the answer.
pub fn check(operation: &str, body: &Value, field: &str, body_field: &str) -> Result<(), ApiError> {
    if !answered(operation) {
        let methods = AGENT_METHODS
            .iter()
            .chain(core_methods::ALL)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ApiError::Invalid(vec![FieldError::said(
            field,
            "err.agent_method",
            &[
                ("method", operation.escape_default().to_string()),
                ("methods", methods),
            ],
        )]));
    }
    let read = match operation {
        method::APPLY => decodes::<ApplyState>(body),
        agent::SLEEP => decodes::<Sleep>(body),
        agent::CORE_INSTALL => decodes::<CoreInstallRequest>(body),
        agent::GEO_UPDATE => decodes::<GeoUpdateRequest>(body),
        core_methods::GENERATE => decodes::<KeyRequest>(body),
        core_methods::TEST_OUTBOUND => decodes::<OutboundTestRequest>(body),
        // An empty body asks for the defaults.
        core_methods::LOGS if body.is_null() => Ok(()),
        core_methods::LOGS => decodes::<CoreLogsQuery>(body),
        core_methods::ACCESS_LOG if body.is_null() => Ok(()),
        core_methods::ACCESS_LOG => decodes::<AccessLogQuery>(body),
        // The others take no body.
        _ => Ok(()),
    };
    read.map_err(|why| {
        // The parser's words, in our sentence.
        ApiError::Invalid(vec![FieldError::said(
            body_field,
            "err.method_body",
            &[("method", operation.to_owned()), ("error", why.to_string())],
        )])
    })
}

fn decodes<T: DeserializeOwned>(body: &Value) -> Result<(), String> {
    T::deserialize(body).map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check;

    #[test]
    fn unknown_operations_and_unreadable_bodies_are_refused() {
        assert!(check("bogus.op", &json!({}), "operation", "request").is_err());
        assert!(check("state.apply", &json!("garbage"), "operation", "request").is_err());
        assert!(check("state.apply", &json!({"full": 7}), "operation", "request").is_err());
        assert!(check("core.logs", &json!({"level": 5}), "operation", "request").is_err());
        assert!(check("sleep", &json!({"ms": 10}), "operation", "request").is_ok());
        assert!(check("core.logs", &json!(null), "operation", "request").is_ok());
        assert!(check("core.restart", &json!(null), "operation", "request").is_ok());
        assert!(check("echo", &json!({"n": 1}), "operation", "request").is_ok());
    }
}
