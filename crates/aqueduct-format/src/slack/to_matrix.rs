//! Slack mrkdwn -> Matrix.
//!
//! The text is a stranger's, so every scan here is bounded: a `<` looks for its `>` only up
//! to the next `<` or newline, code fences are found from a precomputed list, and a
//! formatting marker that found no closer is not looked for again from later positions;
//! conversion time stays linear in the text. Links keep their `href` only for
//! [`crate::links::is_allowed_link`] schemes.

use super::MatrixText;
use crate::{escape_html, mention_html};

pub(crate) type UserLookup<'a> = &'a dyn Fn(&str) -> Option<(String, String)>;
pub(crate) type ChannelLookup<'a> = &'a dyn Fn(&str) -> Option<ChannelRef>;

/// What the caller knows of a Slack channel named in a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelRef {
    /// Its name, for links that carry none.
    pub name: Option<String>,
    /// The Matrix room it is bridged to: the mention becomes a link to that room.
    pub matrix_room: Option<String>,
}

/// One `<...>` special form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Special {
    User {
        id: String,
        label: Option<String>,
    },
    Channel {
        id: String,
        label: Option<String>,
    },
    Room,
    /// Rendered as this text: user groups, dates, unknown `<!...>` commands.
    Text(String),
    Link {
        url: String,
        label: Option<String>,
    },
}

/// A lexed character: text (entities decoded) or a special form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    Ch(char),
    Special(usize),
}

/// A resolved special form: its plain text and, outside code, its HTML.
struct Rendered {
    text: String,
    html: String,
    /// Whether `html` is markup (a link or a pill) rather than escaped text.
    markup: bool,
}

/// Converts Slack mrkdwn (as it appears in a message event's `text`) to a plain body and
/// Matrix HTML.
///
/// `user` maps a Slack user id to (Matrix user id, display name) for mention pills;
/// `channel` says what is known of a Slack channel id: its name (for links without a label)
/// and its bridged Matrix room (the mention then links to it).
pub fn mrkdwn_to_matrix(
    text: &str,
    user: &dyn Fn(&str) -> Option<(String, String)>,
    channel: ChannelLookup<'_>,
) -> MatrixText {
    let (pieces, specials) = lex(text);
    let rendered: Vec<Rendered> = specials
        .iter()
        .map(|s| render_special(s, user, channel))
        .collect();

    let mut body = String::with_capacity(text.len());
    let mut mentioned_users: Vec<String> = Vec::new();
    let mut room_mention = false;
    for piece in &pieces {
        match *piece {
            Piece::Ch(c) => body.push(c),
            Piece::Special(i) => body.push_str(&rendered[i].text),
        }
    }
    for special in &specials {
        match special {
            Special::User { id, .. } if !mentioned_users.contains(id) => {
                mentioned_users.push(id.clone());
            }
            Special::Room => room_mention = true,
            _ => {}
        }
    }

    let mut html = Html {
        rendered: &rendered,
        out: String::with_capacity(text.len() * 2),
        formatted: false,
    };
    html.document(&pieces);
    MatrixText {
        body,
        html: html.formatted.then_some(html.out),
        mentioned_users,
        room_mention,
    }
}

fn lex(text: &str) -> (Vec<Piece>, Vec<Special>) {
    let mut pieces = Vec::with_capacity(text.len());
    let mut specials = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '&'
            && let Some((decoded, len)) = [("&amp;", '&'), ("&lt;", '<'), ("&gt;", '>')]
                .iter()
                .find(|(entity, _)| rest.starts_with(entity))
                .map(|(entity, c)| (*c, entity.len()))
        {
            pieces.push(Piece::Ch(decoded));
            rest = &rest[len..];
            continue;
        }
        // A special form holds no `<` or newline: stop looking at the first, so a run of `<`
        // is not searched to its end from each of them.
        if c == '<'
            && let Some(end) = rest[1..].find(['>', '<', '\n']).map(|i| i + 1)
            && rest.as_bytes()[end] == b'>'
        {
            let inner = &rest[1..end];
            if !inner.is_empty()
                && let Some(special) = parse_special(inner)
            {
                pieces.push(Piece::Special(specials.len()));
                specials.push(special);
                rest = &rest[end + 1..];
                continue;
            }
        }
        pieces.push(Piece::Ch(c));
        rest = &rest[c.len_utf8()..];
    }
    (pieces, specials)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn parse_special(inner: &str) -> Option<Special> {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(unescape(label)).filter(|l| !l.is_empty())),
        None => (inner, None),
    };
    if let Some(id) = target.strip_prefix('@') {
        return (!id.is_empty()).then(|| Special::User {
            id: id.to_owned(),
            label,
        });
    }
    if let Some(id) = target.strip_prefix('#') {
        return (!id.is_empty()).then(|| Special::Channel {
            id: id.to_owned(),
            label,
        });
    }
    if let Some(command) = target.strip_prefix('!') {
        let name = command.split('^').next().unwrap_or_default();
        return Some(match name {
            "here" | "channel" | "everyone" => Special::Room,
            "subteam" => {
                Special::Text(label.unwrap_or_else(|| {
                    format!("@{}", command.split('^').nth(1).unwrap_or_default())
                }))
            }
            _ => Special::Text(label.unwrap_or_else(|| name.to_owned())),
        });
    }
    if target.trim().is_empty() {
        return None;
    }
    Some(Special::Link {
        url: unescape(target),
        label,
    })
}

