//! `core.*`: the controller's hands on the core (start, stop, restart), eyes (version,
//! config, logs), its key generators, and outbound tests in a temporary core.

use xfleet_common::channel::reply;
use xfleet_common::methods::{
    core_methods, AccessLogQuery, CoreLogs, CoreLogsQuery, CoreVersion, KeyRequest,
    OutboundTestRequest, RunningConfig,
};
use xfleet_common::protocol::{code, from_body, ErrorBody};

use crate::core::{generate, test_outbound, Core, CoreError, GenerateError, Supervisor};
use crate::traffic::{access_entries, access_log};

pub(super) async fn answer(core: &Core, method: &str, body: &[u8]) -> Result<Vec<u8>, ErrorBody> {
    if !core_methods::ALL.contains(&method) {
        return Err(ErrorBody::unsupported(method));
    }
    let supervisor = match core {
        Core::Found(supervisor) => supervisor,
        Core::Missing(why) => return Err(ErrorBody::new(code::CORE_UNAVAILABLE, why.clone())),
    };
    match method {
        core_methods::START => reply(&supervisor.start_applied().await.map_err(error_body)?),
        core_methods::STOP => reply(&supervisor.stop().await.map_err(error_body)?),
        core_methods::RESTART => reply(&supervisor.restart().await.map_err(error_body)?),
        core_methods::VERSION => {
            let binary = supervisor.binary();
            reply(&CoreVersion {
                version: binary.version.clone(),
                flavour: binary.flavour.to_string(),
                binary: binary.path.display().to_string(),
            })
        }
        core_methods::GENERATE => {
            let request: KeyRequest = from_body(body)?;
            let keys = generate(&supervisor.binary(), &request)
                .await
                .map_err(|e| match e {
                    GenerateError::Invalid(m) => ErrorBody::invalid(m),
                    GenerateError::Unsupported(m) => ErrorBody::new(code::UNSUPPORTED, m),
                    GenerateError::Failed(m) => ErrorBody::new(code::CORE_FAILED, m),
                })?;
            reply(&keys)
        }
        core_methods::TEST_OUTBOUND => {
            let request: OutboundTestRequest = from_body(body)?;
            let answer = test_outbound(&supervisor.binary(), supervisor.paths(), &request)
                .await
                .map_err(ErrorBody::invalid)?;
            reply(&answer)
        }
        core_methods::ACCESS_LOG => {
            let query: AccessLogQuery = if body.is_empty() {
                AccessLogQuery::default()
            } else {
                from_body(body)?
            };
            reply(&access_log_entries(supervisor, query).await?)
        }
        core_methods::CONFIG => match supervisor.config() {
            Some(config) => reply(&RunningConfig {
                config: (*config).clone(),
            }),
            None => Err(error_body(CoreError::NoConfig)),
        },
        _ => {
            // core.logs; an empty body asks for the defaults.
            let query: CoreLogsQuery = if body.is_empty() {
                CoreLogsQuery::default()
            } else {
                from_body(body)?
            };
            let lines = supervisor.logs().tail(query.count as usize, query.level);
            reply(&CoreLogs {
                lines: lines.iter().map(|l| l.to_wire()).collect(),
            })
        }
    }
}

/// The newest access log entries matching `query`, from the log and its rotated copy, with
/// outbounds classified by the configuration the core runs.
async fn access_log_entries(
    supervisor: &Supervisor,
    query: AccessLogQuery,
) -> Result<xfleet_common::methods::AccessLogEntries, ErrorBody> {
    let current = supervisor.paths().access_log();
    let config = supervisor.config();
    tokio::task::spawn_blocking(move || {
        let outbounds = access_entries::Outbounds::from_config(config.as_deref());
        let previous = access_log::previous(&current);
        access_entries::query(&[previous.as_path(), current.as_path()], &outbounds, &query)
    })
    .await
    .map_err(|e| ErrorBody::internal(format!("access log: {e}")))?
    .map_err(|e| ErrorBody::internal(format!("cannot read the core's access log: {e}")))
}

/// The one place a core failure becomes a wire error.
pub(super) fn error_body(error: CoreError) -> ErrorBody {
    let code = match &error {
        CoreError::NotFound(_) | CoreError::Unusable { .. } => code::CORE_UNAVAILABLE,
        CoreError::NoConfig => code::NO_CONFIG,
        CoreError::InvalidConfig(_) => code::INVALID_CONFIG,
        CoreError::StartFailed(_) => code::CORE_FAILED,
        CoreError::Io(_) | CoreError::Gone => code::INTERNAL,
    };
    ErrorBody::new(code, error.to_string())
}
