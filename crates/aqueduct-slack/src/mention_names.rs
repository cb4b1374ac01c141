//! The names of the Slack users a message mentions. Slack's `<@U123>` (and a `rich_text`
//! block's `user` element) carries only the user id; a Matrix mention pill shows a name, and
//! in a hub room that pill's text is all another platform gets for a person it does not
//! know, so a raw id there would reach Rocket.Chat or Teams as `U123`. Names are asked with
//! `users.info` and remembered for a while, so a busy channel costs one call per person
//! per [`NAME_TTL`], not one per mention.

use crate::web::SlackWeb;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a name is used before it is asked again (a renamed user shows under the new
/// name after at most this long).
const NAME_TTL: Duration = Duration::from_secs(600);
/// How many names are remembered; past it the memory starts over.
const MAX_NAMES: usize = 10_000;

/// Names of Slack users by user id (`U...`), remembered for [`NAME_TTL`].
#[derive(Debug, Default)]
pub(crate) struct MentionNames {
    names: Mutex<HashMap<String, (String, Instant)>>,
}

impl MentionNames {
    /// The names of the users `ev` mentions (in its text, its blocks, or those of the
    /// message an edit carries) that Slack tells; a user it does not is left out and shown
    /// by id, as before.
    pub(crate) async fn of_event(&self, web: &SlackWeb, ev: &Value) -> HashMap<String, String> {
        let mut ids = Vec::new();
        for text in [&ev["text"], &ev["message"]["text"]] {
            mentioned_users(text.as_str().unwrap_or_default(), &mut ids);
        }
        for blocks in [&ev["blocks"], &ev["message"]["blocks"]] {
            block_users(blocks, &mut ids);
        }
        let mut found = HashMap::new();
        for id in ids {
            if let Some(name) = self.name_of(web, &id).await {
                found.insert(id, name);
            }
        }
        found
    }

    async fn name_of(&self, web: &SlackWeb, id: &str) -> Option<String> {
        if let Some((name, at)) = self.names.lock().expect("names").get(id)
            && at.elapsed() < NAME_TTL
        {
            return Some(name.clone());
        }
        let info = match web.call("users.info", &[("user", id.to_owned())]).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, user = id, "no name for a mentioned Slack user");
                return None;
            }
        };
        let name = display_name(&info["user"])?;
        let mut names = self.names.lock().expect("names");
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        names.insert(id.to_owned(), (name.clone(), Instant::now()));
        Some(name)
    }
}

/// The name Slack shows for a `users.info` user: the display name, else the real name,
/// else the handle.
pub(crate) fn display_name(user: &Value) -> Option<String> {
    let p = &user["profile"];
    [
        &p["display_name"],
        &p["real_name"],
        &user["real_name"],
        &user["name"],
    ]
    .into_iter()
    .filter_map(|v| v.as_str())
    .find(|s| !s.is_empty())
    .map(str::to_owned)
}

/// Adds the user ids that `<@U...>` mentions in mrkdwn `text` name to `out`, each once.
fn mentioned_users(text: &str, out: &mut Vec<String>) {
    crate::convert::mentioned_ids(text, "<@", out);
}

/// Adds the user ids that `user` elements of `rich_text` blocks name to `out`, each once.
fn block_users(blocks: &Value, out: &mut Vec<String>) {
    crate::convert::block_element_ids(blocks, "user", "user_id", out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_are_found_in_text_and_blocks_once_each() {
        let mut ids = Vec::new();
        mentioned_users("hi <@U1>, <@U2|bob> and <@U1> in <#C1>", &mut ids);
        block_users(
            &json!([{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
                {"type": "user", "user_id": "U2"}, {"type": "user", "user_id": "U3"}]}]}]),
            &mut ids,
        );
        assert_eq!(ids, ["U1", "U2", "U3"]);
    }

    #[test]
    fn the_shown_name_is_the_display_name_then_the_real_name_then_the_handle() {
        let u = json!({"name": "bob", "real_name": "Bob Smith", "profile": {"display_name": "", "real_name": "Bob Smith"}});
        assert_eq!(display_name(&u).as_deref(), Some("Bob Smith"));
        let u = json!({"name": "bob", "profile": {"display_name": "bobby"}});
        assert_eq!(display_name(&u).as_deref(), Some("bobby"));
        assert_eq!(
            display_name(&json!({"name": "bob"})).as_deref(),
            Some("bob")
        );
    }
}
