//! The failures the chaos run inflicts, one at a time at random moments: the bridge
//! SIGKILLed and restarted, Synapse restarted, platform sockets dropped, closed or silenced,
//! 429 storms with and without `Retry-After`, the bridge's SQLite database held busy or its
//! PostgreSQL database restarted.

use super::db_proxy::Refusal;
use super::world::World;
use rand::Rng;
use rand::rngs::StdRng;
use std::time::Duration;

/// One kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL the bridge (mid-send, whatever it is doing) and start it again.
    KillBridge,
    /// Stop Synapse (SIGTERM) and start it again on the same port and database.
    RestartSynapse,
    /// Slack's Socket Mode connection dropped without a close frame.
    SlackSocketDrop,
    /// Slack asks the app to reconnect (`disconnect` envelope).
    SlackDisconnect,
    /// Rocket.Chat's realtime connections closed and refused for a moment.
    RocketChatRealtimeDown,
    /// A storm of HTTP 429 with `Retry-After` on Slack's `chat.postMessage`.
    SlackRateLimitStorm,
    /// A storm of HTTP 429 on Rocket.Chat's `chat.sendMessage`, which names no `Retry-After`
    /// (Rocket.Chat says when to come back in `X-RateLimit-Reset`).
    RocketChatRateLimitStorm,
    /// Another process holds the bridge's SQLite database in an exclusive transaction.
    DatabaseBusy,
    /// The bridge's PostgreSQL server restarts: every connection cut mid-query, new ones
    /// refused for a moment, by a closed port or (as a pooler or load balancer in front of a
    /// down server does) accepted and closed at once (through the run's proxy; the real
    /// server is left alone).
    DatabaseRestart,
}

impl Fault {
    /// Every kind, in the order the report lists them.
    pub const ALL: [Fault; 9] = [
        Fault::KillBridge,
        Fault::RestartSynapse,
        Fault::SlackSocketDrop,
        Fault::SlackDisconnect,
        Fault::RocketChatRealtimeDown,
        Fault::SlackRateLimitStorm,
        Fault::RocketChatRateLimitStorm,
        Fault::DatabaseBusy,
        Fault::DatabaseRestart,
    ];

