//! Slack's pace per channel (`send_pace` in the config), kept by the connector kit's
//! [`aqueduct_connector::pacing::ChatPacer`]. Slack generally allows one message per second
//! per channel with short bursts over that.

use aqueduct_connector::pacing::Pace;
use serde::Deserialize;

/// How fast the bridge posts into one channel: a token bucket holding up to `burst` posts,
/// refilled at `per_second`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SendPace {
    /// Posts allowed back to back after a quiet spell (at least 1).
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Posts per second in the long run (more than 0).
    #[serde(default = "default_per_second")]
    pub per_second: f64,
}

fn default_burst() -> u32 {
    3
}

fn default_per_second() -> f64 {
    1.0
}

impl Default for SendPace {
    /// Near Slack's documented limit for `chat.postMessage`: one per second, short bursts.
    fn default() -> Self {
        Self {
            burst: default_burst(),
            per_second: default_per_second(),
        }
    }
}

impl From<SendPace> for Pace {
    fn from(p: SendPace) -> Self {
        Pace {
            burst: p.burst,
            per_second: p.per_second,
        }
    }
}
