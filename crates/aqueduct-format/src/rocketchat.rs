//! Rocket.Chat markdown <-> Matrix bodies and HTML.
//!
//! Rocket.Chat messages carry their text (`msg`) as written, in its own markdown: `*bold*`,
//! `_italic_`, `~strike~`, `` `code` ``, ```` ``` ```` code blocks, `[label](url)` links,
//! lines starting with `>` as quotes, `@username` mentions and `@all`/`@here` for the whole
//! room, `:name:` emoji shortcodes. Nothing is entity-escaped.

pub mod emoji;
mod from_matrix;
mod to_matrix;

pub use from_matrix::matrix_to_markdown;
pub use to_matrix::markdown_to_matrix;

/// A Rocket.Chat message's text as Matrix sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixText {
    /// The plain-text body: the text as written, with known mentions as display names.
    pub body: String,
    /// `formatted_body` (`org.matrix.custom.html`), or `None` when the text is plain.
    pub html: Option<String>,
    /// Usernames mentioned (and known to the lookup), in order of first appearance, without
    /// repeats.
    pub mentioned_users: Vec<String>,
    /// Whether the text had `@all` or `@here`.
    pub room_mention: bool,
}
