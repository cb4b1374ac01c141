//! The chaos suite (issue 14): numbered messages both ways across Slack and Rocket.Chat while
//! the bridge is SIGKILLed at random moments, platform sockets drop, 429 storms come, the
//! database is held busy (SQLite) or restarted (PostgreSQL) and, when asked, Synapse restarts.
//! Afterwards every lane must have delivered each message exactly once, in order. Bounded in
//! count and time, loopback only. Run small by the test suite (`tests/chaos_smoke.rs`) and at
//! full size by `cargo xtask chaos`.

pub mod check;
pub mod db_proxy;
pub mod faults;
pub mod lanes;
pub mod progress;
pub mod timeline;
pub mod world;

use check::{LaneResult, judge};
use faults::Fault;
use lanes::{Ends, Lane};
use progress::Progress;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use timeline::Moment;
use world::World;

/// How big and how rough a run is.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    /// The test bridge binary (`aqueduct-testnet-bridge`), run as a process to be killed.
    pub bridge_bin: PathBuf,
    /// Messages per lane (four lanes: each platform, each way).
    pub messages: usize,
    /// Messages per second each lane offers.
    pub rate: f64,
    /// Mean time between two faults.
    pub fault_every: Duration,
    /// Seed of every random choice (faults, their moments and sizes), printed in the report
    /// so a failing run can be repeated.
    pub seed: u64,
    /// The run gives up once nothing arrived for this long after the last send.
    pub stall: Duration,
    /// The kinds of fault to inflict (not empty); [`Fault::bridge_faults`] by default.
    pub faults: Vec<Fault>,
    /// Kinds inflicted first, once each and in this order, before faults are picked at
    /// random, so even a short run has them (each must be among `faults`).
    pub required: Vec<Fault>,
    /// Faults inflicted at the least, even if the sends are over by then (the bridge then
    /// still has queued work to lose), so a fast machine cannot make a run painless.
    pub min_faults: u32,
    /// An admin URL of a PostgreSQL server (`postgres://postgres@127.0.0.1:5432/test`): the
    /// bridge then runs on a fresh database there, reached through the run's own proxy, and
    /// the database is dropped afterwards. `None`: the bridge runs on SQLite.
    pub postgres: Option<String>,
}

/// What a run did and what arrived.
#[derive(Clone, Debug, Serialize)]
pub struct ChaosReport {
    /// The seed the run used.
    pub seed: u64,
    /// Messages per lane.
    pub messages: usize,
    /// The bridge's database: `SQLite` or `PostgreSQL`.
    pub database: String,
    /// Each lane's verdict.
    pub lanes: Vec<LaneResult>,
    /// Faults inflicted, by kind.
    pub faults: BTreeMap<String, u32>,
    /// Wall-clock seconds from the first send to the last check.
    pub seconds: f64,
    /// Each fault as it was inflicted and, for a lane that failed, when its lost, doubled or
    /// late messages were sent (runs of consecutive numbers), in time order (UTC, as in the
    /// bridge's log).
    pub timeline: Vec<Moment>,
}

impl ChaosReport {
    /// Every lane delivered every message exactly once, in order.
    pub fn passed(&self) -> bool {
        self.lanes.iter().all(LaneResult::passed)
    }

    /// The report as text: one line per lane with its counts, then the faults.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "chaos: {} messages per lane, seed {}, bridge on {}, {:.0} s\n",
            self.messages, self.seed, self.database, self.seconds
        );
        for l in &self.lanes {
            out.push_str(&format!(
                "  {:<24} sent {:>6}  arrived {:>6}  missing {:>4}  duplicated {:>4}  out of order {:>4}  unexpected {:>4}  {}\n",
                l.name,
                l.sent,
                l.arrived,
                l.missing.len(),
                l.duplicated.len(),
                l.out_of_order,
                l.unexpected,
                if l.passed() { "ok" } else { "FAILED" },
            ));
            if !l.missing.is_empty() {
                out.push_str(&format!("    missing: {:?}\n", first(&l.missing)));
            }
            if !l.duplicated.is_empty() {
                out.push_str(&format!("    duplicated: {:?}\n", first(&l.duplicated)));
            }
            if !l.late.is_empty() {
                out.push_str(&format!("    out of order: {:?}\n", first(&l.late)));
            }
            if !l.homeserver_lost.is_empty() {
                out.push_str(&format!(
                    "    never delivered by Synapse (not lost by the bridge): {:?}\n",
                    first(&l.homeserver_lost)
                ));
            }
            if !l.homeserver_reordered.is_empty() {
                out.push_str(&format!(
                    "    late as Synapse delivered them (not the bridge's order): {:?}\n",
                    first(&l.homeserver_reordered)
                ));
            }
        }
        let total: u32 = self.faults.values().sum();
        out.push_str(&format!("  faults inflicted: {total}\n"));
        for (name, n) in &self.faults {
            out.push_str(&format!("    {name}: {n}\n"));
        }
        if !self.passed() {
            out.push_str("  timeline (UTC):\n");
            for m in &self.timeline {
                out.push_str(&format!("    {}  {}\n", m.at, m.what));
            }
        }
        out
    }
}

