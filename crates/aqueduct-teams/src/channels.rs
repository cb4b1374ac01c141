//! Team channels. A channel is watched once the login looked it up (`bridge teams
//! <team-id>/<channel-id>`, a portal's creation or `sync`): each polling round then asks it for
//! its changed threads with Graph's delta query, `GET /teams/{team}/channels/{channel}/messages/
//! delta?$expand=replies`, following `@odata.nextLink` pages to the `@odata.deltaLink`, which
//! the next round asks instead. A channel's first round (or one whose delta link Graph no
//! longer takes) starts from `$filter=lastModifiedDateTime gt` a minute before it was first
//! looked up, so nothing said after its backfill is missed. Each thread comes as its root with
//! its replies; a root whose replies Graph did not expand gets them from `.../replies`.
//!
//! Graph's delegated permission for reading channel messages is `ChannelMessage.Read.All`,
//! which needs an administrator's consent (see the README).

use crate::api::TeamsLogin;
use crate::graph::{Channel, ChatMessage, Collection, ConversationMember, Team};
use crate::ids::{Conversation, reply_id};
use crate::inbound::{Placed, bridge_message, channel_room_name, created_ms, modified_ms};
use crate::iso_time::format_ms;
use crate::poll_state::ChannelWatch;
use aqueduct_core::connector::{ChatInfo, ConnectorError};
use aqueduct_core::ids::RemoteUserId;

/// Messages asked for per page (Graph's largest for channel messages).
const PAGE: usize = 50;
/// Pages followed in one round per channel; the rest waits for the next round.
const MAX_PAGES: usize = 20;
/// How far before its first look-up a channel's first round starts.
const FIRST_ROUND_MARGIN_MS: i64 = 60_000;

/// Polls every watched channel. A channel Graph refuses (no permission, deleted) is logged
/// and skipped; a passing failure or a dead sign-in ends the round.
pub(crate) async fn poll_channels(login: &TeamsLogin) -> Result<(), ConnectorError> {
    let keys: Vec<String> = login.state.lock().await.channels.keys().cloned().collect();
    for key in keys {
        match poll_channel(login, &key).await {
            Ok(()) => {}
            Err(e @ (ConnectorError::BadCredentials(_) | ConnectorError::Temporary(_))) => {
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(login = %login.id(), channel = %key, error = %e, "cannot read a Teams channel; skipping it this round");
            }
        }
    }
    Ok(())
}

/// One channel's round.
pub(crate) async fn poll_channel(login: &TeamsLogin, key: &str) -> Result<(), ConnectorError> {
    let conv = Conversation::of(key);
    if !conv.is_channel() {
        return Ok(());
    }
    let (link, since) = {
        let state = login.state.lock().await;
        // Unbridged since the notification (or the round) named it: nobody reads it now.
        if !state.channels.contains_key(key) {
            return Ok(());
        }
        (
            state.channels.get(key).and_then(|c| c.delta_link.clone()),
            state.chats.get(key).map(|m| m.modified_ms).unwrap_or(0),
        )
    };
    let delta = format!("{}/delta", conv.messages_path());
    let mut page: Collection<ChatMessage> = match &link {
        Some(link) => match login.graph.get(link, &[]).await {
            Ok(page) => page,
            // An expired or refused delta link: start again from the mark.
            Err(ConnectorError::Refused(why)) => {
                tracing::info!(channel = %key, error = %why, "Graph no longer takes the channel's delta link; starting from its mark");
                fresh_round(login, key, &delta, since).await?
            }
            Err(e) => return Err(e),
        },
        None => fresh_round(login, key, &delta, since).await?,
    };
    let mut pages = 1;
    loop {
        let mut roots = std::mem::take(&mut page.value);
        roots.sort_by_key(modified_ms);
        for root in &roots {
            let newest = root
                .replies
                .iter()
                .flatten()
                .map(modified_ms)
                .fold(modified_ms(root), i64::max);
            // A thread unchanged since the mark (a round that started over without its
            // filter) is only noted, so old history does not flood the room.
            let unchanged = since > 0 && root.replies.is_some() && newest <= since;
            bridge_thread(login, key, root, unchanged).await?;
            let mut state = login.state.lock().await;
            let mark = state.chats.entry(key.to_owned()).or_default();
            mark.modified_ms = mark.modified_ms.max(newest);
        }
        if let Some(next) = page.next_link.take()
            && pages < MAX_PAGES
        {
            page = login.graph.get(&next, &[]).await?;
            pages += 1;
            continue;
        }
        let mut state = login.state.lock().await;
        if let Some(watch) = state.channels.get_mut(key) {
            // Without a delta link (cut short), the next round starts from the mark.
            watch.delta_link = page.delta_link.take();
        }
        let saved = state.to_state();
        drop(state);
        login.save_state(saved).await;
        return Ok(());
    }
}

