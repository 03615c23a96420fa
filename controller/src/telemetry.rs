//! What the controller counts as it works, for Prometheus: calls to agents and their latency,
//! traffic ingest rounds, enrollments, logins and gateway admissions. The handles live here,
//! low down, so the fleet, the gateway and the front ends record into them; what is read
//! from the database or the fleet at scrape time is added by the `metrics` listener.
//!
//! It uses no other module of the controller, only the protocol's method names and call
//! errors (`xfleet_common`).
//!
//! One registry per process ([`global`]), as Prometheus clients keep: counters carry on
//! across a restart in place (new panel settings), and nothing has to be handed down to
//! where a call or a login happens.
//!
//! Every label value is a `&'static str`: a label takes a fixed set of values (a method
//! name, an outcome code), never one a caller makes up, so the series stay bounded.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use xfleet_common::channel::CallError;

/// The prefix of every series.
pub const PREFIX: &str = "xfleet";

/// How a call to an agent ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    /// The agent (or its core) answered with an error, or refused the call.
    Error,
    /// No answer within the call's deadline.
    Timeout,
    /// The agent was not connected, or its connection ended before the answer.
    Gone,
}

impl CallOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Timeout => "timeout",
            Self::Gone => "gone",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdmissionLabels {
    outcome: &'static str,
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The registry and its handles; cheap to record into from any task.
pub struct Telemetry {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_seconds: HistogramFamily<CallLabels>,
    ingest_seconds: Histogram,
    enrollments: Family<OutcomeLabels, Counter>,
    logins: Family<OutcomeLabels, Counter>,
    admissions: Family<AdmissionLabels, Counter>,
}

fn call_histogram() -> Histogram {
    // 5 ms to about 80 s: a heartbeat-sized echo up to a core install.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Default for Telemetry {
    fn default() -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "agent_calls",
            "Calls from this controller to agents, by method and outcome (ok, error, timeout, \
             gone)",
            calls.clone(),
        );
        let call_seconds: HistogramFamily<CallLabels> =
            Family::new_with_constructor(call_histogram as fn() -> Histogram);
        registry.register(
            "agent_call_duration_seconds",
            "Time from a call to an agent to its answer (or its failure), by method and outcome",
            call_seconds.clone(),
        );
        // 1 ms to about 16 s: one batch screened and written in one transaction.
        let ingest_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "traffic_ingest_round_duration_seconds",
            "Time to check and store one traffic batch from an agent",
            ingest_seconds.clone(),
        );
        let enrollments = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "enrollments",
            "Agent enrollments at the gateway, by outcome (ok, or the refusal's code)",
            enrollments.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "logins",
            "Logins to the panel and the 3x-ui compatible API, by outcome (ok, or the \
             refusal's code)",
            logins.clone(),
        );
        let admissions = Family::<AdmissionLabels, Counter>::default();
        registry.register(
            "gateway_admissions",
            "Agent connections at the gateway, admitted or refused, and why",
            admissions.clone(),
        );
        Self {
            registry,
            calls,
            call_seconds,
            ingest_seconds,
            enrollments,
            logins,
            admissions,
        }
    }
}

/// Counts one call to an agent for the metrics, by method and how it ended.
pub fn record_call<T>(method: &str, answer: &Result<T, CallError>, took: Duration) {
    let outcome = match answer {
        Ok(_) => CallOutcome::Ok,
        Err(CallError::Timeout(_)) => CallOutcome::Timeout,
        Err(CallError::Offline(_)) => CallOutcome::Gone,
        Err(_) => CallOutcome::Error,
    };
    global().agent_call(method_label(method), outcome, took);
}

/// A method's name as a metrics label: one of the protocol's, else `other`, so a name a
/// caller of `/servers/{id}/call` makes up adds no series.
fn method_label(method: &str) -> &'static str {
    use xfleet_common::methods::{agent, core_methods};
    use xfleet_common::state::method as state;
    [
        agent::INFO,
        agent::SYSTEM_STATS,
        agent::ECHO,
        agent::SLEEP,
        agent::CORE_INSTALL,
        agent::GEO_UPDATE,
        agent::UPDATE,
        state::APPLY,
        state::CHECK,
    ]
    .iter()
    .chain(core_methods::ALL)
    .find(|known| **known == method)
    .copied()
    .unwrap_or("other")
}

/// The process's registry.
pub fn global() -> &'static Telemetry {
    static GLOBAL: LazyLock<Telemetry> = LazyLock::new(Telemetry::default);
    &GLOBAL
}

impl Telemetry {
    /// One call to an agent: `method` is one of the protocol's names (the caller maps any
    /// other to `other`).
    pub fn agent_call(&self, method: &'static str, outcome: CallOutcome, took: Duration) {
        let labels = CallLabels {
            method,
            outcome: outcome.label(),
        };
        self.calls.get_or_create(&labels).inc();
        self.call_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// One traffic batch checked and stored (or refused).
    pub fn ingest_round(&self, took: Duration) {
        self.ingest_seconds.observe(took.as_secs_f64());
    }

    /// One enrollment: `ok` or the code the gateway answered.
    pub fn enrollment(&self, outcome: &'static str) {
        self.enrollments
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// One login: `ok` or the refusal's code.
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// One agent connection admitted, or refused for `reason`.
    pub fn admission(&self, admitted: bool, reason: &'static str) {
        let outcome = if admitted { "admitted" } else { "refused" };
        self.admissions
            .get_or_create(&AdmissionLabels { outcome, reason })
            .inc();
    }

    /// Everything recorded so far, in Prometheus' text format.
    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::prometheus_text::encode(out, &self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is recorded comes out under the prefix, with its labels and help.
    #[test]
    fn recorded_series_are_encoded() {
        let t = Telemetry::default();
        t.agent_call("echo", CallOutcome::Ok, Duration::from_millis(3));
        t.agent_call("echo", CallOutcome::Gone, Duration::ZERO);
        t.login("wrong_credentials");
        t.admission(false, "rate_limited");
        let mut text = String::new();
        t.encode(&mut text).unwrap();
        assert!(
            text.contains("xfleet_agent_calls_total{method=\"echo\",outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("xfleet_agent_calls_total{method=\"echo\",outcome=\"gone\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "xfleet_agent_call_duration_seconds_bucket{le=\"0.005\",method=\"echo\",outcome=\"ok\"} 1"
            ) || text.contains("xfleet_agent_call_duration_seconds_bucket{method=\"echo\",outcome=\"ok\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("xfleet_logins_total{outcome=\"wrong_credentials\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "xfleet_gateway_admissions_total{outcome=\"refused\",reason=\"rate_limited\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("# HELP xfleet_logins_total "), "{text}");
    }

    /// A method name the protocol does not have is counted as `other`, so callers of the
    /// call route cannot add series.
    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("core.restart"), "core.restart");
        assert_eq!(method_label("state.apply"), "state.apply");
        assert_eq!(method_label("made.up.1"), "other");
    }
}