/// How often a run says how far it got (on standard error).
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// The first few of a list, for a readable report.
fn first(numbers: &[usize]) -> &[usize] {
    &numbers[..numbers.len().min(20)]
}

/// Runs the suite once. `Err` only when the world could not be set up or torn down; lost,
/// doubled or reordered messages are in the report.
pub async fn run(options: ChaosOptions) -> anyhow::Result<ChaosReport> {
    anyhow::ensure!(
        !options.faults.is_empty(),
        "a chaos run needs a kind of fault"
    );
    let postgres = options.postgres.is_some();
    for fault in options.faults.iter().chain(&options.required) {
        anyhow::ensure!(
            fault.fits(postgres),
            "{} does not fit a bridge on {}",
            fault.name(),
            if postgres { "PostgreSQL" } else { "SQLite" }
        );
    }
    for fault in &options.required {
        anyhow::ensure!(
            options.faults.contains(fault),
            "{} is required but not among the run's faults",
            fault.name()
        );
    }
    let mut world = World::start(options.bridge_bin.clone(), options.postgres.as_deref()).await?;
    // Whatever happens, the world is torn down (the scratch database dropped).
    let outcome = drive(&mut world, &options).await;
    let stopped = world.stop().await;
    let report = outcome?;
    stopped?;
    Ok(report)
}

/// Sends, inflicts faults and collects the verdicts.
async fn drive(world: &mut World, options: &ChaosOptions) -> anyhow::Result<ChaosReport> {
    let ends = Ends {
        alice: world.alice.clone(),
        slack_room: world.slack.room.clone(),
        rocketchat_room: world.rocketchat.room.clone(),
        slack: world.fakes.slack.clone(),
        rocketchat: world.fakes.rocketchat.clone(),
    };
    let started = Instant::now();
    let progress = Arc::new(Progress::default());
    let printer = progress.print_every(PROGRESS_EVERY, started, options.messages);
    // Senders give up on Matrix only long after any fault has healed.
    let give_up = tokio::time::Instant::now()
        + Duration::from_secs_f64(options.messages as f64 / options.rate)
        + options.stall * 4;
    let senders: Vec<_> = Lane::ALL
        .iter()
        .map(|&lane| {
            let (ends, progress) = (ends.clone(), progress.clone());
            let (n, gap) = (
                options.messages,
                Duration::from_secs_f64(1.0 / options.rate),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(gap);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut sent_at = Vec::with_capacity(n);
                let mut event_ids = Vec::with_capacity(n);
                for i in 0..n {
                    tick.tick().await;
                    sent_at.push(SystemTime::now());
                    event_ids.push(ends.send(lane, i, give_up).await?);
                    progress.sent(lane);
                }
                anyhow::Ok((sent_at, event_ids))
            })
        })
        .collect();

    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut faults = BTreeMap::new();
    let mut timeline = Vec::new();
    let mut inflicted = 0;
    let sending = |senders: &[tokio::task::JoinHandle<_>]| !senders.iter().all(|s| s.is_finished());
    let least = options.min_faults.max(options.required.len() as u32);
    while sending(&senders) || inflicted < least {
        let mean = options.fault_every.as_secs_f64();
        let wait = Duration::from_secs_f64(rng.random_range(mean * 0.5..mean * 1.5));
        tokio::time::sleep(wait).await;
        if !sending(&senders) && inflicted >= least {
            break;
        }
        // The required faults come first, so even a short run has them.
        let fault = match options.required.get(inflicted as usize) {
            Some(&required) => required,
            None => Fault::pick(&options.faults, &mut rng),
        };
        inflicted += 1;
        progress.fault();
        tracing::info!(fault = fault.name(), "inflicting");
        let at = SystemTime::now();
        let details = fault.inflict(world, &mut rng).await?;
        timeline.push((
            at,
            match details {
                Some(d) => format!("{} ({d})", fault.name()),
                None => fault.name().to_owned(),
            },
        ));
        *faults.entry(fault.name().to_owned()).or_insert(0) += 1;
    }
    let (mut sent_at, mut event_ids) = (Vec::new(), Vec::new());
    for s in senders {
        let (at, ids) = s.await??;
        sent_at.push(at);
        event_ids.push(ids);
    }
    drop(printer);
    eprintln!("{}", progress.sending_line(started, options.messages));

    let mut lanes = wait_for_arrivals(&ends, options.messages, options.stall, started).await?;
    // Matrix -> platform lanes answer for the order Synapse delivered in, not the send order.
    let delivered = delivered_event_ids(&world.env.bridge_log());
    let delivered_set: std::collections::HashSet<&str> =
        delivered.iter().map(String::as_str).collect();
    for ((lane, result), ids) in Lane::ALL.iter().zip(&mut lanes).zip(&event_ids) {
        if ids.iter().all(Option::is_none) {
            continue;
        }
        check::excuse_homeserver_losses(result, |n| {
            ids.get(n)
                .and_then(Option::as_deref)
                .is_some_and(|id| !delivered.is_empty() && !delivered_set.contains(id))
        });
        if result.late.is_empty() {
            continue;
        }
        let number: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .filter_map(|(n, id)| Some((id.as_deref()?, n)))
            .collect();
        let order: Vec<usize> = delivered
            .iter()
            .filter_map(|id| number.get(id.as_str()).copied())
            .collect();
        check::excuse_homeserver_order(result, &ends.arrivals(*lane).await?, &order);
    }
    for (lane, sent_at) in lanes.iter().zip(&sent_at) {
        let kinds = [
            (&lane.missing, "lost"),
            (&lane.duplicated, "doubled"),
            (&lane.late, "late (after higher numbers)"),
        ];
        for (numbers, state) in kinds {
            for (from, to) in timeline::runs(numbers).into_iter().take(20) {
                let what = match from == to {
                    true => format!("{}: {from} {state}: sent", lane.name),
                    false => format!(
                        "{}: {from}-{to} {state}: sent from here to {}",
                        lane.name,
                        timeline::utc(sent_at[to])
                    ),
                };
                timeline.push((sent_at[from], what));
            }
        }
    }
    timeline.sort_by_key(|(at, _)| *at);
    let timeline = timeline
        .into_iter()
        .map(|(at, what)| Moment::new(at, what))
        .collect();
    let report = ChaosReport {
        seed: options.seed,
        messages: options.messages,
        database: match options.postgres {
            Some(_) => "PostgreSQL".into(),
            None => "SQLite".into(),
        },
        lanes,
        faults,
        seconds: started.elapsed().as_secs_f64(),
        timeline,
    };
    if !report.passed() {
        let kept = std::env::temp_dir().join(format!("aqueduct-chaos-{}-bridge.log", options.seed));
        std::fs::write(&kept, world.env.bridge_log())?;
        eprintln!(
            "chaos: the bridge's whole log is kept in {}; it ends with:\n{}",
            kept.display(),
            world.bridge_log_tail(40)
        );
    }
    Ok(report)
}