/// A round that starts from the mark: `$filter=lastModifiedDateTime gt` it, or (where Graph
/// refuses the filter) the whole channel, whose unchanged threads are then only noted.
async fn fresh_round(
    login: &TeamsLogin,
    key: &str,
    delta: &str,
    since: i64,
) -> Result<Collection<ChatMessage>, ConnectorError> {
    let mut query = vec![
        ("$expand", "replies".to_owned()),
        ("$top", PAGE.to_string()),
    ];
    if since <= 0 {
        return login.graph.get(delta, &query).await;
    }
    query.push((
        "$filter",
        format!("lastModifiedDateTime gt {}", format_ms(since)),
    ));
    match login.graph.get(delta, &query).await {
        Err(ConnectorError::Refused(why)) => {
            tracing::info!(channel = %key, error = %why, "Graph refused the delta query's date filter; reading the channel whole");
            query.pop();
            login.graph.get(delta, &query).await
        }
        other => other,
    }
}

/// A thread: its root, then its replies oldest first. `unchanged`: nothing in it is newer
/// than the channel's mark, so it is remembered without being bridged.
async fn bridge_thread(
    login: &TeamsLogin,
    key: &str,
    root: &ChatMessage,
    unchanged: bool,
) -> Result<(), ConnectorError> {
    if unchanged {
        note_thread(login, key, root).await;
        return Ok(());
    }
    let at = Placed {
        chat: key,
        id: root.id.clone(),
        thread_root: None,
    };
    bridge_message(login, &at, root).await?;
    let mut replies = match &root.replies {
        Some(replies) => replies.clone(),
        None => list_replies(login, key, &root.id).await?,
    };
    replies.sort_by_key(created_ms);
    for reply in &replies {
        let at = Placed {
            chat: key,
            id: reply_id(&root.id, &reply.id),
            thread_root: Some(root.id.clone()),
        };
        bridge_message(login, &at, reply).await?;
    }
    Ok(())
}

/// Remembers a thread's messages as they are, where they are not remembered yet, without
/// bridging them.
async fn note_thread(login: &TeamsLogin, key: &str, root: &ChatMessage) {
    let mut state = login.state.lock().await;
    let mark = state.chats.entry(key.to_owned()).or_default();
    let replies = root
        .replies
        .iter()
        .flatten()
        .map(|r| (reply_id(&root.id, &r.id), r));
    for (id, message) in std::iter::once((root.id.clone(), root)).chain(replies) {
        if !mark.seen.contains_key(&id) {
            mark.remember(&id, crate::inbound::as_seen(message));
        }
    }
}

/// A thread's replies (`GET .../messages/{id}/replies`), all pages.
pub(crate) async fn list_replies(
    login: &TeamsLogin,
    key: &str,
    root: &str,
) -> Result<Vec<ChatMessage>, ConnectorError> {
    let conv = Conversation::of(key);
    let mut page: Collection<ChatMessage> = login
        .graph
        .get(&conv.replies_path(root), &[("$top", PAGE.to_string())])
        .await?;
    let mut out = std::mem::take(&mut page.value);
    let mut pages = 1;
    while let Some(next) = page.next_link.take()
        && pages < MAX_PAGES
    {
        page = login.graph.get(&next, &[]).await?;
        out.append(&mut page.value);
        pages += 1;
    }
    Ok(out)
}

