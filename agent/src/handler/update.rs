//! `agent.update`: the binary arrives in the call's stream; [`crate::update`] checks and
//! stages it, and the agent restarts into it once the answer has left.

use std::sync::Arc;

use xfleet_common::channel::{reply, IncomingCall};
use xfleet_common::methods::AgentUpdateRequest;
use xfleet_common::protocol::{from_body, ErrorBody};

use crate::update::Updates;

pub(super) async fn answer(
    updates: Option<&Arc<Updates>>,
    call: IncomingCall,
) -> Result<Vec<u8>, ErrorBody> {
    let Some(updates) = updates else {
        return Err(ErrorBody::invalid(
            "this agent is built into the controller and is updated with it",
        ));
    };
    let request: AgentUpdateRequest = from_body(&call.body)?;
    let Some(stream) = call.stream else {
        return Err(ErrorBody::invalid(
            "agent.update carries the binary in the call's stream, and none came",
        ));
    };
    let len = stream.len();
    let chunks = futures_util::stream::unfold(stream, |mut stream| async move {
        match stream.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), stream)),
            Ok(None) => None,
            Err(e) => Some((Err(e), stream)),
        }
    });
    let answer = updates
        .receive(request, len, std::pin::pin!(chunks))
        .await
        .map_err(|why| {
            tracing::warn!(%why, "agent update refused");
            ErrorBody::invalid(why)
        })?;
    reply(&answer)
}
