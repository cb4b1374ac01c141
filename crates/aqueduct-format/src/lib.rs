//! Message text shared by connectors: Matrix HTML and its pieces. Each platform's markup
//! converter (Slack mrkdwn, Rocket.Chat markdown, Teams HTML) lands here as a module of its
//! own, so every connector renders mentions and escaping the same way.
//!
//! Every converter takes text a stranger wrote and must survive it: markup nested without
//! bound stops at [`html::MAX_DEPTH`] (the rest stays as text), numbers from platforms are
//! clamped, running time is linear in the input, and only [`links::is_allowed_link`] targets
//! become links in Matrix HTML. `fuzz/` at the repository root fuzzes each converter.

pub mod emoji;
pub mod html;
pub mod links;
pub mod rocketchat;
pub mod shortcodes;
pub mod slack;

pub use aqueduct_core::text::escape_html;

/// The `matrix.to` URI of a Matrix user, as mention links use.
pub fn matrix_to_user(user_id: &str) -> String {
    format!("https://matrix.to/#/{user_id}")
}

/// An HTML mention of a Matrix user, rendered by clients as a pill with `name`.
pub fn mention_html(user_id: &str, name: &str) -> String {
    format!(
        "<a href=\"{}\">{}</a>",
        escape_html(&matrix_to_user(user_id)),
        escape_html(name)
    )
}

/// The Matrix user id a `matrix.to` link points at, if it points at a user.
pub fn user_from_matrix_to(href: &str) -> Option<&str> {
    let rest = href.strip_prefix("https://matrix.to/#/")?;
    let id = rest.split(['?', '/']).next()?;
    (id.starts_with('@') && id.contains(':')).then_some(id)
}

/// The Matrix room id a `matrix.to` link points at, if it points at a room by id.
pub fn room_from_matrix_to(href: &str) -> Option<String> {
    let rest = href.strip_prefix("https://matrix.to/#/")?;
    let id = rest
        .split(['?', '/'])
        .next()?
        .replace("%21", "!")
        .replace("%3A", ":");
    // Room version 12 ids carry no server name (`!hash`).
    (id.len() > 1 && id.starts_with('!')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_round_trip_through_matrix_to() {
        let html = mention_html("@bob:example.org", "Bob <B>");
        assert_eq!(
            html,
            "<a href=\"https://matrix.to/#/@bob:example.org\">Bob &lt;B&gt;</a>"
        );
        assert_eq!(
            user_from_matrix_to(&matrix_to_user("@bob:example.org")),
            Some("@bob:example.org")
        );
        assert_eq!(
            user_from_matrix_to("https://matrix.to/#/@bob:example.org?via=x"),
            Some("@bob:example.org")
        );
        assert_eq!(
            user_from_matrix_to("https://matrix.to/#/!room:example.org"),
            None
        );
        assert_eq!(user_from_matrix_to("https://example.org"), None);
        assert_eq!(
            room_from_matrix_to("https://matrix.to/#/%21r%3Aexample.org?via=x").as_deref(),
            Some("!r:example.org")
        );
        assert_eq!(
            room_from_matrix_to("https://matrix.to/#/@bob:example.org"),
            None
        );
        assert_eq!(
            room_from_matrix_to("https://matrix.to/#/!v12Hash").as_deref(),
            Some("!v12Hash")
        );
    }
}
