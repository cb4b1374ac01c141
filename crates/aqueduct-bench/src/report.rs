//! The report: JSON for machines, and a markdown page with the figures, their ratios to the
//! baseline and the targets.

use crate::Report;
use crate::measure::Measurement;
use crate::platforms::{TEAMS_BURST_MAX, TEAMS_DEFAULT_SEND_PACE, TEAMS_POLL_INTERVAL_SECS};
use std::fmt::Write;

fn find<'a>(r: &'a Report, scenario: &str, starts: &str) -> Option<&'a Measurement> {
    r.measurements
        .iter()
        .find(|m| m.scenario == scenario && m.description.starts_with(starts))
}

fn at_rate<'a>(r: &'a Report, scenario: &str, rate: f64) -> Option<&'a Measurement> {
    r.measurements
        .iter()
        .find(|m| m.scenario == scenario && m.offered_msg_s == Some(rate))
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

/// The markdown page.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Performance\n");
    let _ = writeln!(
        s,
        "Written by `{}` (issue 6). Regenerate with that command; the figures below are from one \
         run on one machine and move with its load.\n",
        r.command
    );
    if r.quick {
        let _ = writeln!(
            s,
            "> **Quick smoke run (`--quick`)**: tiny counts, on a 2-core machine shared with other \
             developers compiling at the same time. These figures show that the harness works and \
             roughly where things stand; they are noisy and not a measurement to quote. Run \
             `cargo xtask bench` on a quiet machine for real figures.\n"
        );
    }
    let _ = writeln!(
        s,
        "Machine: {} logical CPUs, 1-minute load average {:.2} at the start and {:.2} at the end \
         (a load near or above the CPU count means other work competed with the run).\n",
        r.machine.cpus, r.machine.load_start, r.machine.load_end
    );
    let _ = writeln!(s, "## Setup\n");
    let _ = writeln!(
        s,
        "- Synapse from PyPI on its own PostgreSQL database (created for the run and dropped \
         after), loopback, rate limits relaxed as in the test kit.\n\
         - The bridge: the test bridge binary `aqueduct-testnet-bridge` (release build, the real \
         engine and Matrix client with the test network connector) as its own process, store on \
         SQLite (the default), logging at `info`. Its CPU is read from `/proc/<pid>/stat` \
         (utime + stime, 10 ms ticks), memory from `/proc/<pid>/status` (VmRSS, VmHWM).\n\
         - A counting proxy sits between the bridge and Synapse and counts every request by \
         route. The baseline goes through the same proxy, so both pay the same extra hop.\n\
         - The remote side of S1-S6 is the test kit's in-memory test network (the connector \
         long-polls its event log over loopback HTTP). \"S1 Slack\"/\"S3 Slack\", \"S1 \
         Rocket.Chat\"/\"S3 Rocket.Chat\" and \"S1 Teams\"/\"S3 Teams\" run the shipped \
         connectors, in the same bridge process, against the test kit's fake Slack (Socket Mode \
         and the Web API), fake Rocket.Chat (the realtime API and REST) and fake Teams tenant \
         (the identity platform and Microsoft Graph, its answers checked against Graph's CSDL) \
         in the benchmark's process. The Slack connector's posting pace is raised for the run \
         (its default is one message per second per channel, Slack's own limit, which \
         Matrix -> Slack would otherwise measure).\n\
         - Teams: the benchmark's Matrix user signs in through the device code flow (`login \
         teams`, the code approved in the fake) just before the Teams runs, so the connector's \
         polling does not run beside the other scenarios. The bridge has no public URL here, \
         so Teams receives by **polling** Graph (a round every {poll} s: the user's chats, then \
         each chat's changes), not by change notifications. \"S1 Teams\" latency therefore \
         includes up to one poll interval ({poll} s) before the bridge sees a message; quote \
         it as a polling figure, not as what notifications would give. Its latency runs from \
         the fake's `createdDateTime` (whole milliseconds; the fake gives each message and \
         Graph request a millisecond of its own, so a burst's later times run a little ahead) \
         to `origin_server_ts`; \"S3 Teams\" from the Matrix send to `createdDateTime`. The S1 \
         Teams burst is at most {page} messages, one page of a chat's changes: the connector \
         reads one page per chat and round without following `@odata.nextLink`, so a larger \
         burst within one interval would lose messages instead of measuring them. Matrix -> \
         Teams runs with the connector's per-chat posting pace raised in the benchmark's \
         config (`send_pace`, as Slack's; its default, {pace}, keeps to Graph's per-chat \
         limit and would be all that \"S3 Teams\" showed).\n\
         - Baseline: the appservice token sending text messages as ghosts straight to Synapse, \
         into rooms with the same audience as a portal (the bot, the ghost and the benchmark's \
         real Matrix user, for whom Synapse evaluates push rules on every event). Latency \
         is send -> `origin_server_ts` (Synapse's clock, whole milliseconds) for both baseline \
         and remote -> Matrix, and Matrix send -> the fake platform's receive time (whole \
         milliseconds) for Matrix -> remote. Achieved rate is messages over (last \
         arrival - first send).\n\
         - Sizes: {}\n",
        serde_json::to_string(&r.sizes).unwrap_or_default(),
        poll = TEAMS_POLL_INTERVAL_SECS,
        page = TEAMS_BURST_MAX,
        pace = TEAMS_DEFAULT_SEND_PACE,
    );

    let seq = find(r, "baseline", "appservice token, one room, sequential");
    let conc = find(
        r,
        "baseline",
        &format!("appservice token, {}", r.sizes.rooms),
    );
    let _ = writeln!(s, "## Figures\n");
    let _ = writeln!(
        s,
        "| scenario | what | offered msg/s | n | achieved msg/s | vs baseline | p50 ms | p99 ms | \
         bridge CPU s / 1,000 | HS requests / msg |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    for m in &r.measurements {
        let base = match (m.scenario.as_str(), m.offered_msg_s) {
            // Matrix -> remote crosses a different path than the appservice sends.
            ("baseline", _) => None,
            (s3, _) if s3.starts_with("S3") => None,
            // A hub row crosses two bridge legs (platform -> Matrix -> platform).
            (crate::scenarios::HUB, _) => None,
            ("S2", _) => conc,
            (_, Some(rate)) => at_rate(r, "baseline", rate),
            _ => seq,
        };
        let ratio = base
            .filter(|_| m.latency.samples > 0 || m.scenario == "S5")
            .map(|b| format!("{:.0}%", 100.0 * m.achieved_msg_s / b.achieved_msg_s))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |",
            m.scenario,
            m.description,
            opt(m.offered_msg_s, 0),
            m.messages,
            m.achieved_msg_s,
            ratio,
            if m.latency.samples > 0 {
                format!("{:.1}", m.latency.p50_ms)
            } else {
                "-".into()
            },
            if m.latency.samples > 0 {
                format!("{:.1}", m.latency.p99_ms)
            } else {
                "-".into()
            },
            opt(m.bridge_cpu_s_per_1000, 3),
            opt(m.homeserver_requests_per_msg, 2),
        );
    }
    let _ = writeln!(
        s,
        "\n\"vs baseline\" compares with the baseline at the same offered rate, the sequential \
         baseline for one-room bursts, and the concurrent baseline for S2. The open-loop baseline \
         does not wait for one send before the next, so in one room it is not ordered; the bridge \
         keeps a room's order and sends one at a time, so its ceiling in one room is the \
         sequential baseline. S3 runs (Matrix -> remote) take another path and have no ratio. S5 runs \
         are timed from the first remote action to the last request, without per-event latency. \
         Runs are listed in the order they ran: the S1 burst, S2 and each S1 rate directly \
         follow the baseline they are compared with (Synapse is slower for a minute after an \
         overloading run, which would otherwise fall on one side only); the later one-room \
         bursts (S4-S6, Slack, Rocket.Chat, Teams) compare with the first sequential baseline; \
         S1 Teams, being polled, has its ratio from a run of at most {TEAMS_BURST_MAX} \
         messages that may wait a poll interval at the start.\n"
    );

    let gapped: Vec<_> = r
        .measurements
        .iter()
        .filter_map(|m| Some((m, m.sequential.as_ref()?)))
        .collect();
    if !gapped.is_empty() {
        let _ = writeln!(
            s,
            "## Sequential sends in one room\n\n\
             Seen from the proxy: the gap is the sender's own time from Synapse's answer to one \
             send to the arrival of the next; Synapse's time is from receipt to answer.\n\n\
             | scenario | what | gap mean ms | gap p50 ms | gap p99 ms | Synapse mean ms | \
             Synapse p50 ms |\n|---|---|---|---|---|---|---|"
        );
        for (m, g) in gapped {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                m.scenario,
                m.description,
                g.gap.mean_ms,
                g.gap.p50_ms,
                g.gap.p99_ms,
                g.homeserver.mean_ms,
                g.homeserver.p50_ms,
            );
        }
        let _ = writeln!(s);
    }

    let _ = writeln!(s, "## Homeserver requests by route\n");
    for m in r.measurements.iter().filter(|m| m.scenario != "baseline") {
        let _ = writeln!(
            s,
            "- {} {} ({} messages):",
            m.scenario, m.description, m.messages
        );
        write_routes(&mut s, &m.requests, m.messages);
    }

    s.push_str(&platform_requests(r));
    s.push_str(&crate::hub_report::section(r));
    let _ = writeln!(s, "\n## Memory and start-up\n");
    let mem = &r.memory;
    let _ = writeln!(
        s,
        "- Bridge RSS idle (logged in, {} portals open): {:.1} MiB ({:.1} MiB its own memory, \
         {:.1} MiB mapped file pages, mostly the executable's code)\n\
         - After {} bridged messages and events: {:.1} MiB (peak {:.1} MiB; {:.1} MiB its own, \
         {:.1} MiB file pages)\n\
         - Start-up with {} portals in the store: {:.2} s to \"bridge running\" (ping to the \
         homeserver included), {:.2} CPU s, RSS {:.1} MiB right after\n",
        r.sizes.rooms + 2,
        mem.idle_rss_mib,
        mem.idle_anon_file_mib.0,
        mem.idle_anon_file_mib.1,
        mem.messages_before_after,
        mem.after_rss_mib,
        mem.peak_rss_mib,
        mem.after_anon_file_mib.0,
        mem.after_anon_file_mib.1,
        r.startup.portals,
        r.startup.seconds,
        r.startup.cpu_s,
        r.startup.idle_rss_mib,
    );

    let _ = writeln!(
        s,
        "## The engine alone\n\n\
         The real engine and SQLite store in this process, with a homeserver and a platform that \
         answer at once; warm portals and ghost, every message queued at once. CPU is this whole \
         process's (the fakes do next to nothing).\n\n\
         | portals | record | messages | msg/s | CPU µs / msg | homeserver calls / msg |\n|---|---|---|---|---|---|"
    );
    for e in &r.engine {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} |",
            e.portals,
            if e.record { "kept" } else { "off" },
            e.messages,
            e.msg_s,
            e.cpu_us_per_msg,
            e.homeserver_calls_per_msg
        );
    }
    s.push('\n');
    if let Some(cost) = record_cost(r) {
        let _ = writeln!(
            s,
            "The audit record (`docs/record.md`), one portal: {:.0} µs of CPU per message kept, \
             {:.0} µs off (means of the runs above, alternated): {:+.1}% per message.\n",
            cost.kept,
            cost.off,
            cost.percent()
        );
    }
    s.push_str(&encryption_cost(r));
    s.push_str(&targets(r, seq, conc));
    s
}

