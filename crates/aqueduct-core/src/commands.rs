//! The bot's commands, answered in management rooms (no prefix) and portal rooms (with the
//! command prefix). Connectors add theirs through [`crate::connector::NetworkConnector::commands`].

use crate::bridge::{Inner, LoadedLogin};
use crate::ids::ConnectorId;
use crate::login_start::{LoggedIn, LoginStart};
use crate::matrix::NewRoom;
use crate::matrix_content::Envelope;
use crate::permissions::Level;
use crate::records::{Login, Portal};
use crate::{Error, Result};
use std::sync::Arc;

/// Built-in commands: (name, arguments, help, level).
const BUILTIN: &[(&str, &str, &str, Level)] = &[
    ("help", "", "show this help", Level::Relay),
    ("version", "", "show the bridge version", Level::Relay),
    ("ping", "", "check the bridge and your logins", Level::Relay),
    (
        "list",
        "",
        "list your logins and bridged rooms",
        Level::User,
    ),
    (
        "login",
        "<network> [flow] [args...]",
        "log in to a network",
        Level::User,
    ),
    (
        "logout",
        "<network> [login id]",
        "log out of a network (name the login when you have several)",
        Level::User,
    ),
    (
        "bridge",
        "<network> <chat id>",
        "bridge a remote chat you can see into a new room",
        Level::User,
    ),
    (
        "link",
        "<network> <chat id>",
        "(in an existing room I was invited to) make this room the chat's portal; the room keeps its name and topic",
        Level::Admin,
    ),
    (
        "unbridge",
        "",
        "(in a bridged room) stop bridging it; the bridge's users and I leave, the room stays",
        Level::Admin,
    ),
    (
        "unlink",
        "<network>",
        "(in a room bridged to several chats) stop bridging it to that network's chat; the others stay",
        Level::Admin,
    ),
    (
        "sync",
        "",
        "(in a bridged room) refresh name, topic, members and profiles from the chat",
        Level::User,
    ),
    (
        "set-relay",
        "",
        "(in a bridged room; bridge admins, or room moderators who may change its state) relay messages of users without a login through your account",
        Level::User,
    ),
    (
        "unset-relay",
        "",
        "(in a bridged room; bridge admins, or room moderators who may change its state) stop relaying",
        Level::User,
    ),
];

impl Inner {
    pub(crate) fn help_text(&self, level: Level) -> String {
        let mut out =
            String::from("Commands (in a bridged room, start them with the command prefix):\n");
        for (name, args, help, min) in BUILTIN {
            if level >= *min {
                out.push_str(&format!("• {name} {args} — {help}\n"));
            }
        }
        let mut ids: Vec<_> = self.connectors.keys().collect();
        ids.sort();
        if level >= Level::User && !ids.is_empty() {
            out.push_str("Networks and how to log in:\n");
            for id in &ids {
                let connector = &self.connectors[*id];
                let flows: Vec<String> = connector
                    .login_flows()
                    .iter()
                    .map(|f| format!("`login {id} {}`: {}", f.id, f.description))
                    .collect();
                out.push_str(&format!(
                    "• {} — {}\n",
                    connector.display_name(),
                    flows.join("; ")
                ));
            }
        }
        for id in ids {
            for c in self.connectors[id].commands() {
                if level >= c.level {
                    out.push_str(&format!("• {id} {} — {}\n", c.name, c.help));
                }
            }
        }
        out
    }

    /// Runs a command typed by `env.sender` and answers in the room.
    pub(crate) async fn run_command(
        self: &Arc<Self>,
        env: &Envelope,
        level: Level,
        text: &str,
        portal: Option<&Portal>,
    ) -> Result<()> {
        let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        let Some((name, args)) = words.split_first() else {
            self.notice(&env.room_id, &self.help_text(level)).await;
            return Ok(());
        };
        let name = name.to_lowercase();
        // Before anything else: the credentials are in the room until deleted.
        let credentials_line = if self.carries_credentials(&name, args) {
            Some(self.delete_typed_credentials(env).await)
        } else {
            None
        };
        let mut reply = match self.command_level(&name, args) {
            None => format!("Unknown command `{name}`. Send `help` for the list."),
            Some(min) if level < min => {
                format!("`{name}` needs the {min} permission level; you have {level}.")
            }
            Some(_) => match self.dispatch(env, level, &name, args, portal).await {
                Ok(r) => r,
                Err(e) => format!("`{name}` failed: {e}"),
            },
        };
        if let Some(line) = credentials_line {
            reply = format!("{reply}\n{line}").trim_start().to_owned();
        }
        // An empty reply: the command answered by itself (`unbridge`, whose bot left the room).
        if !reply.is_empty() {
            self.notice(&env.room_id, &reply).await;
        }
        Ok(())
    }

