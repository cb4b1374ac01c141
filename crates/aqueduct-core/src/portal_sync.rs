//! `sync`: bringing a portal room back in line with its chat when events were missed (the
//! bridge was down longer than the network keeps events, or the network never sent them).

use crate::Result;
use crate::bridge::{Inner, LoadedLogin};
use crate::ids::RemoteUserId;
use crate::records::Portal;
use std::collections::HashSet;
use std::sync::Arc;

/// What a sync changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SyncSummary {
    name: bool,
    topic: bool,
    avatar: bool,
    joined: usize,
    left: usize,
    profiles: usize,
    failed: usize,
}

impl std::fmt::Display for SyncSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.name {
            parts.push("name updated".to_owned());
        }
        if self.topic {
            parts.push("topic updated".to_owned());
        }
        if self.avatar {
            parts.push("avatar updated".to_owned());
        }
        if self.joined > 0 {
            parts.push(format!("{} joined", self.joined));
        }
        if self.left > 0 {
            parts.push(format!("{} left", self.left));
        }
        if self.profiles > 0 {
            parts.push(format!(
                "{} profile{} updated",
                self.profiles,
                if self.profiles == 1 { "" } else { "s" }
            ));
        }
        if self.failed > 0 {
            parts.push(format!(
                "{} could not be updated (see the logs)",
                self.failed
            ));
        }
        if parts.is_empty() {
            f.write_str("already up to date")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Inner {
    /// Re-reads the chat through `login` and applies the differences to the portal's room:
    /// name and topic, ghosts of new members join, ghosts of members who left leave, and
    /// ghosts' profiles are refreshed. Runs in the portal's queue (typed in its room).
    pub(crate) async fn sync_portal(
        self: &Arc<Self>,
        portal: Portal,
        login: &LoadedLogin,
    ) -> Result<SyncSummary> {
        let Some(room) = portal.room_id.clone() else {
            return Ok(SyncSummary::default());
        };
        let connector = portal.key.connector.clone();
        let portal_key = portal.key.clone();
        let info = login.api.chat_info(&portal.key.chat).await?;
        let mut summary = SyncSummary::default();
        (summary.name, summary.topic) = self
            .apply_chat_info(portal, &room, info.name, info.topic)
            .await?;
        if let Some(mxc) = self.apply_chat_avatar(&room, info.avatar).await? {
            summary.avatar = true;
            // The name may have changed just before: the portal as it is stored now.
            if let Some(portal) = self.store.portal_by_key(&portal_key).await? {
                let hints = crate::bridge_info::BridgeInfoHints {
                    channel_avatar: Some(mxc),
                    ..Default::default()
                };
                self.update_bridge_info(&portal, hints).await;
            }
        }

        // The homeserver's member list is the truth; the bridge's memory may be stale.
        let present: HashSet<RemoteUserId> = self
            .retry_matrix("list room members", || self.matrix.joined_members(&room))
            .await?
            .iter()
            .filter_map(|m| self.namer.parse(m))
            .filter(|(c, _)| c == &connector)
            .map(|(_, user)| user)
            .collect();
        let wanted: HashSet<RemoteUserId> = info.members.iter().take(100).cloned().collect();
        // The login's own remote account is its Matrix owner; like at room creation it gets
        // no ghost, but a ghost it already has (from its messages) stays.
        let own = &login.login.remote_user;

        for user in wanted.iter().filter(|u| !present.contains(*u) && *u != own) {
            let mxid = self.namer.user_id(&connector, user);
            self.forget_member(&room, &mxid).await?;
            match self
                .ensure_ghost_in_room(&connector, user, None, login, &room)
                .await
            {
                Ok(_) => summary.joined += 1,
                Err(e) => {
                    tracing::warn!(error = %e, user = %user, "sync: a member's ghost could not join");
                    summary.failed += 1;
                }
            }
        }
        for user in present.iter().filter(|u| !wanted.contains(*u)) {
            let mxid = self.namer.user_id(&connector, user);
            match self.matrix.leave(&room, &mxid).await {
                Ok(()) => summary.left += 1,
                Err(e) => {
                    tracing::warn!(error = %e, user = %user, "sync: a departed member's ghost could not leave");
                    summary.failed += 1;
                }
            }
            self.forget_member(&room, &mxid).await?;
        }
        for user in wanted.iter().filter(|u| *u != own) {
            match self.refresh_ghost_profile(&connector, user, login).await {
                Ok(true) => summary.profiles += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, user = %user, "sync: a ghost's profile could not be refreshed");
                    summary.failed += 1;
                }
            }
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::SyncSummary;

    #[test]
    fn summary_names_only_what_changed() {
        assert_eq!(SyncSummary::default().to_string(), "already up to date");
        let s = SyncSummary {
            name: true,
            joined: 2,
            left: 1,
            profiles: 1,
            ..Default::default()
        };
        assert_eq!(
            s.to_string(),
            "name updated, 2 joined, 1 left, 1 profile updated"
        );
    }
}