fn render_special(special: &Special, user: UserLookup<'_>, channel: ChannelLookup<'_>) -> Rendered {
    let plain = |text: String| Rendered {
        html: escape_html(&text),
        text,
        markup: false,
    };
    match special {
        Special::User { id, label } => match user(id) {
            Some((mxid, name)) => Rendered {
                html: mention_html(&mxid, &name),
                text: name,
                markup: true,
            },
            None => plain(match label {
                Some(label) if label.starts_with('@') => label.clone(),
                Some(label) => format!("@{label}"),
                None => format!("@{id}"),
            }),
        },
        Special::Channel { id, label } => {
            let known = channel(id).unwrap_or_default();
            let name = label.clone().or(known.name).unwrap_or(id.clone());
            let text = format!("#{}", name.trim_start_matches('#'));
            match known.matrix_room {
                Some(room) => Rendered {
                    html: format!(
                        "<a href=\"{}\">{}</a>",
                        escape_html(&format!("https://matrix.to/#/{room}")),
                        escape_html(&text)
                    ),
                    text,
                    markup: true,
                },
                None => plain(text),
            }
        }
        Special::Room => plain("@room".to_owned()),
        Special::Text(text) => plain(text.clone()),
        Special::Link { url, label } if !crate::links::is_allowed_link(url) => {
            // Not a scheme a Matrix client may open: the text it would have shown, unlinked.
            let text = match label {
                Some(label) if label != url => format!("{label} ({url})"),
                _ => url.clone(),
            };
            plain(text)
        }
        Special::Link { url, label } => {
            let shown = label
                .clone()
                .unwrap_or_else(|| url.strip_prefix("mailto:").unwrap_or(url).to_owned());
            let bare = ["https://", "http://", "mailto:"]
                .iter()
                .find_map(|scheme| url.strip_prefix(scheme))
                .unwrap_or(url);
            let text = if label.is_none() || shown == *url || shown == bare {
                shown.clone()
            } else {
                format!("{shown} ({url})")
            };
            Rendered {
                html: format!(
                    "<a href=\"{}\">{}</a>",
                    escape_html(url),
                    escape_html(&shown)
                ),
                text,
                markup: true,
            }
        }
    }
}