/// CPU per message in the one-portal engine runs with the record kept and off.
struct RecordCost {
    kept: f64,
    off: f64,
}

impl RecordCost {
    fn percent(&self) -> f64 {
        (self.kept / self.off - 1.0) * 100.0
    }
}

fn record_cost(r: &Report) -> Option<RecordCost> {
    let mean = |record: bool| {
        let runs: Vec<f64> = r
            .engine
            .iter()
            .filter(|e| e.portals == 1 && e.record == record)
            .map(|e| e.cpu_us_per_msg)
            .collect();
        (!runs.is_empty()).then(|| runs.iter().sum::<f64>() / runs.len() as f64)
    };
    Some(RecordCost {
        kept: mean(true)?,
        off: mean(false)?,
    })
}

fn targets(r: &Report, seq: Option<&Measurement>, conc: Option<&Measurement>) -> String {
    let mut s = String::from("## Against the targets (issue 6)\n\n");
    let _ = writeln!(s, "| target | measured | verdict |\n|---|---|---|");
    let s1_burst = find(r, "S1", "remote -> Matrix, one room, burst");
    let s2 = r.measurements.iter().find(|m| m.scenario == "S2");
    let cpu = s1_burst.and_then(|m| m.bridge_cpu_s_per_1000);
    let _ = writeln!(
        s,
        "| <= 0.1 CPU s per 1,000 messages through Synapse (S1 burst) | {} | {} |",
        opt(cpu, 3),
        verdict(cpu.map(|c| c <= 0.1))
    );
    let idle = r.memory.idle_rss_mib;
    let _ = writeln!(
        s,
        "| <= 20 MB RSS idle | {:.1} MiB ({:.1} own, {:.1} file pages) | {} |",
        idle,
        r.memory.idle_anon_file_mib.0,
        r.memory.idle_anon_file_mib.1,
        verdict(Some(idle * 1.048_576 <= 20.0))
    );
    let after = r.memory.after_rss_mib;
    let enough = r.memory.messages_before_after >= 5000;
    let _ = writeln!(
        s,
        "| <= 30 MB RSS after 5,000 messages | {:.1} MiB ({:.1} own, {:.1} file pages) after {} | {} |",
        after,
        r.memory.after_anon_file_mib.0,
        r.memory.after_anon_file_mib.1,
        r.memory.messages_before_after,
        if enough {
            verdict(Some(after * 1.048_576 <= 30.0))
        } else if after * 1.048_576 > 30.0 {
            "**missed** (already, with fewer messages)"
        } else {
            "not measured (fewer than 5,000 messages)"
        }
    );
    let added = at_rate(r, "S1", 20.0)
        .zip(at_rate(r, "baseline", 20.0))
        .map(|(b, base)| b.latency.p99_ms - base.latency.p99_ms);
    let _ = writeln!(
        s,
        "| p99 added latency <= 2 ms at 20 msg/s (S1 - baseline) | {} ms | {} |",
        opt(added, 1),
        verdict(added.map(|a| a <= 2.0))
    );
    let one = s1_burst
        .zip(seq)
        .map(|(b, base)| 100.0 * b.achieved_msg_s / base.achieved_msg_s);
    let _ = writeln!(
        s,
        "| >= 98% of the sequential baseline in one room (S1 burst) | {}% | {} |",
        opt(one, 0),
        verdict(one.map(|x| x >= 98.0))
    );
    let many = s2
        .zip(conc)
        .map(|(b, base)| 100.0 * b.achieved_msg_s / base.achieved_msg_s);
    let _ = writeln!(
        s,
        "| >= 95% of the concurrent baseline over {} rooms (S2) | {}% | {} |",
        r.sizes.rooms,
        opt(many, 0),
        verdict(many.map(|x| x >= 95.0))
    );
    let engine = r.engine.iter().map(|e| e.msg_s).reduce(f64::max);
    let _ = writeln!(
        s,
        "| engine alone >= 20,000 msg/s (best of its runs) | {} msg/s | {} |",
        opt(engine, 0),
        verdict(engine.map(|e| e >= 20_000.0))
    );
    let record = record_cost(r).map(|c| c.percent());
    let _ = writeln!(
        s,
        "| the audit record costs < 5% more CPU per message (engine alone, issue 18) | {}% | {} |",
        opt(record, 1),
        verdict(record.map(|p| p < 5.0))
    );
    let warm = s1_burst.and_then(|m| m.homeserver_requests_per_msg);
    let _ = writeln!(
        s,
        "| a warm text message costs exactly 1 homeserver request (S1 burst) | {} | {} |",
        opt(warm, 2),
        verdict(warm.map(|w| (w - 1.0).abs() < 0.005))
    );
    s
}

