//! `/api/v1/agent/binaries`: the agent binaries this controller hands out (`crate::dist`).

use serde::Serialize;

use crate::dist::AgentBinary;
use crate::front::{ok, ApiResult, Call};

#[derive(Serialize)]
pub(super) struct Binaries {
    binaries: Vec<AgentBinary>,
    /// Where the controller looked, so an empty list says where to put files.
    searched: Vec<String>,
}

pub(super) async fn binaries(call: Call) -> ApiResult<Binaries> {
    let agents = &call.ctl.agents;
    ok(Binaries {
        binaries: agents.list(),
        searched: agents
            .searched()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    })
}