/// Blocks of a message.
enum Block<'p> {
    /// Lines of text, joined with `<br>`.
    Lines(Vec<&'p [Piece]>),
    /// Quoted lines (markers stripped).
    Quote(Vec<&'p [Piece]>),
    /// A code block's content.
    Pre(&'p [Piece]),
}

struct Html<'r> {
    rendered: &'r [Rendered],
    out: String,
    /// Whether anything needs HTML to show (formatting, links, pills, quotes, code).
    formatted: bool,
}

fn is_ch(piece: Option<&Piece>, f: impl Fn(char) -> bool) -> bool {
    matches!(piece, Some(Piece::Ch(c)) if f(*c))
}

fn is_fence(pieces: &[Piece], i: usize) -> bool {
    pieces.len() >= i + 3 && pieces[i..i + 3].iter().all(|p| *p == Piece::Ch('`'))
}

/// Splits into code blocks and runs of lines, grouping quote lines.
fn blocks(pieces: &[Piece]) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    let mut after_pre = false;
    // Where fences start, so finding a closing fence is a lookup, not a scan to the end from
    // each backtick of a long run.
    let fences: Vec<usize> = (0..pieces.len()).filter(|&j| is_fence(pieces, j)).collect();
    let next_fence = |from: usize| fences.get(fences.partition_point(|&j| j < from)).copied();
    while i < pieces.len() {
        if is_fence(pieces, i)
            && let Some(end) = next_fence(i + 3)
            && end > i + 3
        {
            let mut text = &pieces[text_start..i];
            if after_pre && text.first() == Some(&Piece::Ch('\n')) {
                text = &text[1..];
            }
            if text.last() == Some(&Piece::Ch('\n')) {
                text = &text[..text.len() - 1];
            }
            if !text.is_empty() {
                line_blocks(text, &mut blocks);
            }
            blocks.push(Block::Pre(&pieces[i + 3..end]));
            i = end + 3;
            text_start = i;
            after_pre = true;
            continue;
        }
        i += 1;
    }
    let mut text = &pieces[text_start..];
    if after_pre && text.first() == Some(&Piece::Ch('\n')) {
        text = &text[1..];
    }
    if !text.is_empty() || !after_pre {
        line_blocks(text, &mut blocks);
    }
    blocks
}

fn line_blocks<'p>(text: &'p [Piece], blocks: &mut Vec<Block<'p>>) {
    for line in text.split(|p| *p == Piece::Ch('\n')) {
        if line.first() == Some(&Piece::Ch('>')) {
            let mut content = &line[1..];
            if content.first() == Some(&Piece::Ch(' ')) {
                content = &content[1..];
            }
            match blocks.last_mut() {
                Some(Block::Quote(lines)) => lines.push(content),
                _ => blocks.push(Block::Quote(vec![content])),
            }
        } else {
            match blocks.last_mut() {
                Some(Block::Lines(lines)) => lines.push(line),
                _ => blocks.push(Block::Lines(vec![line])),
            }
        }
    }
}

impl Html<'_> {
    fn document(&mut self, pieces: &[Piece]) {
        for block in blocks(pieces) {
            match block {
                Block::Lines(lines) => self.lines(&lines),
                Block::Quote(lines) => {
                    self.formatted = true;
                    self.out.push_str("<blockquote>");
                    self.lines(&lines);
                    self.out.push_str("</blockquote>");
                }
                Block::Pre(content) => {
                    self.formatted = true;
                    let mut content = content;
                    if content.first() == Some(&Piece::Ch('\n')) {
                        content = &content[1..];
                    }
                    if content.last() == Some(&Piece::Ch('\n')) {
                        content = &content[..content.len() - 1];
                    }
                    self.out.push_str("<pre><code>");
                    self.literal(content);
                    self.out.push_str("</code></pre>");
                }
            }
        }
    }

    fn lines(&mut self, lines: &[&[Piece]]) {
        for (n, line) in lines.iter().enumerate() {
            if n > 0 {
                self.out.push_str("<br>");
            }
            self.inline(line, 0, line.len());
        }
    }

    /// Text without formatting (code): specials as their plain text.
    fn literal(&mut self, pieces: &[Piece]) {
        for piece in pieces {
            match *piece {
                Piece::Ch(c) => self.push_char(c),
                Piece::Special(i) => self.out.push_str(&escape_html(&self.rendered[i].text)),
            }
        }
    }

    fn push_char(&mut self, c: char) {
        match c {
            '&' => self.out.push_str("&amp;"),
            '<' => self.out.push_str("&lt;"),
            '>' => self.out.push_str("&gt;"),
            '"' => self.out.push_str("&quot;"),
            '\'' => self.out.push_str("&#39;"),
            _ => self.out.push(c),
        }
    }

    /// Renders `line[start..end]`; `line` is the whole line, for word-boundary checks.
    fn inline(&mut self, line: &[Piece], start: usize, end: usize) {
        let mut i = start;
        // Per marker (`*`, `_`, `~`), the first position from which a search for a closer
        // failed. A later search would walk the same path to `end` (code spans pair up the
        // same way from any position this loop reaches), so it fails too without searching:
        // this keeps a line like `*a *a *a ...` linear.
        let mut no_closer_from: [Option<usize>; 3] = [None; 3];
        while i < end {
            match line[i] {
                Piece::Special(s) => {
                    let rendered = &self.rendered[s];
                    self.formatted |= rendered.markup;
                    self.out.push_str(&rendered.html);
                    i += 1;
                }
                Piece::Ch('`') => match code_span_end(line, i, end) {
                    Some(close) => {
                        self.formatted = true;
                        self.out.push_str("<code>");
                        self.literal(&line[i + 1..close]);
                        self.out.push_str("</code>");
                        i = close + 1;
                    }
                    None => {
                        self.push_char('`');
                        i += 1;
                    }
                },
                Piece::Ch(marker @ ('*' | '_' | '~')) => {
                    let slot = match marker {
                        '*' => 0,
                        '_' => 1,
                        _ => 2,
                    };
                    let known_none = no_closer_from[slot].is_some_and(|from| i + 1 >= from);
                    let close = (opens(line, i) && !known_none)
                        .then(|| find_close(line, marker, i + 1, end))
                        .flatten();
                    if close.is_none() && opens(line, i) && !known_none {
                        no_closer_from[slot] = Some(i + 1);
                    }
                    match close {
                        Some(close) => {
                            let tag = match marker {
                                '*' => "strong",
                                '_' => "em",
                                _ => "del",
                            };
                            self.formatted = true;
                            self.out.push('<');
                            self.out.push_str(tag);
                            self.out.push('>');
                            self.inline(line, i + 1, close);
                            self.out.push_str("</");
                            self.out.push_str(tag);
                            self.out.push('>');
                            i = close + 1;
                        }
                        None => {
                            self.push_char(marker);
                            i += 1;
                        }
                    }
                }
                Piece::Ch(c) => {
                    self.push_char(c);
                    i += 1;
                }
            }
        }
    }
}