    fn command_level(&self, name: &str, args: &[String]) -> Option<Level> {
        if let Some((_, _, _, l)) = BUILTIN.iter().find(|(n, ..)| *n == name) {
            return Some(*l);
        }
        let connector = self.connectors.get(&ConnectorId::new(name))?;
        let sub = args.first()?;
        connector
            .commands()
            .into_iter()
            .find(|c| &c.name == sub)
            .map(|c| c.level)
    }

    async fn dispatch(
        self: &Arc<Self>,
        env: &Envelope,
        level: Level,
        name: &str,
        args: &[String],
        portal: Option<&Portal>,
    ) -> Result<String> {
        let user = env.sender.as_str();
        Ok(match name {
            "help" => self.help_text(level),
            "version" => format!("Aqueduct {}", self.config.version),
            "ping" => {
                let logins = self.store.logins_of_user(user).await?;
                let mut out = String::from("pong");
                for l in logins {
                    let live = self.loaded_login(&l.connector, &l.id).is_some();
                    out.push_str(&format!(
                        "\n• {} {} ({}): {}",
                        l.connector,
                        l.remote_name,
                        l.id,
                        if live { "connected" } else { "not connected" }
                    ));
                }
                out
            }
            "list" => self.list(user).await?,
            "login" => self.login(env, args).await?,
            "logout" => self.logout(user, args).await?,
            "bridge" => self.bridge_chat(user, args).await?,
            "link" => self.link_chat(env, args, portal).await?,
            "unbridge" | "unlink" => {
                let portal = in_portal(portal)?;
                let portals = self.store.portals_by_room(&env.room_id).await?;
                if portals.len() < 2 {
                    self.unbridge(portal).await?;
                    return Ok(String::new());
                }
                // A hub room: one of its chats goes, the room stays bridged to the others.
                let Some(network) = args.first() else {
                    let networks: Vec<&str> =
                        portals.iter().map(|p| p.key.connector.as_str()).collect();
                    return Ok(format!(
                        "This room is bridged to several chats; name the one to remove: `{name} <network>` ({}).",
                        networks.join(", ")
                    ));
                };
                match portals
                    .iter()
                    .find(|p| p.key.connector.as_str() == network.as_str())
                {
                    Some(p) => self.unlink_from_hub(p).await?,
                    None => format!("This room is not bridged to {network}."),
                }
            }
            "sync" => {
                let portal = in_portal(portal)?;
                let login = self.login_for_portal(portal, user)?;
                let name = portal.name.as_deref().unwrap_or(portal.key.chat.as_str());
                let summary = self.sync_portal(portal.clone(), &login).await?;
                format!("Synced with {name}: {summary}.")
            }
            "set-relay" | "unset-relay" => {
                let portal = in_portal(portal)?;
                if let Some(why) = self.relay_refusal(env, level).await? {
                    self.metrics.refused_by_room_power(name);
                    return Ok(why);
                }
                let portals = self.store.portals_by_room(&env.room_id).await?;
                if portals.len() < 2 {
                    return self
                        .set_relay(user, Some(portal), name == "set-relay")
                        .await;
                }
                // A hub room: the relay is set on each of its chats the user can relay for.
                let mut replies = Vec::new();
                for p in &portals {
                    replies.push(
                        match self.set_relay(user, Some(p), name == "set-relay").await {
                            Ok(r) => format!("{}: {r}", p.key.connector),
                            Err(e) => format!("{}: {e}", p.key.connector),
                        },
                    );
                }
                replies.join("\n")
            }
            _ => {
                let connector = self
                    .connectors
                    .get(&ConnectorId::new(name))
                    .cloned()
                    .ok_or_else(|| Error::Unknown(format!("no network {name}")))?;
                let (sub, rest) = args
                    .split_first()
                    .ok_or_else(|| Error::Unknown("which command?".into()))?;
                let login = self.login_of_user(&connector.id(), user).map(|l| l.login);
                connector.run_command(sub, rest, login.as_deref()).await?
            }
        })
    }

    async fn list(&self, user: &str) -> Result<String> {
        let logins = self.store.logins_of_user(user).await?;
        let mut out = String::new();
        if logins.is_empty() {
            out.push_str("You have no logins.");
        } else {
            out.push_str("Logins:");
            for l in &logins {
                out.push_str(&format!(
                    "\n• {}: {} ({})",
                    l.connector, l.remote_name, l.id
                ));
            }
        }
        let portals = self.store.list_portals().await?;
        let mine: Vec<&Portal> = portals
            .iter()
            .filter(|p| {
                logins.iter().any(|l| {
                    l.connector == p.key.connector
                        && p.key.receiver.as_ref().is_none_or(|r| r == &l.id)
                })
            })
            .collect();
        if !mine.is_empty() {
            out.push_str("\nBridged rooms:");
            for p in mine {
                out.push_str(&format!(
                    "\n• {} {} → {}{}",
                    p.key.connector,
                    p.name.as_deref().unwrap_or(p.key.chat.as_str()),
                    p.room_id.as_deref().unwrap_or("(no room)"),
                    if p.relay_login.is_some() {
                        " (relay on)"
                    } else {
                        ""
                    }
                ));
            }
        }
        Ok(out)
    }

