//! The hub room's section of the report: for each burst (from Slack, Rocket.Chat, Matrix),
//! its latency to each other side and the platform API requests it cost per message.

use crate::Report;
use crate::scenarios::HUB;
use std::fmt::Write;

/// The section, or nothing when the hub did not run.
pub fn section(r: &Report) -> String {
    let rows: Vec<_> = r
        .measurements
        .iter()
        .filter(|m| m.scenario == HUB)
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Hub room: one room, Slack and Rocket.Chat at once\n\n\
         One Matrix room linked to a Slack channel and a Rocket.Chat room (issue 16); a burst \
         from each side reaches both others. A message between the platforms goes through \
         Matrix (platform -> Matrix -> platform), so its latency holds both legs. Latency is \
         from the send to the arrival on that side (Matrix: `origin_server_ts`; a platform: \
         its fake's receive time). Requests are both platforms' web API requests during the \
         burst, per message sent.\n\n\
         | from -> to | n | p50 ms | p95 ms | max ms | platform API requests / msg |\n\
         |---|---|---|---|---|---|\n",
    );
    for m in rows {
        let route = m.description.split(',').next().unwrap_or_default();
        let requests = m
            .platform_requests
            .as_ref()
            .map_or("(same burst)".to_owned(), |p| {
                format!(
                    "{:.2}",
                    p.values().sum::<u64>() as f64 / m.messages.max(1) as f64
                )
            });
        let _ = writeln!(
            s,
            "| {route} | {} | {:.1} | {:.1} | {:.1} | {requests} |",
            m.messages, m.latency.p50_ms, m.latency.p95_ms, m.latency.max_ms
        );
    }
    s.push_str("\nThe requests by method are under \"Platform API requests by method\".\n");
    s
}