/// The connectors' requests to their platforms' web APIs, per run through a fake.
fn platform_requests(r: &Report) -> String {
    let runs: Vec<_> = r
        .measurements
        .iter()
        .filter_map(|m| Some((m, m.platform_requests.as_ref()?)))
        .collect();
    if runs.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n## Platform API requests by method\n\n\
         What the connector asked of the platform's web API (Slack's Web API, Rocket.Chat's \
         REST API, Microsoft Graph for Teams with its ids shown as `{id}`; Socket Mode, the \
         realtime API and Teams sign-in and token renewal are not counted) during each run \
         through a fake: the figures to hold against the platforms' rate limits. Teams \
         polls, so its receiving side costs Graph requests per poll round, whether or not a \
         message came, and its count per message falls with more messages per round; the \
         rounds while a Matrix -> Teams run waits are counted with that run.\n\n",
    );
    for (m, requests) in runs {
        let total: u64 = requests.values().sum();
        let _ = writeln!(
            s,
            "- {} {} ({} messages): {:.2} per message",
            m.scenario,
            m.description,
            m.messages,
            total as f64 / m.messages.max(1) as f64
        );
        write_routes(&mut s, requests, m.messages);
    }
    s
}

/// One indented line per route: its count, and per message over `messages`.
fn write_routes(s: &mut String, routes: &crate::proxy::RouteCounts, messages: usize) {
    for (route, n) in routes {
        let _ = writeln!(
            s,
            "  - `{route}`: {n} ({:.2} per message)",
            *n as f64 / messages.max(1) as f64
        );
    }
}

