//! The scenarios: the baseline (the appservice token sending as ghosts straight to Synapse)
//! and S1-S6 through the bridge, each run with the same counts and rates; S1 and S3 also
//! through the Slack, Rocket.Chat and Teams connectors against their fakes.

mod hub;
pub use hub::{HUB, HubRoom};

use crate::appservice::Appservice;
use crate::env::BenchEnv;
use crate::measure::{Measurement, Pacer, Sends, SequentialGaps, Snapshot, measurement};
use crate::platforms::Side;
use crate::proxy::CountingProxy;
use aqueduct_testkit::matrix_client::MatrixClient;
use aqueduct_testkit::testnet_server::{NetAttachment, TestNet};
use std::collections::HashMap;
use std::time::Duration;

/// How big a run is.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sizes {
    /// Open-loop rates, msg/s.
    pub rates: Vec<f64>,
    /// Seconds each open-loop rate runs.
    pub rate_secs: f64,
    /// Messages in a burst (S1, and spread over the rooms in S2).
    pub burst: usize,
    /// Rooms in S2 and in the concurrent baseline.
    pub rooms: usize,
    /// New remote users in S4.
    pub new_users: usize,
    /// Events of each kind in S5.
    pub mix_each: usize,
    /// Portals in the start-up measurement.
    pub portals: usize,
    /// Messages through the engine alone (in-process homeserver and platform).
    pub engine_messages: usize,
}

impl Sizes {
    /// The full run (the counts).
    pub fn full() -> Self {
        Self {
            rates: vec![5.0, 10.0, 20.0, 40.0, 80.0],
            rate_secs: 10.0,
            burst: 1000,
            rooms: 10,
            new_users: 100,
            mix_each: 50,
            portals: 10_000,
            engine_messages: 20_000,
        }
    }

    /// A smoke run: every scenario, tiny counts.
    pub fn quick() -> Self {
        Self {
            rates: vec![5.0, 20.0],
            rate_secs: 2.0,
            burst: 40,
            rooms: 4,
            new_users: 5,
            mix_each: 3,
            portals: 200,
            engine_messages: 1_000,
        }
    }
}

/// How many Matrix sends the S3 user keeps in flight at once.
const MATRIX_SENDS_IN_FLIGHT: usize = 64;
/// Longest a run may take to arrive before the bench gives up.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(300);
/// The remote user whose messages the warm scenarios send.
const BOB: &str = "bob";
/// The remote account the Matrix user logs in as.
const ALICE: &str = "alice_r";
/// The chat Matrix -> remote messages go to (its own, so waiting on it stays cheap).
const OUT_CHAT: &str = "out";
/// The chat S4's new users post in.
const CROWD_CHAT: &str = "crowd";
/// The chat whose portal is encrypted (S6).
const SECRET_CHAT: &str = "secret";

/// A bridged chat and its Matrix room.
#[derive(Clone)]
pub struct Portal {
    /// Remote chat id.
    pub chat: String,
    /// Matrix room id.
    pub room: String,
    /// The platform of the chat.
    pub side: Side,
}

/// Everything the scenarios share once set up.
pub struct Bench {
    /// The environment.
    pub env: BenchEnv,
    /// The bridge process's id.
    pub bridge_pid: u32,
    /// The appservice, through the proxy.
    pub appservice: Appservice,
    /// The logged-in Matrix user (straight to Synapse: its requests are not the bridge's).
    pub user: MatrixClient,
    /// Warm portals c0..c<rooms>, each with Bob's ghost in it.
    pub portals: Vec<Portal>,
    /// The Matrix -> remote portal.
    pub out: Portal,
    /// S4's portal.
    pub crowd: Portal,
    /// Baseline rooms with one ghost each: (room, ghost).
    pub baseline_rooms: Vec<(String, String)>,
    /// The encrypted portal (S6).
    pub secret: Portal,
    /// The portal of the fake Slack's channel.
    pub slack: Portal,
    /// The portal of the fake Rocket.Chat's room.
    pub rocketchat: Portal,
}