/// The Matrix event ids the bridge's log says it stored, in order (its `transaction stored`
/// lines at debug level); an event delivered again counts where it came first.
fn delivered_event_ids(log: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut ids = Vec::new();
    for line in log.lines().filter(|l| l.contains("transaction stored")) {
        let plain = strip_ansi(line);
        let Some(rest) = plain.split("event_ids=").nth(1) else {
            continue;
        };
        let list = rest.split_whitespace().next().unwrap_or_default();
        for id in list
            .trim_matches('"')
            .split(',')
            .filter(|id| !id.is_empty())
        {
            if seen.insert(id.to_owned()) {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

/// `line` without its terminal colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads every lane's far end until all messages are there or nothing new arrived for
/// `stall`; returns each lane's verdict on what arrived by then.
async fn wait_for_arrivals(
    ends: &Ends,
    messages: usize,
    stall: Duration,
    started: Instant,
) -> anyhow::Result<Vec<LaneResult>> {
    let mut last_total = 0;
    let mut last_progress = Instant::now();
    let mut last_printed = Instant::now();
    loop {
        let mut results = Vec::new();
        for lane in Lane::ALL {
            results.push(judge(lane.name(), messages, &ends.arrivals(lane).await?));
        }
        let total: usize = results.iter().map(|r| r.arrived).sum();
        let complete = results.iter().all(|r| r.arrived == r.sent);
        if total > last_total {
            last_total = total;
            last_progress = Instant::now();
        }
        if last_printed.elapsed() >= PROGRESS_EVERY {
            last_printed = Instant::now();
            let arrived: Vec<(String, usize)> = results
                .iter()
                .map(|r| (r.name.clone(), r.arrived))
                .collect();
            eprintln!("{}", progress::arrived_line(started, &arrived, messages));
        }
        if complete || last_progress.elapsed() > stall {
            // A duplicate can trail its original: look once more after a short while.
            if complete {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let mut settled = Vec::new();
                for lane in Lane::ALL {
                    settled.push(judge(lane.name(), messages, &ends.arrivals(lane).await?));
                }
                return Ok(settled);
            }
            return Ok(results);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::delivered_event_ids;

    #[test]
    fn the_delivery_order_is_read_from_coloured_and_plain_logs() {
        let log = "\u{1b}[2m2026-12-07T15:11:29Z\u{1b}[0m \u{1b}[34mDEBUG\u{1b}[0m \u{1b}[2maqueduct_matrix::appservice_server\u{1b}[0m\u{1b}[2m:\u{1b}[0m transaction stored \u{1b}[3mtxn_id\u{1b}[0m\u{1b}[2m=\u{1b}[0m\"59\" \u{1b}[3mevent_ids\u{1b}[0m\u{1b}[2m=\u{1b}[0m$b:hs,$c:hs\n\
            2026-12-07T15:11:30Z  INFO other line event_ids=$x:hs\n\
            2026-12-07T15:11:31Z DEBUG aqueduct_matrix::appservice_server: transaction stored txn_id=\"51\" event_ids=$a:hs,$b:hs\n";
        assert_eq!(delivered_event_ids(log), ["$b:hs", "$c:hs", "$a:hs"]);
    }
}
