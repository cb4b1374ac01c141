//! Subscriptions on one resource each: every bridged team channel, and (where Graph refuses
//! the subscription on all of the user's chats) the most recently active chats.

use super::*;

/// One subscription per bridged team channel, `/teams/{team}/channels/{channel}/messages`
/// (messages and replies; delegated `ChannelMessage.Read.All`, resource data encrypted as
/// for chats, asked without it where Graph refuses it). A channel Graph refuses is polled
/// (`notifications.rs`) and asked for again after [`REFUSED_RETRY_MS`]; subscriptions of
/// channels no longer watched are deleted. Answers (made any, dropped any).
pub(super) async fn channel_subscriptions(
    login: &TeamsLogin,
    settings: &Settings,
) -> Result<(bool, bool), ConnectorError> {
    let wanted: BTreeSet<String> = login
        .state
        .lock()
        .await
        .channels
        .keys()
        .filter(|k| crate::ids::Conversation::of(k).is_channel())
        .cloned()
        .collect();
    let have: Vec<Subscription> = login.notifications.inner().subscriptions.clone();
    let dropped = drop_unwanted(
        login,
        &have,
        |scope| matches!(scope, Scope::Channel(key) if !wanted.contains(key)),
    )
    .await;
    let now = now_ms();
    let mut made = false;
    for key in wanted {
        let covered = have.iter().any(|s| s.scope == Scope::Channel(key.clone()));
        let refused = login
            .notifications
            .inner()
            .channels_refused
            .get(&key)
            .is_some_and(|retry| *retry > now);
        if covered || refused {
            continue;
        }
        let crate::ids::Conversation::Channel { team, channel } =
            crate::ids::Conversation::of(&key)
        else {
            continue;
        };
        // Ids as Graph's docs write them in a resource.
        let resource = format!("/teams/{team}/channels/{channel}/messages");
        match create(login, settings, Scope::Channel(key.clone()), &resource).await {
            Ok(s) => {
                let mut inner = login.notifications.inner();
                inner.channels_refused.remove(&key);
                inner.subscriptions.push(s);
                made = true;
            }
            Err(ConnectorError::Refused(why)) => {
                tracing::info!(login = %login.id(), resource = %resource, why = %why, "Graph refused a Teams channel subscription; that channel is polled");
                login
                    .notifications
                    .inner()
                    .channels_refused
                    .insert(key, now + REFUSED_RETRY_MS);
            }
            Err(e) => return Err(e),
        }
    }
    Ok((made, dropped))
}

/// Per-chat mode: subscribes to the most recently active chats not yet covered and drops
/// the subscriptions of chats no longer among them. Answers (made any, dropped any).
pub(super) async fn per_chat_subscriptions(
    login: &TeamsLogin,
    settings: &Settings,
) -> Result<(bool, bool), ConnectorError> {
    let chats: Collection<Chat> = login
        .graph
        .get(
            "/me/chats",
            &[
                ("$expand", "lastMessagePreview".into()),
                ("$orderby", "lastMessagePreview/createdDateTime desc".into()),
                ("$top", settings.max_chats.clamp(1, 50).to_string()),
            ],
        )
        .await?;
    let wanted: BTreeSet<String> = chats.value.into_iter().map(|c| c.id).collect();
    let have: Vec<Subscription> = login.notifications.inner().subscriptions.clone();
    let dropped = drop_unwanted(
        login,
        &have,
        |scope| matches!(scope, Scope::Chat(chat) if !wanted.contains(chat)),
    )
    .await;
    let mut made = false;
    for chat in wanted {
        let covered = have.iter().any(|s| s.scope == Scope::Chat(chat.clone()));
        if covered {
            continue;
        }
        // Ids as Graph writes them (`:` and `@` are allowed in a path), as its docs do.
        let resource = format!("/chats/{chat}/messages");
        match create(login, settings, Scope::Chat(chat), &resource).await {
            Ok(s) => {
                login.notifications.inner().subscriptions.push(s);
                made = true;
            }
            Err(ConnectorError::Refused(why)) => {
                tracing::info!(login = %login.id(), resource = %resource, why = %why, "Graph refused a Teams chat subscription; that chat is polled");
            }
            Err(e) => return Err(e),
        }
    }
    Ok((made, dropped))
}

/// Deletes the subscriptions among `have` whose scope is `unwanted` (at Graph, whose answer
/// does not matter: one it no longer has is gone anyway) and forgets them. Answers whether
/// any was dropped.
async fn drop_unwanted(
    login: &TeamsLogin,
    have: &[Subscription],
    unwanted: impl Fn(&Scope) -> bool,
) -> bool {
    let mut dropped = false;
    for s in have.iter().filter(|s| unwanted(&s.scope)) {
        let path = format!("/subscriptions/{}", crate::poll::encode(&s.id));
        let _ = login.graph.send::<()>(Method::DELETE, &path, None).await;
        login
            .notifications
            .inner()
            .subscriptions
            .retain(|k| k.id != s.id);
        dropped = true;
    }
    dropped
}
