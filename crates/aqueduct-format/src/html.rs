//! A small, tolerant HTML reader for Matrix `formatted_body`: tags, attributes, comments and
//! entities into a tree. Not a conforming HTML parser; it never fails, and whatever it cannot
//! read as markup it keeps as text.
//!
//! Its input is whatever a Matrix user sent, so it is built to be hostile-input safe: the tree
//! is at most [`MAX_DEPTH`] elements deep (deeper tags are dropped and their text joins the
//! element at the cap, so converters that walk the tree recursively cannot overflow a
//! worker's stack, and dropping the tree cannot either), and reading takes time linear in
//! the input (a tag left open at the end of the input makes the rest text instead of being
//! re-read from every later `<`; entities are looked for within a bounded window).

/// How many elements deep the tree may nest. Deeper start tags are ignored (their contents
/// stay, as text and elements of the element at the cap). Real messages nest a handful of
/// levels; 64 leaves room for any of them and keeps every recursive walk a few kilobytes of
/// stack per level well inside a 2 MiB worker stack.
pub const MAX_DEPTH: usize = 64;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Text with its entities decoded.
    Text(String),
    /// An element; `name` is lowercase.
    Element {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
    },
}

impl Node {
    /// The value of an attribute (names are lowercase).
    pub fn attr(&self, key: &str) -> Option<&str> {
        match self {
            Node::Element { attrs, .. } => attrs
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
            Node::Text(_) => None,
        }
    }

    /// All the text under this node, as written (whitespace kept).
    pub fn text(&self) -> String {
        let mut out = String::new();
        collect_text(self, &mut out);
        out
    }
}

fn collect_text(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) => out.push_str(t),
        Node::Element { name, children, .. } => {
            if name == "br" {
                out.push('\n');
            }
            for child in children {
                collect_text(child, out);
            }
        }
    }
}

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// An open element while parsing: name, attributes, children so far.
type Open = (String, Vec<(String, String)>, Vec<Node>);

enum Token {
    Text(String),
    Start {
        name: String,
        attrs: Vec<(String, String)>,
        self_closing: bool,
    },
    End(String),
}

/// Parses HTML into a list of top-level nodes, at most [`MAX_DEPTH`] elements deep. Never
/// fails and never loses text; takes time linear in the input.
pub fn parse(html: &str) -> Vec<Node> {
    // Open elements; index 0 is the document root.
    let mut stack: Vec<Open> = vec![(String::new(), Vec::new(), Vec::new())];
    fn close_top(stack: &mut Vec<Open>) {
        let (name, attrs, children) = stack.pop().expect("never pops the root");
        stack.last_mut().expect("root stays").2.push(Node::Element {
            name,
            attrs,
            children,
        });
    }
    for token in tokenize(html) {
        match token {
            Token::Text(t) => {
                let children = &mut stack.last_mut().expect("root stays").2;
                if let Some(Node::Text(prev)) = children.last_mut() {
                    prev.push_str(&t);
                } else {
                    children.push(Node::Text(t));
                }
            }
            Token::Start {
                name,
                attrs,
                self_closing,
            } => {
                // Implicitly closed elements: a new <li> or <p> ends an open one.
                if (name == "li" || name == "p")
                    && stack.len() > 1
                    && stack.last().is_some_and(|(top, _, _)| *top == name)
                {
                    close_top(&mut stack);
                }
                if self_closing || VOID.contains(&name.as_str()) {
                    stack.last_mut().expect("root stays").2.push(Node::Element {
                        name,
                        attrs,
                        children: Vec::new(),
                    });
                } else if stack.len() < MAX_DEPTH {
                    // The stack holds the root too: open elements stop one short of the cap,
                    // so a void element inside the deepest one is still within it.
                    stack.push((name, attrs, Vec::new()));
                }
                // Deeper than the cap: the tag is dropped, what it holds stays where we are.
            }
            Token::End(name) => {
                if let Some(pos) = stack.iter().skip(1).rposition(|(n, _, _)| *n == name) {
                    while stack.len() > pos + 1 {
                        close_top(&mut stack);
                    }
                }
            }
        }
    }
    while stack.len() > 1 {
        close_top(&mut stack);
    }
    stack
        .pop()
        .map(|(_, _, children)| children)
        .unwrap_or_default()
}