fn net(b: &Bench) -> &TestNet {
    &b.env.env.net
}

fn proxy(b: &Bench) -> &CountingProxy {
    &b.env.proxy
}

impl Bench {
    /// Logs a Matrix user in, opens the portals (their first messages create the rooms and
    /// ghosts, so the measured ones are warm) and the baseline's rooms.
    pub async fn set_up(env: BenchEnv, bridge_pid: u32, rooms: usize) -> anyhow::Result<Self> {
        let e = &env.env;
        let token = e.net.add_user(ALICE, "Alice Remote");
        e.net.add_user(BOB, "Bob Remote");
        let user = e.user("bench").await?;
        e.login(&user, &token).await?;
        let mut chats: Vec<String> = (0..rooms).map(|i| format!("c{i}")).collect();
        chats.push(OUT_CHAT.into());
        chats.push(CROWD_CHAT.into());
        chats.push(SECRET_CHAT.into());
        let mut by_chat = HashMap::new();
        for chat in &chats {
            e.net.add_chat(chat, Some(chat), &[ALICE, BOB], false);
            e.net.post(chat, BOB, &format!("warm-up {chat}"));
        }
        for _ in &chats {
            // Synapse may answer a sync from its cache, repeating invites already accepted.
            let known: Vec<&str> = by_chat.values().map(String::as_str).collect();
            let room = user
                .wait_for_invite_except(Some(&e.bot), &known, ARRIVAL_TIMEOUT)
                .await?;
            user.join(&room).await?;
            let name = user.state_event(&room, "m.room.name", "").await?;
            let chat = name
                .as_ref()
                .and_then(|n| n["name"].as_str())
                .ok_or_else(|| anyhow::anyhow!("portal {room} has no name"))?
                .to_owned();
            by_chat.insert(chat, room);
        }
        let mut portal = |chat: &str| -> anyhow::Result<Portal> {
            let room = by_chat
                .remove(chat)
                .ok_or_else(|| anyhow::anyhow!("no portal for {chat}"))?;
            Ok(Portal {
                chat: chat.to_owned(),
                room,
                side: Side::TestNet,
            })
        };
        let crowd = portal(CROWD_CHAT)?;
        let secret = portal(SECRET_CHAT)?;
        let out = portal(OUT_CHAT)?;
        let opened = (0..rooms)
            .map(|i| portal(&format!("c{i}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Every warm-up message is in before measuring starts.
        let warm = chats.len() as u64;
        env.proxy
            .wait_until("the warm-up messages", ARRIVAL_TIMEOUT, |p| {
                p.sent("m.room.message") >= warm
            })
            .await?;

        let mut known: Vec<&str> = opened.iter().map(|p| p.room.as_str()).collect();
        known.extend([crowd.room.as_str(), secret.room.as_str(), out.room.as_str()]);
        // A portal that never opens is the bridge's to explain: its log goes with the error
        // (it lives in the environment's directory, gone once this returns).
        let (slack, rocketchat) = env
            .fakes
            .open_portals(e, &user, &known, ARRIVAL_TIMEOUT)
            .await
            .map_err(|err| err.context(format!("the bridge's log:\n{}", e.bridge_log())))?;
        env.proxy
            .wait_until("the platforms' warm-up messages", ARRIVAL_TIMEOUT, |p| {
                p.sent("m.room.message") >= warm + 2
            })
            .await?;

        let appservice = Appservice::new(env.proxy.url(), &env.as_token, &e.bot);
        encrypt_portal(&env, &appservice, &secret).await?;
        let mut baseline_rooms = Vec::new();
        for i in 0..rooms {
            let ghost = appservice.register(&format!("aqueduct_base_{i}")).await?;
            // The same audience as a portal: a real user reads the room. Synapse evaluates
            // push rules and counts notifications for each local user who is not an
            // appservice user, so a room of only the bot and a ghost would be a cheaper room
            // than any portal, not the same messages.
            let room = appservice
                .room_with(std::slice::from_ref(&ghost), &[user.user_id()])
                .await?;
            user.join(&room).await?;
            baseline_rooms.push((room, ghost));
        }
        Ok(Self {
            env,
            bridge_pid,
            appservice,
            user,
            portals: opened,
            out,
            crowd,
            secret,
            baseline_rooms,
            slack,
            rocketchat,
        })
    }

    /// Signs the Matrix user in to Teams and opens the fake Teams chat's portal. Done just
    /// before the Teams runs rather than in [`Bench::set_up`], so that the connector's
    /// polling (a round every [`crate::platforms::TEAMS_POLL_INTERVAL_SECS`] s) does not run
    /// beside the other scenarios and add to their figures.
    pub async fn open_teams(&self) -> anyhow::Result<Portal> {
        let mut known: Vec<&str> = self.portals.iter().map(|p| p.room.as_str()).collect();
        known.extend(
            [
                &self.out,
                &self.crowd,
                &self.secret,
                &self.slack,
                &self.rocketchat,
            ]
            .map(|p| p.room.as_str()),
        );
        // The baseline rooms came as invites from the bot too.
        known.extend(self.baseline_rooms.iter().map(|(room, _)| room.as_str()));
        self.env
            .fakes
            .open_teams_portal(&self.env.env, &self.user, &known, ARRIVAL_TIMEOUT)
            .await
    }

    /// Baseline, ordered ceiling: one ghost sends `n` messages into one room, each after the
    /// previous one was accepted.
    pub async fn baseline_sequential(&self, n: usize) -> anyhow::Result<Measurement> {
        let (room, ghost) = &self.baseline_rooms[0];
        let tag = "base-seq:";
        let snap = Snapshot::take(None, proxy(self))?;
        let mark = proxy(self).sends_timed();
        let mut sends = Sends::default();
        for i in 0..n {
            let body = format!("{tag}{i}");
            sends.mark(&body);
            self.appservice
                .send_text(room, ghost, &format!("bs{i}"), &body)
                .await?;
        }
        let (_, routes) = snap.since(None, proxy(self))?;
        let gaps = SequentialGaps::of(&proxy(self).send_times_since(mark));
        let arrivals = self.appservice.origin_times(room, tag, n).await?;
        let mut m = measurement(
            "baseline",
            "appservice token, one room, sequential (ordered ceiling)".into(),
            None,
            n,
            sends.against(&arrivals),
            None,
            routes,
        );
        m.sequential = Some(gaps);
        Ok(m)
    }

    /// Baseline over rooms: one sequential sender per room, all rooms at once.
    pub async fn baseline_concurrent(&self, n: usize) -> anyhow::Result<Measurement> {
        let tag = "base-conc:";
        let rooms = self.baseline_rooms.len();
        let per_room = n.div_ceil(rooms);
        let snap = Snapshot::take(None, proxy(self))?;
        let mut tasks = Vec::new();
        for (r, (room, ghost)) in self.baseline_rooms.iter().enumerate() {
            let (appservice, room, ghost) = (self.appservice.clone(), room.clone(), ghost.clone());
            tasks.push(tokio::spawn(async move {
                let mut sends = Sends::default();
                for i in 0..per_room {
                    let body = format!("{tag}{r}-{i}");
                    sends.mark(&body);
                    appservice
                        .send_text(&room, &ghost, &format!("bc{r}-{i}"), &body)
                        .await?;
                }
                anyhow::Ok(sends)
            }));
        }
        let mut sends = Sends::default();
        for t in tasks {
            sends.at.extend(t.await??.at);
        }
        let (_, routes) = snap.since(None, proxy(self))?;
        let mut arrivals = HashMap::new();
        for (room, _) in &self.baseline_rooms {
            arrivals.extend(self.appservice.origin_times(room, tag, per_room).await?);
        }
        Ok(measurement(
            "baseline",
            format!("appservice token, {rooms} rooms concurrently, sequential in each"),
            None,
            per_room * rooms,
            sends.against(&arrivals),
            None,
            routes,
        ))
    }

    /// Baseline at an offered rate into one room: each send starts on schedule, whether or
    /// not the previous one was answered.
    pub async fn baseline_open_loop(&self, rate: f64, n: usize) -> anyhow::Result<Measurement> {
        let (room, ghost) = self.baseline_rooms[0].clone();
        let tag = format!("base-r{rate}:");
        let snap = Snapshot::take(None, proxy(self))?;
        let pacer = Pacer::new(Some(rate));
        let mut sends = Sends::default();
        let mut tasks = Vec::new();
        for i in 0..n {
            pacer.slot(i).await;
            let body = format!("{tag}{i}");
            sends.mark(&body);
            let (appservice, room, ghost) = (self.appservice.clone(), room.clone(), ghost.clone());
            let txn = format!("br{rate}-{i}");
            tasks.push(tokio::spawn(async move {
                appservice.send_text(&room, &ghost, &txn, &body).await
            }));
        }
        for t in tasks {
            t.await??;
        }
        let (_, routes) = snap.since(None, proxy(self))?;
        let arrivals = self.appservice.origin_times(&room, &tag, n).await?;
        Ok(measurement(
            "baseline",
            format!("appservice token, one room, open loop at {rate} msg/s"),
            Some(rate),
            n,
            sends.against(&arrivals),
            None,
            routes,
        ))
    }

    /// Remote -> Matrix: Bob posts `n` messages spread over `portals` (round robin), at
    /// `rate` or all at once; measured until the bridge has sent them all to Synapse.
    pub async fn remote_to_matrix(
        &self,
        scenario: &str,
        description: String,
        portals: &[Portal],
        senders: &[String],
        rate: Option<f64>,
        n: usize,
    ) -> anyhow::Result<Measurement> {
        let tag = tag_of(scenario, rate);
        let pid = Some(self.bridge_pid);
        let sent_before = proxy(self).sent("m.room.message");
        let snap = Snapshot::take(pid, proxy(self))?;
        let mark = proxy(self).sends_timed();
        let pacer = Pacer::new(rate);
        let mut sends = Sends::default();
        for i in 0..n {
            pacer.slot(i).await;
            let portal = &portals[i % portals.len()];
            let body = format!("{tag}{i}");
            sends.mark(&body);
            self.post(portal, &senders[i % senders.len()], &body);
        }
        // A Teams message's time is the fake's `createdDateTime` (its clock moves at least
        // 1 ms per message and request, so a fast burst's times run slightly ahead of ours).
        for p in portals.iter().filter(|p| p.side == Side::Teams) {
            let made = self.env.fakes.teams.messages(&p.chat);
            sends.at.extend(arrivals(made, &tag));
        }
        proxy(self)
            .wait_until(&format!("{n} messages of {tag}"), ARRIVAL_TIMEOUT, |p| {
                p.sent("m.room.message") >= sent_before + n as u64
            })
            .await?;
        let (cpu, routes) = snap.since(pid, proxy(self))?;
        // One room, all at once: the bridge's queue sends one after another.
        let gaps = (portals.len() == 1 && rate.is_none())
            .then(|| SequentialGaps::of(&proxy(self).send_times_since(mark)));
        let mut arrivals = HashMap::new();
        for p in portals {
            let expected = n.div_ceil(portals.len());
            arrivals.extend(
                self.appservice
                    .origin_times(&p.room, &tag, expected)
                    .await?,
            );
        }
        let mut m = measurement(
            scenario,
            description,
            rate,
            n,
            sends.against(&arrivals),
            Some(cpu),
            routes,
        );
        m.sequential = gaps;
        Ok(m)
    }

    /// S3, Matrix -> remote: the Matrix user sends `n` messages at `rate` (or all at once)
    /// into `portal`; measured until its platform has received them all. `scenario` names
    /// the run (`S3`, or `S3` with the platform's name).
    pub async fn matrix_to_remote(
        &self,
        scenario: &str,
        portal: &Portal,
        rate: Option<f64>,
        n: usize,
    ) -> anyhow::Result<Measurement> {
        let tag = tag_of(scenario, rate);
        let pid = Some(self.bridge_pid);
        let snap = Snapshot::take(pid, proxy(self))?;
        let pacer = Pacer::new(rate);
        let mut sends = Sends::default();
        let mut tasks = Vec::new();
        // A burst of a thousand at once would open a thousand connections to Synapse, whose
        // listen backlog then drops some (connect timeouts); a client keeps a few in flight.
        let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(MATRIX_SENDS_IN_FLIGHT));
        for i in 0..n {
            pacer.slot(i).await;
            let body = format!("{tag}{i}");
            sends.mark(&body);
            let (user, room) = (self.user.clone(), portal.room.clone());
            let in_flight = in_flight.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = in_flight.acquire_owned().await?;
                user.send_text(&room, &body).await
            }));
        }
        for t in tasks {
            t.await??;
        }
        let arrivals = self.received(portal, &tag, n).await?;
        let (cpu, routes) = snap.since(pid, proxy(self))?;
        Ok(measurement(
            scenario,
            format!(
                "Matrix -> {}, one room, {}",
                side_name(portal.side),
                rate.map_or("burst".to_owned(), |r| format!("open loop at {r} msg/s"))
            ),
            rate,
            n,
            sends.against(&arrivals),
            Some(cpu),
            routes,
        ))
    }

    /// A remote user posts `body` in the chat of `portal` on its platform.
    fn post(&self, portal: &Portal, sender: &str, body: &str) {
        let fakes = &self.env.fakes;
        match portal.side {
            Side::TestNet => {
                net(self).post(&portal.chat, sender, body);
            }
            Side::Slack => {
                fakes.slack.post(&portal.chat, sender, body, None);
            }
            Side::RocketChat => {
                fakes.rocketchat.post(&portal.chat, sender, body, None);
            }
            Side::Teams => {
                fakes.teams.post(&portal.chat, sender, body);
            }
        }
    }

    /// Waits until the chat of `portal` holds `n` messages starting with `tag`; returns each
    /// one's text and its platform's receive time (ms since the epoch).
    async fn received(
        &self,
        portal: &Portal,
        tag: &str,
        n: usize,
    ) -> anyhow::Result<HashMap<String, f64>> {
        let fakes = &self.env.fakes;
        Ok(match portal.side {
            Side::TestNet => arrivals(
                net(self)
                    .wait_for(&portal.chat, ARRIVAL_TIMEOUT, |m| {
                        tagged(m, tag).count() >= n
                    })
                    .await?,
                tag,
            ),
            Side::Slack => arrivals(
                fakes
                    .slack
                    .wait_for(&portal.chat, ARRIVAL_TIMEOUT, |m| {
                        tagged(m, tag).count() >= n
                    })
                    .await?,
                tag,
            ),
            Side::RocketChat => arrivals(
                fakes
                    .rocketchat
                    .wait_for(&portal.chat, ARRIVAL_TIMEOUT, |m| {
                        tagged(m, tag).count() >= n
                    })
                    .await?,
                tag,
            ),
            Side::Teams => arrivals(
                fakes
                    .teams
                    .wait_for(&portal.chat, ARRIVAL_TIMEOUT, |m| {
                        tagged(m, tag).count() >= n
                    })
                    .await?,
                tag,
            ),
        })
    }

    /// S4: `n` remote users new to the bridge post their first message each, at once.
    pub async fn new_users(&self, n: usize) -> anyhow::Result<Measurement> {
        let users: Vec<String> = (0..n).map(|i| format!("new{i}")).collect();
        for u in &users {
            net(self).add_user(u, &format!("New User {u}"));
        }
        self.remote_to_matrix(
            "S4",
            format!("first messages of {n} new remote users (ghost creation), one room, burst"),
            std::slice::from_ref(&self.crowd),
            &users,
            None,
            n,
        )
        .await
    }

    /// S5: edits, reactions, thread replies and files, `n` of each, each kind measured as a
    /// burst of its own (requests per event differ by kind).
    pub async fn mix(&self, n: usize) -> anyhow::Result<Vec<Measurement>> {
        let portal = &self.portals[self.portals.len() - 1];
        let chat = portal.chat.as_str();
        let pid = Some(self.bridge_pid);
        // Targets to edit, react to and reply to.
        let before = proxy(self).sent_total();
        let targets: Vec<String> = (0..n)
            .map(|i| net(self).post(chat, BOB, &format!("S5-target:{i}")))
            .collect();
        proxy(self)
            .wait_until("S5 targets", ARRIVAL_TIMEOUT, |p| {
                p.sent_total() >= before + n as u64
            })
            .await?;

        let mut out = Vec::new();
        type Action<'a> = Box<dyn Fn(usize) + 'a>;
        let kinds: Vec<(&str, Action)> = vec![
            (
                "edits",
                Box::new(|i| net(self).edit(chat, &targets[i], BOB, &format!("S5-edited:{i}"))),
            ),
            (
                "reactions",
                Box::new(|i| net(self).react(chat, &targets[i], BOB, "👍", true)),
            ),
            (
                "thread replies",
                Box::new(|i| {
                    net(self).post_full(
                        chat,
                        BOB,
                        &format!("S5-thread:{i}"),
                        None,
                        None,
                        Some(&targets[i]),
                        vec![],
                    );
                }),
            ),
            (
                "files (1 KiB)",
                Box::new(|i| {
                    net(self).post_full(
                        chat,
                        BOB,
                        "",
                        None,
                        None,
                        None,
                        vec![NetAttachment {
                            name: format!("f{i}.bin"),
                            mime: "application/octet-stream".into(),
                            data_hex: "ab".repeat(1024),
                        }],
                    );
                }),
            ),
        ];
        for (kind, act) in kinds {
            let before = proxy(self).sent_total();
            let snap = Snapshot::take(pid, proxy(self))?;
            let started = crate::stats::now_ms();
            for i in 0..n {
                act(i);
            }
            proxy(self)
                .wait_until(&format!("S5 {kind}"), ARRIVAL_TIMEOUT, |p| {
                    p.sent_total() >= before + n as u64
                })
                .await?;
            let secs = ((crate::stats::now_ms() - started) / 1000.0).max(0.001);
            let (cpu, routes) = snap.since(pid, proxy(self))?;
            out.push(measurement(
                "S5",
                format!("remote {kind}, one room, burst"),
                None,
                n,
                (Default::default(), n as f64 / secs),
                Some(cpu),
                routes,
            ));
        }
        Ok(out)
    }
}

