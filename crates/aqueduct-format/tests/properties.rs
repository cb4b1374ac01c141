//! Property tests over generated input (a small hand-rolled generator with a fixed seed, so a
//! failure names the case and reproduces): random nesting, random markup characters and
//! random links through every converter. Properties: no panic, output size linear in the
//! input, escaping round-trips, no markup injected, links only with allowed schemes.

use aqueduct_format::html::{self, MAX_DEPTH, Node};
use aqueduct_format::links::is_allowed_link;
use aqueduct_format::{escape_html, rocketchat, slack};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const CASES: usize = 2_000;

fn rng() -> StdRng {
    StdRng::seed_from_u64(14)
}

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Random text over markup characters of every format, with the marker word `zq` in it.
fn markup_text(rng: &mut StdRng, len: usize) -> String {
    const PIECES: &[&str] = &[
        "*",
        "_",
        "~",
        "`",
        "```",
        "<",
        ">",
        "&",
        "&amp;",
        "&lt;",
        "&gt;",
        "&#106;",
        "|",
        "@",
        "#",
        "!",
        ":",
        "[",
        "]",
        "(",
        ")",
        "\n",
        " ",
        "a",
        "b",
        "zq",
        "\"",
        "'",
        "\t",
        "é",
        "🎉",
        ":tada:",
        "@all",
        "@here",
        "<!here>",
        "<@U1>",
        "<#C1>",
        "http://",
        "https://x.org",
    ];
    (0..len).map(|_| pick(rng, PIECES)).collect()
}

const SCHEMES: &[&str] = &[
    "https://x.org/p",
    "http://x.org",
    "mailto:a@b.c",
    "HTTPS://X.ORG",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "&#106;avascript:alert(1)",
    "data:text/html,x",
    "vbscript:x",
    "file:///etc/passwd",
    "//x.org",
    "x",
    "",
];

/// Random Matrix HTML: nested elements (sometimes far deeper than the cap), text with `zq`
/// words, links with random schemes. Returns the HTML and how many `zq` words it holds.
fn random_html(rng: &mut StdRng) -> (String, usize) {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "del",
        "s",
        "code",
        "pre",
        "p",
        "div",
        "blockquote",
        "ul",
        "ol",
        "li",
        "h1",
        "span",
        "font",
        "u",
        "a",
        "table",
        "tr",
        "details",
    ];
    let depth = if rng.random_bool(0.1) {
        rng.random_range(MAX_DEPTH..4 * MAX_DEPTH)
    } else {
        rng.random_range(0..8)
    };
    let mut html = String::new();
    let mut words = 0;
    let mut open = Vec::new();
    for _ in 0..depth {
        let tag = pick(rng, TAGS);
        match tag {
            "a" => html.push_str(&format!("<a href=\"{}\">", escape_html(pick(rng, SCHEMES)))),
            "ol" => html.push_str(&format!("<ol start=\"{}\">", rng.random::<i64>())),
            _ => html.push_str(&format!("<{tag}>")),
        }
        open.push(tag);
        if rng.random_bool(0.3) {
            html.push_str(" zq ");
            words += 1;
        }
        if rng.random_bool(0.1) {
            html.push_str("<br>");
        }
    }
    html.push_str("zq");
    words += 1;
    while let Some(tag) = open.pop() {
        if rng.random_bool(0.9) {
            html.push_str(&format!("</{tag}>"));
        }
        if rng.random_bool(0.2) {
            html.push_str(" zq\n");
            words += 1;
        }
    }
    (html, words)
}

fn linear_limit(input: usize) -> usize {
    8 * MAX_DEPTH * input + 1024
}

/// Every element and attribute of `out` is one a converter to Matrix writes.
fn assert_safe(out: &str, case: &str) {
    fn walk(nodes: &[Node], out: &str, case: &str) {
        for node in nodes {
            let Node::Element {
                name,
                attrs,
                children,
            } = node
            else {
                continue;
            };
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
                "<{name}> in {out:?} from {case:?}"
            );
            for (key, value) in attrs {
                let lower = value
                    .trim_start()
                    .replace(['\t', '\n', '\r'], "")
                    .to_lowercase();
                assert!(
                    name == "a"
                        && key == "href"
                        && ["http:", "https:", "mailto:"]
                            .iter()
                            .any(|s| lower.starts_with(s)),
                    "{key}={value:?} in {out:?} from {case:?}"
                );
            }
            walk(children, out, case);
        }
    }
    walk(&html::parse(out), out, case);
}