    async fn login(self: &Arc<Self>, env: &Envelope, args: &[String]) -> Result<String> {
        let user = env.sender.clone();
        let Some((network, rest)) = args.split_first() else {
            let mut ids: Vec<String> = self.connectors.keys().map(|c| c.to_string()).collect();
            ids.sort();
            return Ok(format!(
                "Usage: login <network> [flow] [args...]. Networks: {}",
                ids.join(", ")
            ));
        };
        match self.start_login(&user, network, None, rest).await? {
            LoginStart::Refused(why) => Ok(why),
            LoginStart::Complete(done) => Ok(logged_in_text(&done)),
            LoginStart::Pending {
                instructions,
                completion,
            } => {
                let inner = self.clone();
                let room = env.room_id.clone();
                tokio::spawn(async move {
                    let text = match completion.await {
                        Ok(done) => logged_in_text(&done),
                        Err(e) => format!("Login failed: {e}"),
                    };
                    inner.notice(&room, &text).await;
                });
                Ok(instructions)
            }
        }
    }

    async fn logout(&self, user: &str, args: &[String]) -> Result<String> {
        let network = args
            .first()
            .ok_or_else(|| Error::Unknown("Usage: logout <network>".into()))?;
        let mut logins: Vec<Login> = self
            .store
            .logins_of_user(user)
            .await?
            .into_iter()
            .filter(|l| l.connector.as_str() == network)
            .collect();
        if let Some(id) = args.get(1) {
            logins.retain(|l| l.id.as_str() == id);
        }
        let login = match logins.len() {
            0 if args.len() > 1 => {
                return Ok(format!("You have no {network} login {}.", args[1]));
            }
            0 => return Ok(format!("You are not logged in to {network}.")),
            1 => logins.remove(0),
            // Never guess which account to drop.
            _ => {
                let list: Vec<String> = logins
                    .iter()
                    .map(|l| format!("{} ({})", l.id, l.remote_name))
                    .collect();
                return Ok(format!(
                    "You have several {network} logins: {}. Say which: `logout {network} <login id>`.",
                    list.join(", ")
                ));
            }
        };
        self.deactivate_login(&login.connector, &login.id).await?;
        Ok(format!("Logged out of {network} ({}).", login.remote_name))
    }

    async fn bridge_chat(self: &Arc<Self>, user: &str, args: &[String]) -> Result<String> {
        let (Some(network), Some(chat)) = (args.first(), args.get(1)) else {
            return Ok("Usage: bridge <network> <chat id>".into());
        };
        let opened = self.open_portal(user, network, chat).await?;
        Ok(format!(
            "Bridged {} to {}; you have been invited.",
            opened.chat_name.as_deref().unwrap_or(chat),
            opened.portal.room_id.unwrap_or_default()
        ))
    }

    /// `link <network> <chat id>`, typed in the room to link. Checks what can be checked here;
    /// the rest (is the chat or room bridged already, may the bot run the room) is decided in
    /// the portal's queue.
    async fn link_chat(
        self: &Arc<Self>,
        env: &Envelope,
        args: &[String],
        portal: Option<&Portal>,
    ) -> Result<String> {
        let (Some(network), Some(chat)) = (args.first(), args.get(1)) else {
            return Ok("Usage (in the room to link): link <network> <chat id>".into());
        };
        // A room may be bridged to chats of several networks at once (a hub room), one chat
        // per network.
        if portal.is_some()
            && let Some(p) = self
                .store
                .portals_by_room(&env.room_id)
                .await?
                .into_iter()
                .find(|p| p.key.connector.as_str() == network.as_str())
        {
            return Ok(format!(
                "This room is already bridged to {} {}. Run `unlink {}` first to replace it.",
                p.key.connector, p.key.chat, p.key.connector
            ));
        }
        if self.store.management_room(&env.sender).await?.as_deref() == Some(env.room_id.as_str()) {
            return Ok(format!(
                "This is your management room. Create a room for the chat (or pick one), invite                  me, and type `{} link {network} {chat}` there.",
                self.config.command_prefix
            ));
        }
        let connector = ConnectorId::new(network.as_str());
        let login = self
            .login_of_user(&connector, &env.sender)
            .ok_or_else(|| Error::Unknown(format!("log in to {network} first")))?;
        let chat = crate::ids::RemoteChatId::new(chat.as_str());
        let info = login.api.chat_info(&chat).await?;
        let key = crate::ids::PortalKey {
            connector,
            chat,
            receiver: info.is_direct.then(|| login.login.id.clone()),
        };
        self.link_room_queued(key, env.room_id.clone(), login, info)
            .await
    }