/// What encryption adds per message: S6 (an encrypted room) against the S1 burst (the same
/// traffic in a plain room) of the same run.
fn encryption_cost(r: &Report) -> String {
    let plain = find(r, "S1", "remote -> Matrix, one room, burst");
    let encrypted = r.measurements.iter().find(|m| m.scenario == "S6");
    let (Some(plain), Some(encrypted)) = (plain, encrypted) else {
        return String::new();
    };
    let mut s = String::from("## The cost of encryption (S6 against the S1 burst)\n\n");
    let cpu = match (encrypted.bridge_cpu_s_per_1000, plain.bridge_cpu_s_per_1000) {
        (Some(e), Some(p)) => format!(
            "{e:.3} vs {p:.3} CPU s per 1,000 messages: {:.0} µs more per message ({:.2}x)",
            (e - p) * 1000.0,
            e / p.max(f64::MIN_POSITIVE)
        ),
        _ => "not measured".into(),
    };
    let _ = writeln!(
        s,
        "- Bridge CPU: {cpu}\n- Throughput: {:.1} vs {:.1} msg/s ({:.0}%)\n- Latency p50 / p99: \
         {:.1} / {:.1} ms vs {:.1} / {:.1} ms\n",
        encrypted.achieved_msg_s,
        plain.achieved_msg_s,
        100.0 * encrypted.achieved_msg_s / plain.achieved_msg_s.max(f64::MIN_POSITIVE),
        encrypted.latency.p50_ms,
        encrypted.latency.p99_ms,
        plain.latency.p50_ms,
        plain.latency.p99_ms,
    );
    s
}