fn tokenize(html: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        text.push_str(&rest[..lt]);
        let tag = &rest[lt..];
        match read_tag(tag) {
            Tag::Read(token, len) => {
                if !text.is_empty() {
                    tokens.push(Token::Text(decode_entities(&std::mem::take(&mut text))));
                }
                if let Some(token) = token {
                    tokens.push(token);
                }
                rest = &tag[len..];
            }
            Tag::Text => {
                text.push('<');
                rest = &tag[1..];
            }
            // Every later `<` would run into the same end: reading them all again would be
            // quadratic, and keeping the rest as text loses nothing.
            Tag::Unterminated => break,
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        tokens.push(Token::Text(decode_entities(&text)));
    }
    tokens
}

/// What a `<` starts.
enum Tag {
    /// A tag: its token (None for comments and declarations) and the bytes consumed.
    Read(Option<Token>, usize),
    /// This `<` is just text.
    Text,
    /// A tag whose end (`>` or closing quote) is not in the input.
    Unterminated,
}

/// Reads a tag at the start of `s` (which starts with `<`).
fn read_tag(s: &str) -> Tag {
    match read_tag_inner(s) {
        Ok(Some((token, len))) => Tag::Read(token, len),
        Ok(None) => Tag::Text,
        Err(Unterminated) => Tag::Unterminated,
    }
}

/// The input ended inside a tag.
struct Unterminated;

/// `Ok(None)` when this `<` is text, `Err` when the tag runs to the end of the input.
#[allow(clippy::type_complexity)]
fn read_tag_inner(s: &str) -> Result<Option<(Option<Token>, usize)>, Unterminated> {
    if let Some(body) = s.strip_prefix("<!--") {
        let len = body.find("-->").map_or(s.len(), |end| 4 + end + 3);
        return Ok(Some((None, len)));
    }
    let Some(after) = s[1..].chars().next() else {
        return Ok(None);
    };
    if after == '!' || after == '?' {
        let end = s.find('>').ok_or(Unterminated)?;
        return Ok(Some((None, end + 1)));
    }
    if after == '/' {
        let name_start = 2;
        let name_len = name_length(&s[name_start..]);
        if name_len == 0 {
            return Ok(None);
        }
        let end = s.find('>').ok_or(Unterminated)?;
        let name = s[name_start..name_start + name_len].to_ascii_lowercase();
        return Ok(Some((Some(Token::End(name)), end + 1)));
    }
    if !after.is_ascii_alphabetic() {
        return Ok(None);
    }
    let name_len = name_length(&s[1..]);
    let name = s[1..1 + name_len].to_ascii_lowercase();
    let mut attrs = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 1 + name_len;
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i).ok_or(Unterminated)? {
            b'>' => {
                return Ok(Some((
                    Some(Token::Start {
                        name,
                        attrs,
                        self_closing: false,
                    }),
                    i + 1,
                )));
            }
            b'/' if bytes.get(i + 1) == Some(&b'>') => {
                return Ok(Some((
                    Some(Token::Start {
                        name,
                        attrs,
                        self_closing: true,
                    }),
                    i + 2,
                )));
            }
            b'/' => i += 1,
            _ => {
                let key_start = i;
                while i < bytes.len()
                    && !bytes[i].is_ascii_whitespace()
                    && !matches!(bytes[i], b'=' | b'>' | b'/')
                {
                    i += 1;
                }
                let key = s[key_start..i].to_ascii_lowercase();
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let mut value = String::new();
                if bytes.get(i) == Some(&b'=') {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    match bytes.get(i).ok_or(Unterminated)? {
                        &q @ (b'"' | b'\'') => {
                            let end = s[i + 1..].find(q as char).ok_or(Unterminated)? + i + 1;
                            value = decode_entities(&s[i + 1..end]);
                            i = end + 1;
                        }
                        _ => {
                            let start = i;
                            while i < bytes.len()
                                && !bytes[i].is_ascii_whitespace()
                                && bytes[i] != b'>'
                            {
                                i += 1;
                            }
                            value = decode_entities(&s[start..i]);
                        }
                    }
                }
                if !key.is_empty() {
                    attrs.push((key, value));
                }
            }
        }
    }
}