/// A channel's facts, and from now on its polling: `{team}/{channel}`.
pub(crate) async fn channel_info(
    login: &TeamsLogin,
    team: &str,
    channel: &str,
    key: &str,
) -> Result<ChatInfo, ConnectorError> {
    let conv = Conversation::Channel { team, channel };
    let found: Channel = login.graph.get(&conv.path(), &[]).await?;
    // The team's name is only decoration: a refusal (no Team.ReadBasic.All) leaves it out.
    let team_name = match login
        .graph
        .get::<Team>(&format!("/teams/{}", crate::poll::encode(team)), &[])
        .await
    {
        Ok(t) => t.display_name,
        Err(ConnectorError::Refused(why)) => {
            tracing::info!(team, error = %why, "cannot read the team's name");
            None
        }
        Err(e) => return Err(e),
    };
    let members: Collection<ConversationMember> = login
        .graph
        .get(&format!("{}/members", conv.path()), &[])
        .await
        .or_else(|e| match e {
            // Members need ChannelMember.Read.All; without it the room fills as people talk.
            ConnectorError::Refused(why) => {
                tracing::info!(channel, error = %why, "cannot list the channel's members");
                Ok(Collection {
                    value: Vec::new(),
                    next_link: None,
                    delta_link: None,
                })
            }
            e => Err(e),
        })?;
    watch(login, key, team_name.clone()).await;
    Ok(ChatInfo {
        name: Some(channel_room_name(
            team_name.as_deref(),
            found.display_name.as_deref().unwrap_or(channel),
        )),
        topic: found.description.filter(|d| !d.is_empty()),
        is_direct: false,
        members: members
            .value
            .into_iter()
            .filter_map(|m| m.user_id.map(RemoteUserId::new))
            .collect(),
        ..ChatInfo::default()
    })
}

/// Stops watching a channel whose portal was unbridged: no more delta queries, and the
/// subscription keeper, woken here, deletes its subscription (it keeps only the watched
/// channels'). Its memory and delta link go too, so bridging it again starts afresh from
/// that look-up, as for a channel never bridged. A chat, or a channel not watched, is left
/// alone.
pub(crate) async fn unwatch(login: &TeamsLogin, key: &str) {
    if !Conversation::of(key).is_channel() {
        return;
    }
    let mut state = login.state.lock().await;
    if state.channels.remove(key).is_none() {
        return;
    }
    state.chats.remove(key);
    let saved = state.to_state();
    drop(state);
    login.save_state(saved).await;
    login.notifications.forget_channel(key);
    tracing::info!(login = %login.id(), channel = %key, "no longer watching an unbridged Teams channel");
}

/// Adds a channel to the polled ones (keeping its memory when it is there already).
async fn watch(login: &TeamsLogin, key: &str, team_name: Option<String>) {
    let mut state = login.state.lock().await;
    let new = !state.channels.contains_key(key);
    state
        .channels
        .entry(key.to_owned())
        .or_insert(ChannelWatch {
            team_name: None,
            delta_link: None,
        });
    if let Some(watch) = state.channels.get_mut(key)
        && team_name.is_some()
    {
        watch.team_name = team_name;
    }
    if new {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mark = state.chats.entry(key.to_owned()).or_default();
        if mark.modified_ms == 0 {
            mark.modified_ms = now - FIRST_ROUND_MARGIN_MS;
        }
    }
    let saved = state.to_state();
    drop(state);
    login.save_state(saved).await;
    if new {
        // In notifications mode the channel gets its own subscription, and the loop, which
        // may be waiting for a full round far off, looks at when to poll it meanwhile.
        login.notifications.maintain.notify_one();
        login.poke.notify_one();
    }
}
