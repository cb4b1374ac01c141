//! Matrix (plain body and HTML) -> Rocket.Chat markdown.

use crate::html::{self, Node};
use crate::user_from_matrix_to;

/// Maps a Matrix user id (from a mention link) to a Rocket.Chat username.
type UserLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Converts a Matrix message (plain body, optional HTML `formatted_body`) to Rocket.Chat
/// markdown. Mentions of users `user` knows become `@username`, others their link text;
/// `@room` becomes `@all`; reply fallbacks (`<mx-reply>`) are dropped.
pub fn matrix_to_markdown(body: &str, html: Option<&str>, user: UserLookup<'_>) -> String {
    let text = match html {
        Some(html) => {
            let mut out = String::new();
            render_nodes(&html::parse(html), user, &mut out);
            out.trim().to_owned()
        }
        None => body.to_owned(),
    };
    room_mentions(&text)
}

/// Replaces a standalone `@room` with `@all`; not `@room:server` (a user).
fn room_mentions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("@room") {
        let before = rest[..at].chars().last().or_else(|| out.chars().last());
        let after = rest[at + 5..].chars().next();
        let standalone = !before.is_some_and(|c| c.is_alphanumeric() || "_-.@:/".contains(c))
            && !after.is_some_and(|c| c.is_alphanumeric() || "_-:".contains(c));
        out.push_str(&rest[..at]);
        out.push_str(if standalone { "@all" } else { "@room" });
        rest = &rest[at + 5..];
    }
    out.push_str(rest);
    out
}

fn render_nodes(nodes: &[Node], user: UserLookup<'_>, out: &mut String) {
    for n in nodes {
        render(n, user, out);
    }
}

fn inner(node: &Node, user: UserLookup<'_>) -> String {
    let mut s = String::new();
    if let Node::Element { children, .. } = node {
        render_nodes(children, user, &mut s);
    }
    s
}

fn block_break(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

fn render(node: &Node, user: UserLookup<'_>, out: &mut String) {
    let name = match node {
        Node::Text(t) => {
            out.push_str(t);
            return;
        }
        Node::Element { name, .. } => name.as_str(),
    };
    match name {
        "mx-reply" => {}
        "br" => out.push('\n'),
        "strong" | "b" => out.push_str(&wrap(&inner(node, user), '*')),
        "em" | "i" => out.push_str(&wrap(&inner(node, user), '_')),
        "del" | "s" | "strike" => out.push_str(&wrap(&inner(node, user), '~')),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            block_break(out);
            out.push_str(&wrap(&inner(node, user), '*'));
            out.push('\n');
        }
        "code" => out.push_str(&format!("`{}`", node.text())),
        "pre" => {
            block_break(out);
            let code = node.text();
            out.push_str(&format!("```\n{}\n```\n", code.trim_end_matches('\n')));
        }
        "a" => {
            let href = node.attr("href").unwrap_or_default();
            let label = inner(node, user);
            if let Some(mxid) = user_from_matrix_to(href) {
                match user(mxid) {
                    Some(username) => out.push_str(&format!("@{username}")),
                    None => out.push_str(&label),
                }
            } else if href.is_empty() || label == href {
                out.push_str(&label);
            } else {
                out.push_str(&format!("[{label}]({href})"));
            }
        }
        "blockquote" => {
            block_break(out);
            for line in inner(node, user).trim().lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
        "li" => {
            block_break(out);
            out.push_str(&format!("- {}\n", inner(node, user).trim()));
        }
        "p" | "div" | "ul" | "ol" => {
            block_break(out);
            out.push_str(&inner(node, user));
            block_break(out);
        }
        _ => out.push_str(&inner(node, user)),
    }
}

/// Wraps text in a marker, keeping surrounding spaces outside it.
fn wrap(inner: &str, marker: char) -> String {
    let core = inner.trim();
    if core.is_empty() {
        return inner.to_owned();
    }
    let lead = &inner[..inner.len() - inner.trim_start().len()];
    let trail = &inner[inner.trim_end().len()..];
    format!("{lead}{marker}{core}{marker}{trail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(mxid: &str) -> Option<String> {
        (mxid == "@rc_bob:hs").then(|| "bob".to_owned())
    }

    #[test]
    fn html_becomes_markdown_with_mentions() {
        let md = matrix_to_markdown(
            "x",
            Some(
                "hi <strong>there</strong> <em>you</em> <a href=\"https://matrix.to/#/@rc_bob:hs\">Bob</a> <a href=\"https://matrix.to/#/@x:hs\">X</a> <a href=\"https://e.org\">site</a> <code>c</code>",
            ),
            &lookup,
        );
        assert_eq!(md, "hi *there* _you_ @bob X [site](https://e.org) `c`");
    }

    #[test]
    fn blocks_quotes_and_room_mentions() {
        let md = matrix_to_markdown(
            "",
            Some(
                "<mx-reply>old</mx-reply><p>one</p><blockquote>q</blockquote><pre><code>let x;\n</code></pre>@room",
            ),
            &lookup,
        );
        assert_eq!(md, "one\n> q\n```\nlet x;\n```\n@all");
        assert_eq!(
            matrix_to_markdown("hey @room, not @room:hs", None, &lookup),
            "hey @all, not @room:hs"
        );
    }
}