/// A message as a platform's fake received it.
trait Arrived {
    /// Its text.
    fn text(&self) -> &str;
    /// When the platform received it, ms since the epoch.
    fn received_ms(&self) -> f64;
}

impl Arrived for aqueduct_testkit::testnet_server::NetMessage {
    fn text(&self) -> &str {
        &self.text
    }
    fn received_ms(&self) -> f64 {
        self.ts as f64
    }
}

impl Arrived for aqueduct_testkit::fake_slack::FakeMessage {
    fn text(&self) -> &str {
        &self.text
    }
    fn received_ms(&self) -> f64 {
        // A Slack ts is seconds, with microseconds after the point.
        self.ts.parse::<f64>().unwrap_or(0.0) * 1000.0
    }
}

impl Arrived for aqueduct_testkit::fake_rocketchat::FakeMessage {
    fn text(&self) -> &str {
        &self.text
    }
    fn received_ms(&self) -> f64 {
        self.ts as f64
    }
}

impl Arrived for aqueduct_testkit::fake_teams::TeamsMessage {
    fn text(&self) -> &str {
        // Plain text as HTML, perhaps in one paragraph.
        let html = self.html.as_str();
        html.strip_prefix("<p>")
            .and_then(|h| h.strip_suffix("</p>"))
            .unwrap_or(html)
    }
    fn received_ms(&self) -> f64 {
        // `createdDateTime`, ms since the epoch.
        self.created_ms as f64
    }
}

