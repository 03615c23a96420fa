//! [`CoreApi`]: one HTTP/2 channel to the core's API and the calls xfleet makes on it.

use std::time::Duration;

use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

use super::{account, inbound_config, outbound_config, proto, ApiError, Namespace, SysStats, User};

/// Limit for one API call, connecting included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

const HANDLER: &str = "app.proxyman.command.HandlerService";
const STATS: &str = "app.stats.command.StatsService";

/// A client of one core's API.
#[derive(Debug, Clone)]
pub struct CoreApi {
    grpc: Grpc<Channel>,
    ns: Namespace,
}

impl CoreApi {
    /// A client for the API inbound on `127.0.0.1:port`. The connection is made on first use,
    /// so this succeeds while the core is still starting.
    pub async fn connect(port: u16, ns: Namespace) -> Result<Self, ApiError> {
        let endpoint = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
            .connect_timeout(CALL_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        Ok(Self {
            grpc: Grpc::new(endpoint.connect_lazy()),
            ns,
        })
    }

    pub fn namespace(&self) -> Namespace {
        self.ns
    }

    /// Adds `user` (at level 0) to the inbound tagged `inbound_tag`.
    pub async fn add_user(&self, inbound_tag: &str, user: &User) -> Result<(), ApiError> {
        let operation = proto::AddUserOperation {
            user: Some(account::user_message(self.ns, user)?),
        };
        self.alter_inbound(
            inbound_tag,
            "app.proxyman.command.AddUserOperation",
            &operation,
        )
        .await
    }

    /// Removes the user `email` from the inbound. A user (or inbound) the core does not know
    /// counts as removed, so the call can be repeated.
    pub async fn remove_user(&self, inbound_tag: &str, email: &str) -> Result<(), ApiError> {
        let operation = proto::RemoveUserOperation {
            email: email.to_owned(),
        };
        match self
            .alter_inbound(
                inbound_tag,
                "app.proxyman.command.RemoveUserOperation",
                &operation,
            )
            .await
        {
            Err(ApiError::Rejected(message)) if message.to_lowercase().contains("not found") => {
                Ok(())
            }
            other => other,
        }
    }

    /// Adds an inbound given as the core's config file has it (`{tag, listen, port, protocol,
    /// settings, streamSettings, sniffing}`). Only common shapes convert (see
    /// [`inbound_config`]); anything else is [`ApiError::Unsupported`] and needs a restart.
    pub async fn add_inbound(&self, inbound: &serde_json::Value) -> Result<(), ApiError> {
        let request = proto::AddInboundRequest {
            inbound: Some(inbound_config(self.ns, inbound)?),
        };
        self.call::<_, proto::Empty>(HANDLER, "AddInbound", request)
            .await
            .map(drop)
    }

    /// Adds an outbound given as the core's config file has it. Only the shapes
    /// [`outbound_config`] converts; anything else is [`ApiError::Unsupported`].
    pub async fn add_outbound(&self, outbound: &serde_json::Value) -> Result<(), ApiError> {
        let request = proto::AddOutboundRequest {
            outbound: Some(outbound_config(self.ns, outbound)?),
        };
        self.call::<_, proto::Empty>(HANDLER, "AddOutbound", request)
            .await
            .map(drop)
    }

    pub async fn remove_outbound(&self, tag: &str) -> Result<(), ApiError> {
        let request = proto::RemoveOutboundRequest {
            tag: tag.to_owned(),
        };
        self.call::<_, proto::Empty>(HANDLER, "RemoveOutbound", request)
            .await
            .map(drop)
    }

    pub async fn remove_inbound(&self, tag: &str) -> Result<(), ApiError> {
        let request = proto::RemoveInboundRequest {
            tag: tag.to_owned(),
        };
        self.call::<_, proto::Empty>(HANDLER, "RemoveInbound", request)
            .await
            .map(drop)
    }

    /// Counters whose name contains `pattern` (all for `""`), reset to zero after reading when
    /// `reset` is set. Names look like `user>>>EMAIL>>>traffic>>>downlink`.
    pub async fn query_stats(
        &self,
        pattern: &str,
        reset: bool,
    ) -> Result<Vec<(String, i64)>, ApiError> {
        let request = proto::QueryStatsRequest {
            pattern: pattern.to_owned(),
            reset,
        };
        let response: proto::QueryStatsResponse = self.call(STATS, "QueryStats", request).await?;
        Ok(response
            .stat
            .into_iter()
            .map(|stat| (stat.name, stat.value))
            .collect())
    }

    pub async fn sys_stats(&self) -> Result<SysStats, ApiError> {
        let r: proto::SysStatsResponse = self.call(STATS, "GetSysStats", proto::Empty {}).await?;
        Ok(SysStats {
            num_goroutine: r.num_goroutine,
            num_gc: r.num_gc,
            alloc: r.alloc,
            total_alloc: r.total_alloc,
            sys: r.sys,
            mallocs: r.mallocs,
            frees: r.frees,
            live_objects: r.live_objects,
            pause_total_ns: r.pause_total_ns,
            uptime: r.uptime,
        })
    }

    /// Emails of users with a live connection, from Xray's `GetAllOnlineUsers` (needs
    /// `statsUserOnline` in the policy). `None` when the core has no such call (v2ray, older
    /// Xray): the caller then infers activity from traffic deltas.
    pub async fn online_users(&self) -> Result<Option<Vec<String>>, ApiError> {
        let response: proto::GetAllOnlineUsersResponse =
            match self.call(STATS, "GetAllOnlineUsers", proto::Empty {}).await {
                Ok(response) => response,
                Err(ApiError::Unsupported(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
        Ok(Some(
            response
                .users
                .into_iter()
                .map(|name| online_map_email(&name).to_owned())
                .collect(),
        ))
    }

    async fn alter_inbound(
        &self,
        tag: &str,
        operation_name: &str,
        operation: &impl prost::Message,
    ) -> Result<(), ApiError> {
        let request = proto::AlterInboundRequest {
            tag: tag.to_owned(),
            operation: Some(proto::TypedMessage::new(self.ns, operation_name, operation)),
        };
        self.call::<_, proto::Empty>(HANDLER, "AlterInbound", request)
            .await
            .map(drop)
    }

    async fn call<Req, Resp>(
        &self,
        service: &str,
        method: &str,
        request: Req,
    ) -> Result<Resp, ApiError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let path = self.ns.method_path(service, method);
        let mut grpc = self.grpc.clone();
        let call = async move {
            grpc.ready()
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            grpc.unary(tonic::Request::new(request), path, ProstCodec::default())
                .await
                .map(tonic::Response::into_inner)
                .map_err(status_error)
        };
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| ApiError::Unavailable(format!("no answer within {CALL_TIMEOUT:?}")))?
    }
}

/// Sorts a gRPC status into the three outcomes callers act on.
fn status_error(status: tonic::Status) -> ApiError {
    use tonic::Code;
    let message = if status.message().is_empty() {
        status.to_string()
    } else {
        status.message().to_owned()
    };
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
            ApiError::Unavailable(message)
        }
        Code::Unimplemented => ApiError::Unsupported(message),
        _ => ApiError::Rejected(message),
    }
}

