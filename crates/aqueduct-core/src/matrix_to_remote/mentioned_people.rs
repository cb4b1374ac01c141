//! Who a Matrix mention names on a portal's network. A pill points at a Matrix user or at a
//! ghost; in a hub room the ghost may be of another network than the portal's (a Slack
//! user's pill going to Rocket.Chat). The person is found on the portal's network where the
//! bridge knows them there: the network's own user behind its ghost, or the account a
//! Matrix user logged in with, reached from a ghost of another network through the login
//! that account is. A mention the network cannot name is left to the connector, which shows
//! the pill's text (a name), never the ghost's id.

use crate::bridge::Inner;
use crate::ids::{ConnectorId, RemoteUserId};
use crate::records::Portal;

impl Inner {
    /// The remote user of `portal`'s network that the Matrix user or ghost `mxid` is.
    pub(super) fn remote_id_of(&self, mxid: &str, portal: &Portal) -> Option<RemoteUserId> {
        let person = match self.namer.parse(mxid) {
            Some((network, user)) if network == portal.key.connector => return Some(user),
            Some((network, user)) => self.owner_of_account(&network, &user)?,
            None => mxid.to_owned(),
        };
        // An app's or bot's login is not its owner's account: mentioning it would name
        // the bot.
        self.login_of_user(&portal.key.connector, &person)
            .filter(|l| l.api.sends_as_owner())
            .map(|l| l.login.remote_user.clone())
    }

    /// The Matrix user whose own login on `network` is the account `user`, if any.
    fn owner_of_account(&self, network: &ConnectorId, user: &RemoteUserId) -> Option<String> {
        self.logins
            .read()
            .expect("logins lock")
            .values()
            .find(|l| {
                &l.login.connector == network
                    && &l.login.remote_user == user
                    && l.api.sends_as_owner()
            })
            .map(|l| l.login.matrix_user.clone())
    }
}