/// The messages among `messages` whose text starts with `tag`.
fn tagged<'a, M: Arrived>(messages: &'a [M], tag: &'a str) -> impl Iterator<Item = &'a M> {
    messages.iter().filter(move |m| m.text().starts_with(tag))
}

/// Each message whose text starts with `tag`, with the time its platform received it.
fn arrivals<M: Arrived>(messages: Vec<M>, tag: &str) -> HashMap<String, f64> {
    tagged(&messages, tag)
        .map(|m| (m.text().to_owned(), m.received_ms()))
        .collect()
}

/// The prefix of a run's message bodies: the scenario's letters and digits only (no markup
/// any platform could read into it) and the rate.
fn tag_of(scenario: &str, rate: Option<f64>) -> String {
    let id: String = scenario
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{id}-{}:", rate.map_or("burst".into(), |r| r.to_string()))
}

/// The platform's name, as the report says it.
pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::TestNet => "remote",
        Side::Slack => "Slack",
        Side::RocketChat => "Rocket.Chat",
        Side::Teams => "Teams",
    }
}

/// Turns encryption on in `portal`'s room (as the bot, its creator) and waits until the bridge
/// encrypts what it sends there.
async fn encrypt_portal(
    env: &BenchEnv,
    appservice: &Appservice,
    portal: &Portal,
) -> anyhow::Result<()> {
    appservice
        .send_state(
            &portal.room,
            "m.room.encryption",
            &serde_json::json!({"algorithm": "m.megolm.v1.aes-sha2"}),
        )
        .await?;
    // The bridge learns of the change from its next transaction: post until it encrypts.
    for attempt in 0..60 {
        env.env
            .net
            .post(&portal.chat, BOB, &format!("encrypted warm-up {attempt}"));
        let sent = env
            .proxy
            .wait_until("an encrypted warm-up", Duration::from_secs(2), |p| {
                p.sent("m.room.encrypted") >= 1
            })
            .await;
        if sent.is_ok() {
            return Ok(());
        }
    }
    anyhow::bail!("the bridge never encrypted in {}", portal.room)
}