#[test]
fn random_nesting_to_platforms_keeps_every_word_in_linear_size() {
    let mut rng = rng();
    for _ in 0..CASES {
        let (html, words) = random_html(&mut rng);
        let md = slack::matrix_to_mrkdwn("", Some(&html), &|_| None);
        assert!(md.len() <= linear_limit(html.len()), "{html:?}");
        assert_eq!(md.matches("zq").count(), words, "slack {html:?} -> {md:?}");
        let md = rocketchat::matrix_to_markdown("", Some(&html), &|_| None);
        assert!(md.len() <= linear_limit(html.len()), "{html:?}");
        assert_eq!(md.matches("zq").count(), words, "rocket {html:?} -> {md:?}");
    }
}

#[test]
fn random_markup_from_platforms_is_safe_html_of_linear_size() {
    let mut rng = rng();
    for _ in 0..CASES {
        let len = rng.random_range(0..60);
        let text = markup_text(&mut rng, len);
        let user = |id: &str| (id == "U1").then(|| ("@u:x".to_owned(), "U <1>".to_owned()));
        let t = slack::mrkdwn_to_matrix(&text, &user, &|_| None);
        if let Some(h) = &t.html {
            assert_safe(h, &text);
            assert!(h.len() <= 32 * text.len() + 64, "{text:?}");
        }
        let user = |n: &str| (n == "a").then(|| ("@u:x".to_owned(), "A\"<".to_owned()));
        let t = rocketchat::markdown_to_matrix(&text, &user);
        if let Some(h) = &t.html {
            assert_safe(h, &text);
            assert!(h.len() <= 32 * text.len() + 64, "{text:?}");
        }
        // The reverse direction takes the same characters as HTML without panicking.
        slack::matrix_to_mrkdwn(&text, Some(&text), &|_| None);
        rocketchat::matrix_to_markdown(&text, Some(&text), &|_| None);
    }
}

#[test]
fn escaping_round_trips() {
    let mut rng = rng();
    for _ in 0..CASES {
        let len = rng.random_range(0..40);
        let text = markup_text(&mut rng, len);
        // HTML escaping is undone exactly by the HTML reader, and parses as text only.
        assert_eq!(html::decode_entities(&escape_html(&text)), text);
        let nodes = html::parse(&escape_html(&text));
        assert!(nodes.iter().all(|n| matches!(n, Node::Text(_))), "{text:?}");
        // Text escaped for Slack comes back from Slack as itself.
        let back = slack::mrkdwn_to_matrix(&slack::escape_mrkdwn(&text), &|_| None, &|_| None);
        assert_eq!(back.body, text);
        if let Some(h) = &back.html {
            assert_safe(h, &text);
        }
    }
}

#[test]
fn random_links_keep_an_href_only_with_an_allowed_scheme() {
    let mut rng = rng();
    for _ in 0..CASES {
        let url = format!(
            "{}{}",
            pick(&mut rng, SCHEMES),
            markup_text(&mut rng, 2).replace(['<', '>', '|', ')', '\n', ' '], "")
        );
        let allowed = is_allowed_link(&url);
        let slack_url = url.replace('&', "&amp;");
        let outs = [
            slack::mrkdwn_to_matrix(&format!("<{slack_url}|x>"), &|_| None, &|_| None).html,
            rocketchat::markdown_to_matrix(&format!("[x]({url})"), &|_| None).html,
            slack::rich_text_to_matrix(
                &serde_json::json!([{"type": "rich_text", "elements": [{"type": "rich_text_section",
                    "elements": [{"type": "link", "url": url, "text": "x"}]}]}]),
                &|_| None,
                &|_| None,
            )
            .and_then(|t| t.html),
        ];
        for out in outs {
            let out = out.unwrap_or_default();
            assert_safe(&out, &url);
            // Rocket.Chat markdown has no link without a non-empty target.
            if allowed
                && !url.trim().is_empty()
                && !url.contains(['(', '[', ']', '`', '*', '_', '~'])
            {
                assert!(out.contains("<a href="), "{url:?} lost its link: {out:?}");
            }
        }
    }
}