    /// The login that speaks for `user` about a portal's chat: the receiving login of a
    /// private chat, else the user's own, else the room's relay.
    fn login_for_portal(&self, portal: &Portal, user: &str) -> Result<LoadedLogin> {
        let connector = &portal.key.connector;
        let found = match &portal.key.receiver {
            Some(receiver) => self.loaded_login(connector, receiver),
            None => self.login_of_user(connector, user).or_else(|| {
                portal
                    .relay_login
                    .as_ref()
                    .and_then(|r| self.loaded_login(connector, r))
            }),
        };
        found.ok_or_else(|| {
            Error::Unknown(format!(
                "no {connector} login can see this chat; log in to {connector} first"
            ))
        })
    }

    /// Why `env.sender` may not turn a room's relay on or off, or `None` when they may. A
    /// relay speaks on the platform for every member without a login, so, as mautrix bridges
    /// do, it is the bridge admins' to set, or the room's moderators': those whose room power
    /// reaches `state_default` (by default 50), who may change the room's state anyway.
    async fn relay_refusal(&self, env: &Envelope, level: Level) -> Result<Option<String>> {
        if level >= Level::Admin
            || self
                .room_power(&env.room_id)
                .await?
                .may_change_state(&env.sender)
        {
            return Ok(None);
        }
        Ok(Some(
            "Only bridge admins and the room's moderators (who may change its settings) can set or unset its relay."
                .into(),
        ))
    }

    async fn set_relay(&self, user: &str, portal: Option<&Portal>, on: bool) -> Result<String> {
        let portal = in_portal(portal)?;
        let mut portal = self
            .store
            .portal_by_key(&portal.key)
            .await?
            .unwrap_or_else(|| portal.clone());
        if on {
            let login = self
                .login_of_user(&portal.key.connector, user)
                .ok_or_else(|| {
                    Error::Unknown(format!(
                        "log in to {} first: the relay sends through your account",
                        portal.key.connector
                    ))
                })?;
            portal.relay_login = Some(login.login.id.clone());
            self.store.upsert_portal(&portal).await?;
            Ok(format!(
                "Messages from users without a {} login are now relayed through {}.",
                portal.key.connector, login.login.remote_name
            ))
        } else {
            portal.relay_login = None;
            self.store.upsert_portal(&portal).await?;
            Ok("Relay turned off for this room.".into())
        }
    }

    /// Logs a login out after its network refused the credentials, and tells its owner.
    pub(crate) async fn log_out_for_bad_credentials(
        &self,
        connector: &ConnectorId,
        id: &crate::ids::LoginId,
        reason: &str,
    ) {
        let owner = self
            .loaded_login(connector, id)
            .map(|l| l.login.matrix_user.clone());
        if let Err(e) = self.deactivate_login(connector, id).await {
            tracing::error!(error = %e, "cannot remove a login with bad credentials");
        }
        self.metrics
            .connection_state(connector.as_str(), id.as_str(), -1);
        if let Some(owner) = owner {
            self.notify_user(&owner, &format!("You were logged out of {connector} ({id}): {reason}. Log in again with `login {connector}`.")).await;
        }
    }

    /// Tells a Matrix user something in their management room, creating it if needed.
    pub(crate) async fn notify_user(&self, user: &str, text: &str) {
        let room = match self.store.management_room(user).await {
            Ok(Some(r)) => r,
            _ => {
                let new = NewRoom {
                    invite: vec![user.to_owned()],
                    is_direct: true,
                    name: Some("Aqueduct".into()),
                    ..Default::default()
                };
                match self.matrix.create_room(&new).await {
                    Ok(r) => {
                        let _ = self.store.set_management_room(user, &r).await;
                        r
                    }
                    Err(e) => {
                        tracing::error!(error = %e, user, "cannot reach the user to tell them: {text}");
                        return;
                    }
                }
            }
        };
        self.notice(&room, text).await;
    }
}

/// The reply to a login that finished.
fn logged_in_text(done: &LoggedIn) -> String {
    format!("Logged in to {} as {}.", done.network, done.remote_name)
}

/// The portal of the room a command was typed in, or the error saying it needs one.
fn in_portal(portal: Option<&Portal>) -> Result<&Portal> {
    portal.ok_or_else(|| Error::Unknown("run this in a bridged room".into()))
}