impl Bench {
    /// S6: Bob posts `n` messages at once into the encrypted portal; measured until the
    /// bridge has sent them all, encrypted, to Synapse. Compare with the S1 burst for the
    /// cost of encryption.
    pub async fn encrypted_to_matrix(&self, n: usize) -> anyhow::Result<Measurement> {
        let tag = "S6-burst:";
        let pid = Some(self.bridge_pid);
        let sent_before = proxy(self).sent("m.room.encrypted");
        let snap = Snapshot::take(pid, proxy(self))?;
        let mut sends = Sends::default();
        let mut bodies = Vec::with_capacity(n);
        for i in 0..n {
            let body = format!("{tag}{i}");
            sends.mark(&body);
            net(self).post(&self.secret.chat, BOB, &body);
            bodies.push(body);
        }
        proxy(self)
            .wait_until(&format!("{n} messages of {tag}"), ARRIVAL_TIMEOUT, |p| {
                p.sent("m.room.encrypted") >= sent_before + n as u64
            })
            .await?;
        let (cpu, routes) = snap.since(pid, proxy(self))?;
        let ghost = format!("@aqueduct_testnet_{BOB}:localhost");
        let times = self
            .appservice
            .encrypted_times(&self.secret.room, &ghost, n)
            .await?;
        let arrivals: HashMap<String, f64> = bodies.into_iter().zip(times).collect();
        Ok(measurement(
            "S6",
            "remote -> Matrix, one encrypted room, burst".into(),
            None,
            n,
            sends.against(&arrivals),
            Some(cpu),
            routes,
        ))
    }
}