fn name_length(s: &str) -> usize {
    s.bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b':')
        .count()
}

/// Decodes the named entities Matrix clients use and all numeric ones; anything else stays.
/// Linear time: the `;` of an entity is only looked for within its longest possible length.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let window = &rest.as_bytes()[1..rest.len().min(12)];
        let decoded = window.iter().position(|&b| b == b';').and_then(|end| {
            let entity = &rest[1..1 + end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = entity.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code).filter(|&c| c != '\0')
                }
            }?;
            Some((c, end + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(name: &str, children: Vec<Node>) -> Node {
        Node::Element {
            name: name.into(),
            attrs: Vec::new(),
            children,
        }
    }

    fn text(t: &str) -> Node {
        Node::Text(t.into())
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp; b &lt;c&gt; &quot;d&quot; &#39;e&#39; &#x1F600; &nbsp;"),
            "a & b <c> \"d\" 'e' 😀 \u{a0}"
        );
        assert_eq!(
            decode_entities("AT&T &bogus; & &#xZZ;"),
            "AT&T &bogus; & &#xZZ;"
        );
    }

    #[test]
    fn tree_with_attributes_and_void_elements() {
        let nodes = parse("<p>a<br/>b <A HREF='x?a=1&amp;b=2' data-x>l</A><img alt=\":p:\"></p>");
        assert_eq!(nodes.len(), 1);
        let Node::Element { name, children, .. } = &nodes[0] else {
            panic!("{nodes:?}")
        };
        assert_eq!(name, "p");
        assert_eq!(children[0], text("a"));
        assert_eq!(children[1], el("br", vec![]));
        assert_eq!(children[3].attr("href"), Some("x?a=1&b=2"));
        assert_eq!(children[3].attr("data-x"), Some(""));
        assert_eq!(children[4].attr("alt"), Some(":p:"));
    }

    fn depth(nodes: &[Node]) -> usize {
        nodes
            .iter()
            .map(|n| match n {
                Node::Element { children, .. } => 1 + depth(children),
                Node::Text(_) => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// Found by the `html_parse` fuzz target: a void or self-closing element inside the
    /// deepest open element went one level past the cap.
    #[test]
    fn void_elements_at_the_cap_stay_within_it() {
        for leaf in ["<br>", "<b/>", "<img alt=x>"] {
            let html = "<b>".repeat(3 * MAX_DEPTH) + leaf + "text";
            let nodes = parse(&html);
            assert_eq!(depth(&nodes), MAX_DEPTH, "{leaf}");
            assert_eq!(nodes[0].text().trim(), "text");
        }
    }

    #[test]
    fn tolerates_broken_markup() {
        assert_eq!(parse("1 < 2 <3"), vec![text("1 < 2 <3")]);
        assert_eq!(parse("<b>x"), vec![el("b", vec![text("x")])]);
        assert_eq!(parse("x</i>y"), vec![text("xy")]);
        assert_eq!(parse("<!-- hi -->z"), vec![text("z")]);
        assert_eq!(
            parse("<ul><li>a<li>b</ul>"),
            vec![el(
                "ul",
                vec![el("li", vec![text("a")]), el("li", vec![text("b")])]
            )]
        );
        assert_eq!(
            parse("<b><i>x</b>y"),
            vec![el("b", vec![el("i", vec![text("x")])]), text("y")]
        );
        assert_eq!(
            parse("<a href=\"unterminated>x"),
            vec![text("<a href=\"unterminated>x")]
        );
    }
}
