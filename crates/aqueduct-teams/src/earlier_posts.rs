//! Finding a chat message the bridge already posted for a Matrix event. Graph's
//! `POST /chats/{id}/messages` takes no idempotency key and a chatMessage carries no field a
//! client may tag, so when the engine says an event may have reached Teams already (replayed
//! after a restart, or retried after a 5xx or a lost answer: `maybe_sent_before`), the
//! connector reads the chat's newest messages and takes one the signed-in user wrote with the
//! same text as the one it would post. Only then is it not posted again.

use crate::graph::{ChatMessage, Collection};
use crate::graph_client::Graph;
use aqueduct_format::html::parse;

/// Newest messages read for the look-up.
const LOOK_BACK: usize = 20;

/// The visible text of an HTML body, whitespace folded, for comparing what Graph returns with
/// what was posted (Graph may write the same HTML differently).
pub(crate) fn visible_text(html: &str) -> String {
    let text: String = parse(html).iter().map(|n| n.text()).collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The newest message of `messages_path` written by `me` whose text is `html`'s and that is
/// not `known` (a message the bridge already posted for another event: "ok" sent twice must
/// stay two messages), if any. A failed look-up is `None`: the caller posts (a duplicate is
/// better than a loss).
pub(crate) async fn find(
    graph: &Graph,
    messages_path: &str,
    me: &str,
    html: &str,
    known: impl Fn(&str) -> bool,
) -> Option<ChatMessage> {
    let listed: Collection<ChatMessage> = match graph
        .get(
            messages_path,
            &[
                ("$top", LOOK_BACK.to_string()),
                ("$orderby", "createdDateTime desc".to_owned()),
            ],
        )
        .await
    {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for an earlier post of a retried message; posting it");
            return None;
        }
    };
    let wanted = visible_text(html);
    listed.value.into_iter().find(|m| {
        m.deleted_date_time.is_none()
            && !known(&m.id)
            && m.author().is_some_and(|(id, _)| id == me)
            && m.body
                .content
                .as_deref()
                .is_some_and(|c| visible_text(c) == wanted)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_is_compared_without_markup_or_spacing() {
        assert_eq!(
            super::visible_text("<p>hello <b>there</b></p>\n"),
            super::visible_text("hello <strong>there</strong>")
        );
        assert_ne!(super::visible_text("hello"), super::visible_text("hello!"));
    }
}
