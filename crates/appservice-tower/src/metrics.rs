//! Metrics through the `metrics` facade (feature `metrics`), and a Prometheus recorder.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `appservice_requests_total` | counter | `route`, `status` |
//! | `appservice_request_duration_seconds` | histogram | `route` |
//! | `appservice_transactions_total` | counter | `outcome` (`handled`, `duplicate`, `failed`, `rejected`) |
//! | `appservice_events_total` | counter | — (events of handled transactions) |
//! | `appservice_dedupe_hits_total` | counter | — (transactions acknowledged without the handler) |
//! | `appservice_handler_errors_total` | counter | `route` |

use std::time::Duration;

use appservice_dispatch::{Disposition, Report};

pub(crate) fn record(route: &'static str, report: Option<&Report>, status: u16, elapsed: Duration) {
    metrics::counter!("appservice_requests_total", "route" => route, "status" => status.to_string()).increment(1);
    metrics::histogram!("appservice_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
    let Some(report) = report else { return };
    if report.outcome == Disposition::Failed {
        metrics::counter!("appservice_handler_errors_total", "route" => route).increment(1);
    }
    if report.route != Some("transaction") {
        return;
    }
    let outcome = match report.outcome {
        Disposition::Handled => "handled",
        Disposition::Duplicate => "duplicate",
        Disposition::Failed => "failed",
        _ => "rejected",
    };
    metrics::counter!("appservice_transactions_total", "outcome" => outcome).increment(1);
    match report.outcome {
        Disposition::Handled => {
            metrics::counter!("appservice_events_total").increment(report.events as u64);
        }
        Disposition::Duplicate => metrics::counter!("appservice_dedupe_hits_total").increment(1),
        _ => {}
    }
}

/// Installs a global Prometheus recorder and returns its handle, for
/// [`AppserviceLayer::with_prometheus`](crate::AppserviceLayer::with_prometheus).
pub fn install_prometheus()
-> Result<metrics_exporter_prometheus::PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()
}