/// `user>>>EMAIL>>>online` → `EMAIL`; other names are returned unchanged.
fn online_map_email(name: &str) -> &str {
    name.strip_prefix("user>>>")
        .and_then(|rest| rest.strip_suffix(">>>online"))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_paths_follow_the_namespace() {
        assert_eq!(
            Namespace::Xray
                .method_path(HANDLER, "AlterInbound")
                .as_str(),
            "/xray.app.proxyman.command.HandlerService/AlterInbound"
        );
        assert_eq!(
            Namespace::V2ray.method_path(STATS, "QueryStats").as_str(),
            "/v2ray.core.app.stats.command.StatsService/QueryStats"
        );
    }

    #[test]
    fn statuses_sort_into_the_three_errors() {
        use tonic::Status;
        assert!(matches!(
            status_error(Status::unavailable("connection refused")),
            ApiError::Unavailable(_)
        ));
        assert_eq!(
            status_error(Status::unimplemented("unknown method GetAllOnlineUsers")),
            ApiError::Unsupported("unknown method GetAllOnlineUsers".into())
        );
        assert_eq!(
            status_error(Status::unknown("User a@b already exists.")),
            ApiError::Rejected("User a@b already exists.".into())
        );
    }

    #[test]
    fn online_map_names_become_emails() {
        assert_eq!(online_map_email("user>>>a@b>>>online"), "a@b");
        assert_eq!(online_map_email("a@b"), "a@b");
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable_not_a_hang() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let api = CoreApi::connect(port, Namespace::V2ray).await.unwrap();
        let err = api.sys_stats().await.unwrap_err();
        assert!(matches!(err, ApiError::Unavailable(_)), "{err:?}");
    }
}