/// The closing backtick of a code span opening at `open`, with non-empty content that does
/// not start with a backtick.
fn code_span_end(line: &[Piece], open: usize, end: usize) -> Option<usize> {
    if line.get(open + 1) == Some(&Piece::Ch('`')) {
        return None;
    }
    (open + 2..end).find(|&j| line[j] == Piece::Ch('`'))
}

/// Whether the marker at `i` may open: at the start or after a non-alphanumeric, and
/// followed by a non-space.
fn opens(line: &[Piece], i: usize) -> bool {
    let before_ok = i == 0 || !is_ch(line.get(i - 1), char::is_alphanumeric);
    let next = line.get(i + 1);
    before_ok && next.is_some() && !is_ch(next, char::is_whitespace)
}

/// Whether the marker at `j` may close: after a non-space, and at the end or before a
/// non-alphanumeric.
fn closes(line: &[Piece], j: usize) -> bool {
    j > 0
        && !is_ch(line.get(j - 1), char::is_whitespace)
        && !is_ch(line.get(j + 1), char::is_alphanumeric)
}

/// The closing `marker` for content starting at `from` (non-empty), skipping code spans.
fn find_close(line: &[Piece], marker: char, from: usize, end: usize) -> Option<usize> {
    let mut j = from;
    while j < end {
        if line[j] == Piece::Ch('`')
            && let Some(close) = code_span_end(line, j, end)
        {
            j = close + 1;
            continue;
        }
        if j > from && line[j] == Piece::Ch(marker) && closes(line, j) {
            return Some(j);
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(id: &str) -> Option<(String, String)> {
        match id {
            "U1" => Some(("@alice:example.org".into(), "Alice".into())),
            "U2" => Some(("@bob:example.org".into(), "Bob <B>".into())),
            _ => None,
        }
    }

    fn channels(id: &str) -> Option<ChannelRef> {
        match id {
            "C1" => Some(ChannelRef {
                name: Some("general".into()),
                matrix_room: None,
            }),
            "C9" => Some(ChannelRef {
                name: Some("bridged".into()),
                matrix_room: Some("!room:example.org".into()),
            }),
            _ => None,
        }
    }

    fn convert(text: &str) -> MatrixText {
        mrkdwn_to_matrix(text, &users, &channels)
    }

    fn html(text: &str) -> String {
        convert(text)
            .html
            .unwrap_or_else(|| panic!("no html for {text:?}"))
    }

    #[test]
    fn plain_text_stays_plain() {
        let t = convert("hello world\nsecond line");
        assert_eq!(t.body, "hello world\nsecond line");
        assert_eq!(t.html, None);
        assert!(t.mentioned_users.is_empty());
        assert!(!t.room_mention);
    }

    #[test]
    fn empty_input() {
        assert_eq!(
            convert(""),
            MatrixText {
                body: String::new(),
                html: None,
                mentioned_users: vec![],
                room_mention: false
            }
        );
    }

    #[test]
    fn entities_are_unescaped_in_body_and_escaped_in_html() {
        let t = convert("a &amp;&amp; b &lt;tag&gt; \"q\"");
        assert_eq!(t.body, "a && b <tag> \"q\"");
        assert_eq!(t.html, None);
        assert_eq!(
            html("*a &amp; b* &lt;x&gt;"),
            "<strong>a &amp; b</strong> &lt;x&gt;"
        );
        // Unknown entities are not Slack's to decode.
        assert_eq!(convert("&quot; &nbsp;").body, "&quot; &nbsp;");
    }

    #[test]
    fn basic_formatting() {
        assert_eq!(html("*bold*"), "<strong>bold</strong>");
        assert_eq!(html("_italic_"), "<em>italic</em>");
        assert_eq!(html("~strike~"), "<del>strike</del>");
        assert_eq!(html("`code`"), "<code>code</code>");
        assert_eq!(
            html("a *b* _c_ ~d~ `e`."),
            "a <strong>b</strong> <em>c</em> <del>d</del> <code>e</code>."
        );
        assert_eq!(convert("a *b* c").body, "a *b* c");
    }

    #[test]
    fn nested_formatting() {
        assert_eq!(
            html("_italic with *bold* inside_"),
            "<em>italic with <strong>bold</strong> inside</em>"
        );
        assert_eq!(html("*_both_*"), "<strong><em>both</em></strong>");
        assert_eq!(html("~*a* b~"), "<del><strong>a</strong> b</del>");
    }

    #[test]
    fn word_boundaries() {
        let t = convert("snake_case_name and 2*3*4 and a~b~c");
        assert_eq!(t.html, None);
        assert_eq!(t.body, "snake_case_name and 2*3*4 and a~b~c");
        assert_eq!(convert("5 * 3 * 2").html, None);
        assert_eq!(convert("* not bold *").html, None);
        assert_eq!(convert("*not closed").html, None);
        assert_eq!(convert("**").html, None);
        assert_eq!(html("(*bold*)!"), "(<strong>bold</strong>)!");
        assert_eq!(html("_snake_case_ word"), "<em>snake_case</em> word");
        // Formatting does not span lines.
        assert_eq!(convert("*a\nb*").html, None);
    }

    #[test]
    fn no_formatting_inside_code() {
        assert_eq!(
            html("`*stars* and _under_`"),
            "<code>*stars* and _under_</code>"
        );
        assert_eq!(
            html("*bold `with *code*` still*"),
            "<strong>bold <code>with *code*</code> still</strong>"
        );
        assert_eq!(
            html("```*not bold*\n_x_ &lt;y&gt;```"),
            "<pre><code>*not bold*\n_x_ &lt;y&gt;</code></pre>"
        );
    }

    #[test]
    fn code_blocks() {
        let t = convert("before\n```\nfn main() {}\n  indented\n```\nafter");
        assert_eq!(t.body, "before\n```\nfn main() {}\n  indented\n```\nafter");
        assert_eq!(
            t.html.as_deref(),
            Some("before<pre><code>fn main() {}\n  indented</code></pre>after")
        );
        assert_eq!(html("```one```"), "<pre><code>one</code></pre>");
        // Unterminated fences are text.
        assert_eq!(convert("``` nope").html, None);
    }

    #[test]
    fn quotes() {
        let t = convert("&gt; quoted *line*\n&gt; second\nreply");
        assert_eq!(t.body, "> quoted *line*\n> second\nreply");
        assert_eq!(
            t.html.as_deref(),
            Some("<blockquote>quoted <strong>line</strong><br>second</blockquote>reply")
        );
        assert_eq!(html(">raw"), "<blockquote>raw</blockquote>");
        // A `>` elsewhere is text.
        assert_eq!(convert("a &gt; b").html, None);
    }

    #[test]
    fn newlines_become_br_once_formatted() {
        assert_eq!(html("*a*\nb\n\nc"), "<strong>a</strong><br>b<br><br>c");
    }

    #[test]
    fn links() {
        let t = convert("see <https://x.com/a?b=1&amp;c=2|the *docs*> now");
        assert_eq!(t.body, "see the *docs* (https://x.com/a?b=1&c=2) now");
        assert_eq!(
            t.html.as_deref(),
            Some("see <a href=\"https://x.com/a?b=1&amp;c=2\">the *docs*</a> now")
        );
        let t = convert("<https://x.com>");
        assert_eq!(t.body, "https://x.com");
        assert_eq!(
            t.html.as_deref(),
            Some("<a href=\"https://x.com\">https://x.com</a>")
        );
        let t = convert("<http://x.com|x.com>");
        assert_eq!(t.body, "x.com");
        let t = convert("mail <mailto:a@b.c|a@b.c>");
        assert_eq!(t.body, "mail a@b.c");
        assert_eq!(
            t.html.as_deref(),
            Some("mail <a href=\"mailto:a@b.c\">a@b.c</a>")
        );
        assert_eq!(
            html("*<https://x.com|bold link>*"),
            "<strong><a href=\"https://x.com\">bold link</a></strong>"
        );
    }

    #[test]
    fn user_mentions() {
        let t = convert("hi <@U1>, <@U2> and <@U3> and <@U1|alice> again");
        assert_eq!(t.body, "hi Alice, Bob <B> and @U3 and Alice again");
        assert_eq!(
            t.html.as_deref(),
            Some(
                "hi <a href=\"https://matrix.to/#/@alice:example.org\">Alice</a>, \
                 <a href=\"https://matrix.to/#/@bob:example.org\">Bob &lt;B&gt;</a> and @U3 \
                 and <a href=\"https://matrix.to/#/@alice:example.org\">Alice</a> again"
            )
        );
        assert_eq!(t.mentioned_users, ["U1", "U2", "U3"]);
        // Unknown users alone need no HTML; an old-style label is shown.
        let t = convert("<@U9> <@U8|carol>");
        assert_eq!(t.body, "@U9 @carol");
        assert_eq!(t.html, None);
        assert_eq!(t.mentioned_users, ["U9", "U8"]);
    }

    #[test]
    fn room_mentions() {
        for text in [
            "<!here> hi",
            "<!channel> hi",
            "<!everyone> hi",
            "<!here|here> hi",
        ] {
            let t = convert(text);
            assert_eq!(t.body, "@room hi", "{text}");
            assert!(t.room_mention, "{text}");
            assert_eq!(t.html, None);
        }
        assert_eq!(html("*<!channel>*"), "<strong>@room</strong>");
    }

    #[test]
    fn channels_groups_and_dates() {
        let t = convert(
            "in <#C1>, <#C2|random>, <#C3> for <!subteam^S1|@devs> at <!date^1392734382^{date}|Feb 18, 2014>",
        );
        assert_eq!(
            t.body,
            "in #general, #random, #C3 for @devs at Feb 18, 2014"
        );
        assert_eq!(t.html, None);
        assert_eq!(convert("<!subteam^S1>").body, "@S1");
        let linked = convert("see <#C9>");
        assert_eq!(linked.body, "see #bridged");
        assert_eq!(
            linked.html.as_deref(),
            Some("see <a href=\"https://matrix.to/#/!room:example.org\">#bridged</a>")
        );
    }

    #[test]
    fn emoji_text_untouched() {
        let t = convert("nice :tada: 🎉 :+1::skin-tone-2:");
        assert_eq!(t.body, "nice :tada: 🎉 :+1::skin-tone-2:");
        assert_eq!(t.html, None);
        assert_eq!(html("*🎉 :tada:*"), "<strong>🎉 :tada:</strong>");
    }

    #[test]
    fn html_special_characters_in_plain_parts() {
        assert_eq!(
            html("*x* it's \"quoted\""),
            "<strong>x</strong> it&#39;s &quot;quoted&quot;"
        );
    }

    #[test]
    fn stray_angle_brackets_are_text() {
        let t = convert("a < b and c <> d");
        assert_eq!(t.body, "a < b and c <> d");
        assert_eq!(t.html, None);
    }

    #[test]
    fn lists_are_text() {
        let t = convert("• one\n• two\n- three");
        assert_eq!(t.body, "• one\n• two\n- three");
        assert_eq!(t.html, None);
    }
}
