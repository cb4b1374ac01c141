//! Hostile values from platforms: numbers that would size or overflow something, link
//! schemes a Matrix client must not open, and markup smuggled in text. Each test names what a
//! user would see go wrong without the guard.

use aqueduct_format::html::{self, Node};
use aqueduct_format::{rocketchat, slack};
use serde_json::{Value, json};

fn rich(elements: Value) -> slack::MatrixText {
    slack::rich_text_to_matrix(
        &json!([{"type": "rich_text", "elements": elements}]),
        &|_| None,
        &|_| None,
    )
    .expect("rich text converted")
}

fn list(indent: Value, offset: Value) -> Value {
    json!([{"type": "rich_text_list", "style": "ordered", "indent": indent, "offset": offset,
    "elements": [
        {"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]},
        {"type": "rich_text_section", "elements": [{"type": "text", "text": "two"}]}
    ]}])
}

#[test]
fn rich_text_list_numbers_are_clamped() {
    // An indent of 1e9 used to size a 4 GB string; an offset near u64::MAX overflowed.
    let t = rich(list(json!(1_000_000_000u64), json!(u64::MAX)));
    assert!(t.body.len() < 200, "{:?}", t.body);
    assert!(
        t.body.contains("one") && t.body.contains("two"),
        "{:?}",
        t.body
    );
    let t = rich(list(json!(u64::MAX), json!(0)));
    assert!(t.body.len() < 200, "{:?}", t.body);
    // Nonsense types and negative numbers count as absent.
    let t = rich(list(json!(-5), json!("x")));
    assert_eq!(t.body, "1. one\n2. two");
    let t = rich(list(json!(1.5e300), json!(-1)));
    assert_eq!(t.body, "1. one\n2. two");
    // Honest values still work.
    let t = rich(list(json!(1), json!(4)));
    assert_eq!(t.body, "    5. one\n    6. two");
}

#[test]
fn html_list_start_is_clamped() {
    for start in [
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999999",
    ] {
        let html = format!("<ol start=\"{start}\"><li>a</li><li>b</li></ol>");
        let md = slack::matrix_to_mrkdwn("", Some(&html), &|_| None);
        assert!(md.contains("a") && md.contains("b"), "{md}");
        assert!(md.len() < 40, "{md}");
        let md = rocketchat::matrix_to_markdown("", Some(&html), &|_| None);
        assert!(md.contains("a") && md.contains("b"), "{md}");
    }
}

const BAD_URLS: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "&#106;avascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "file:///etc/passwd",
];

/// Every `href` in `html` (parsed the way a client would read it).
fn hrefs(html: &str) -> Vec<String> {
    fn walk(nodes: &[Node], out: &mut Vec<String>) {
        for node in nodes {
            if let Node::Element {
                attrs, children, ..
            } = node
            {
                out.extend(
                    attrs
                        .iter()
                        .filter(|(k, _)| k == "href")
                        .map(|(_, v)| v.clone()),
                );
                walk(children, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&html::parse(html), &mut out);
    out
}

#[test]
fn slack_mrkdwn_links_with_other_schemes_stay_text() {
    for url in BAD_URLS {
        // What Slack sends: `&`, `<`, `>` escaped, tabs as they are.
        let escaped = url.replace('&', "&amp;").replace('<', "&lt;");
        let t = slack::mrkdwn_to_matrix(&format!("see <{escaped}|x> now"), &|_| None, &|_| None);
        let html = t.html.clone().unwrap_or_default();
        assert!(hrefs(&html).is_empty(), "{url:?} -> {html}");
        assert!(!html.contains("<a"), "{url:?} -> {html}");
        assert_eq!(t.body, format!("see x ({url}) now"));
        let bare = slack::mrkdwn_to_matrix(&format!("<{escaped}>"), &|_| None, &|_| None);
        assert!(hrefs(bare.html.as_deref().unwrap_or_default()).is_empty());
        assert_eq!(bare.body, *url);
    }
    // Allowed links still are.
    let t = slack::mrkdwn_to_matrix("<HTTPS://x.org|x>", &|_| None, &|_| None);
    assert_eq!(hrefs(t.html.as_deref().unwrap()), ["HTTPS://x.org"]);
}

#[test]
fn slack_rich_text_links_with_other_schemes_stay_text() {
    for url in BAD_URLS {
        let t = rich(json!([{"type": "rich_text_section", "elements": [
            {"type": "link", "url": url, "text": "click"}
        ]}]));
        assert!(
            hrefs(t.html.as_deref().unwrap_or_default()).is_empty(),
            "{url:?} {t:?}"
        );
        assert_eq!(t.body, format!("click ({url})"));
    }
    let t = rich(json!([{"type": "rich_text_section", "elements": [
        {"type": "link", "url": "mailto:a@b.c"}
    ]}]));
    assert_eq!(hrefs(t.html.as_deref().unwrap()), ["mailto:a@b.c"]);
}

#[test]
fn rocketchat_links_with_other_schemes_stay_text() {
    for url in BAD_URLS {
        let text = format!("[x]({url})");
        let t = rocketchat::markdown_to_matrix(&text, &|_| None);
        assert!(
            hrefs(t.html.as_deref().unwrap_or_default()).is_empty(),
            "{url:?} {t:?}"
        );
        assert_eq!(t.body, text);
    }
}

#[test]
fn platform_text_cannot_inject_markup() {
    let payload = "<img src=x onerror=alert(1)>\"'<script>alert(1)</script>";
    let slack_text = payload.replace('<', "&lt;").replace('>', "&gt;");
    let mut htmls = vec![
        slack::mrkdwn_to_matrix(&format!("*{slack_text}*"), &|_| None, &|_| None).html,
        slack::mrkdwn_to_matrix(
            &format!("<https://x.org/\"onmouseover=\"alert(1)|{slack_text}>"),
            &|_| None,
            &|_| None,
        )
        .html,
        rocketchat::markdown_to_matrix(
            &format!("*{payload}* [{payload}](https://x.org/\"a)"),
            &|_| None,
        )
        .html,
        rich(json!([{"type": "rich_text_section", "elements": [
            {"type": "text", "text": payload, "style": {"bold": true}},
            {"type": "link", "url": "https://x.org/\"><script>", "text": payload},
            {"type": "emoji", "name": payload},
            {"type": "date", "fallback": payload},
            {"type": "color", "value": payload},
            {"type": "usergroup", "usergroup_id": payload}
        ]}]))
        .html,
    ];
    // Lookups return names with markup in them too.
    htmls.push(
        slack::mrkdwn_to_matrix(
            "<@U1> <#C1>",
            &|_| Some(("@a:x\"".into(), payload.into())),
            &|_| {
                Some(slack::ChannelRef {
                    name: Some(payload.into()),
                    matrix_room: Some("!r:x\"><script>".into()),
                })
            },
        )
        .html,
    );
    for html in htmls {
        let html = html.expect("formatted");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
        for node in html::parse(&html) {
            assert_only_safe(&node, &html);
        }
    }
}

fn assert_only_safe(node: &Node, whole: &str) {
    if let Node::Element {
        name,
        attrs,
        children,
    } = node
    {
        assert!(
            [
                "strong",
                "em",
                "del",
                "code",
                "pre",
                "a",
                "br",
                "blockquote",
                "ol",
                "ul",
                "li"
            ]
            .contains(&name.as_str()),
            "<{name}> in {whole}"
        );
        for (key, _) in attrs {
            assert_eq!((name.as_str(), key.as_str()), ("a", "href"), "{whole}");
        }
        children.iter().for_each(|c| assert_only_safe(c, whole));
    }
}
