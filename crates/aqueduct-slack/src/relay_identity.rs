//! How a message relayed for a Matrix user shows its author on Slack: `chat.postMessage`'s
//! `username` and `icon_url` (which Slack fetches from the internet itself, so only a public
//! URL the bridge serves will do; without one Slack shows the app's icon).

use aqueduct_core::event::RelayedSender;

/// The `chat.postMessage` parameters naming a relayed sender.
pub(crate) fn params(sender: &RelayedSender) -> Vec<(&'static str, String)> {
    let mut out = vec![("username", sender.display_name.clone())];
    if let Some(url) = &sender.avatar_url {
        out.push(("icon_url", url.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icon_only_with_a_public_url() {
        let mut s = RelayedSender {
            mxid: "@a:hs".into(),
            display_name: "Alice".into(),
            avatar_mxc: Some("mxc://hs/a".into()),
            avatar_url: None,
        };
        assert_eq!(params(&s), vec![("username", "Alice".to_owned())]);
        s.avatar_url = Some("https://bridge/_aqueduct/media/x/hs/a".into());
        assert_eq!(params(&s)[1].0, "icon_url");
    }
}