    /// The name the report uses.
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillBridge => "bridge SIGKILLed and restarted",
            Fault::RestartSynapse => "Synapse restarted",
            Fault::SlackSocketDrop => "Slack socket dropped",
            Fault::SlackDisconnect => "Slack disconnect request",
            Fault::RocketChatRealtimeDown => "Rocket.Chat realtime down",
            Fault::SlackRateLimitStorm => "Slack 429 storm (Retry-After)",
            Fault::RocketChatRateLimitStorm => "Rocket.Chat 429 storm (no Retry-After)",
            Fault::DatabaseBusy => "bridge database busy (SQLite)",
            Fault::DatabaseRestart => "bridge database restarted (PostgreSQL)",
        }
    }

    /// A short name for the command line (`kill-bridge`, `rocketchat-realtime-down`, ...).
    pub fn flag(self) -> &'static str {
        match self {
            Fault::KillBridge => "kill-bridge",
            Fault::RestartSynapse => "restart-synapse",
            Fault::SlackSocketDrop => "slack-socket-drop",
            Fault::SlackDisconnect => "slack-disconnect",
            Fault::RocketChatRealtimeDown => "rocketchat-realtime-down",
            Fault::SlackRateLimitStorm => "slack-429",
            Fault::RocketChatRateLimitStorm => "rocketchat-429",
            Fault::DatabaseBusy => "database-busy",
            Fault::DatabaseRestart => "database-restart",
        }
    }

    /// The kind whose [`Fault::flag`] is `flag`.
    pub fn from_flag(flag: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.flag() == flag)
    }

    /// The kinds a run inflicts unless told otherwise: all but Synapse restarts, and of the
    /// database faults the one of the bridge's backend (busy on SQLite, restarted on
    /// PostgreSQL). A Synapse restart loses and doubles messages on Synapse's side, whatever
    /// the bridge does: events it had taken for an appservice but not yet put in a
    /// transaction are never pushed (its queue is in memory), and its transaction-id memory,
    /// which makes a retried send return the first event, is in memory too.
    /// `--synapse-restarts` adds them to a run.
    pub fn bridge_faults(postgres: bool) -> Vec<Fault> {
        Fault::ALL
            .into_iter()
            .filter(|f| *f != Fault::RestartSynapse)
            .filter(|f| f.fits(postgres))
            .collect()
    }

    /// Whether the fault can be inflicted on a bridge on PostgreSQL (`postgres`) or SQLite.
    pub fn fits(self, postgres: bool) -> bool {
        match self {
            Fault::DatabaseBusy => !postgres,
            Fault::DatabaseRestart => postgres,
            _ => true,
        }
    }

    /// A kind picked at random among `kinds`; killing the bridge, the fault that matters
    /// most, is drawn twice as often as each other when it is among them.
    pub fn pick(kinds: &[Fault], rng: &mut StdRng) -> Fault {
        let i = rng.random_range(0..kinds.len() + 1);
        kinds
            .get(i)
            .copied()
            .unwrap_or(if kinds.contains(&Fault::KillBridge) {
                Fault::KillBridge
            } else {
                kinds[0]
            })
    }

    /// Inflicts the fault on `world` and returns once the world is whole again (the bridge
    /// serving, Synapse answering, the socket allowed back); what it broke heals on its own.
    /// Returns how it went, for a fault with a length of its own (how long the bridge was
    /// down, an outage lasted, a hold was held) or a variant.
    pub async fn inflict(
        self,
        world: &mut World,
        rng: &mut StdRng,
    ) -> anyhow::Result<Option<String>> {
        let started = tokio::time::Instant::now();
        match self {
            Fault::KillBridge => {
                // A pause of up to a second while down lets work pile up on both sides.
                let down = Duration::from_millis(rng.random_range(0..1000));
                world.kill_bridge().await?;
                tokio::time::sleep(down).await;
                world.start_bridge().await?;
            }
            Fault::RestartSynapse => world.env.synapse.restart().await?,
            Fault::SlackSocketDrop => {
                world.fakes.slack.drop_socket();
                return Ok(None);
            }
            Fault::SlackDisconnect => {
                world.fakes.slack.send_disconnect();
                return Ok(None);
            }
            Fault::RocketChatRealtimeDown => {
                world.fakes.rocketchat.close_realtime();
                tokio::time::sleep(Duration::from_millis(rng.random_range(200..3000))).await;
                world.fakes.rocketchat.open_realtime();
            }
            Fault::SlackRateLimitStorm => {
                let times = rng.random_range(3..20);
                world
                    .fakes
                    .slack
                    .rate_limit("chat.postMessage", times, rng.random_range(1..3));
                return Ok(None);
            }
            Fault::RocketChatRateLimitStorm => {
                let times = rng.random_range(3..20);
                world.fakes.rocketchat.rate_limit("chat.sendMessage", times);
                return Ok(None);
            }
            Fault::DatabaseBusy => {
                let hold = Duration::from_millis(rng.random_range(500..8000));
                world.hold_database(hold).await?;
            }
            Fault::DatabaseRestart => {
                let outage = Duration::from_millis(rng.random_range(500..5000));
                let refusal = match rng.random_bool(0.5) {
                    true => Refusal::PortClosed,
                    false => Refusal::HungUp,
                };
                world.restart_database(outage, refusal).await?;
                return Ok(Some(format!(
                    "{:.2} s, {}",
                    started.elapsed().as_secs_f64(),
                    refusal.describe()
                )));
            }
        }
        Ok(Some(format!("{:.2} s", started.elapsed().as_secs_f64())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_fault_follows_the_backend() {
        let sqlite = Fault::bridge_faults(false);
        assert!(sqlite.contains(&Fault::DatabaseBusy));
        assert!(!sqlite.contains(&Fault::DatabaseRestart));
        let postgres = Fault::bridge_faults(true);
        assert!(postgres.contains(&Fault::DatabaseRestart));
        assert!(!postgres.contains(&Fault::DatabaseBusy));
        assert!(!postgres.contains(&Fault::RestartSynapse));
        assert!(postgres.contains(&Fault::KillBridge));
    }
}
