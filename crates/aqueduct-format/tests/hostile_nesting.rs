//! Poison messages: deeply nested markup and adversarial runs of markup characters must neither
//! overflow the stack nor take super-linear time in any converter. Each conversion runs on a
//! thread with a 2 MiB stack, the size of a tokio worker's; a stack overflow aborts this test
//! binary, which fails the run.

use aqueduct_format::{rocketchat, shortcodes, slack};
use std::time::{Duration, Instant};

/// The stack a tokio worker thread gets by default.
const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Generous for a debug build on a busy 2-core machine; a quadratic converter needs far more
/// on these inputs.
const TIME_LIMIT: Duration = Duration::from_secs(3);

/// Runs `f` on a thread with a worker-sized stack and checks it finished within the limit.
fn on_worker_stack(what: &str, f: impl FnOnce() + Send + 'static) {
    let started = Instant::now();
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|_| panic!("{what}: converter panicked"));
    let took = started.elapsed();
    assert!(took < TIME_LIMIT, "{what}: took {took:?}");
}

fn nested(open: &str, close: &str, depth: usize, inner: &str) -> String {
    let mut s = String::with_capacity((open.len() + close.len()) * depth + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s
}

/// Matrix HTML shapes that nest without bound.
fn deep_html() -> Vec<(&'static str, String)> {
    vec![
        ("b", nested("<b>", "</b>", 20_000, "core")),
        ("b unclosed", "<b>".repeat(100_000) + "core"),
        (
            "blockquote",
            nested("<blockquote>", "</blockquote>", 10_000, "core"),
        ),
        ("ul li", nested("<ul><li>", "</li></ul>", 10_000, "core")),
        (
            "ol li",
            nested("<ol start=\"7\"><li>", "</li></ol>", 5_000, "core"),
        ),
        (
            "a",
            nested("<a href=\"https://x.org\">", "</a>", 5_000, "core"),
        ),
        (
            "mixed",
            nested(
                "<em><del><blockquote><p><span>",
                "</span></p></blockquote></del></em>",
                3_000,
                "core",
            ),
        ),
        (
            "h1 code",
            nested("<h1><code>", "</code></h1>", 10_000, "core"),
        ),
        (
            "mx-reply",
            nested("<mx-reply><pre>", "</pre></mx-reply>", 10_000, "core"),
        ),
    ]
}

#[test]
fn deep_matrix_html_to_slack_keeps_the_text() {
    for (what, html) in deep_html() {
        on_worker_stack(what, move || {
            let out = slack::matrix_to_mrkdwn("body", Some(&html), &|_| None);
            if !html.contains("mx-reply") {
                assert!(
                    out.contains("core"),
                    "text lost: {}",
                    &out[..out.len().min(200)]
                );
            }
        });
    }
}

#[test]
fn deep_matrix_html_to_rocketchat_keeps_the_text() {
    for (what, html) in deep_html() {
        on_worker_stack(what, move || {
            let out = rocketchat::matrix_to_markdown("body", Some(&html), &|_| None);
            if !html.contains("mx-reply") {
                assert!(
                    out.contains("core"),
                    "text lost: {}",
                    &out[..out.len().min(200)]
                );
            }
        });
    }
}

#[test]
fn deep_matrix_html_shortcodes() {
    for (what, html) in deep_html() {
        on_worker_stack(what, move || {
            let html = html.replace("core", ":tada:");
            let out = shortcodes::replace_shortcodes_in_html(&html, &|_| Some("X".into()));
            assert!(out.len() <= html.len());
        });
    }
}

/// Inputs that make a naive scanner look to the end of the text from every character.
fn adversarial_runs() -> Vec<(&'static str, String)> {
    let n = 60_000;
    vec![
        ("stars", "*a ".repeat(n / 3)),
        ("underscores", "_a ".repeat(n / 3)),
        ("tildes", "~a ".repeat(n / 3)),
        ("lt", "<".repeat(n)),
        ("lt a", "<a ".repeat(n / 3)),
        ("lt with a late gt", "<".repeat(n) + ">"),
        ("lt bang", "<!".repeat(n / 2)),
        ("end tags", "</a".repeat(n / 3)),
        ("quotes", "<a b=\"".repeat(n / 6)),
        ("backticks", "`".repeat(n / 2) + &"a".repeat(n / 2)),
        ("fences", "```a ".repeat(n / 5)),
        ("brackets", "[".repeat(n)),
        ("links", "[a](".repeat(n / 4)),
        ("ampersands", "&".repeat(n)),
        ("entities", "&#".repeat(n / 2)),
        ("entity-like", "&lt".repeat(n / 3)),
        ("colons", ":a".repeat(n / 2)),
        ("ats", "@a".repeat(n / 2)),
        ("gts", "&gt;".repeat(n / 4)),
        ("paragraph breaks", "<p></p><br>".repeat(n / 11)),
    ]
}

#[test]
fn adversarial_runs_take_linear_time_in_every_converter() {
    for (what, text) in adversarial_runs() {
        let t = text.clone();
        on_worker_stack(what, move || {
            slack::mrkdwn_to_matrix(&t, &|_| None, &|_| None);
        });
        let t = text.clone();
        on_worker_stack(what, move || {
            rocketchat::markdown_to_matrix(&t, &|_| None);
        });
        let t = text.clone();
        on_worker_stack(what, move || {
            slack::matrix_to_mrkdwn(&t, Some(&t), &|_| None);
        });
        let t = text.clone();
        on_worker_stack(what, move || {
            rocketchat::matrix_to_markdown(&t, Some(&t), &|_| None);
        });
        let t = text.clone();
        on_worker_stack(what, move || {
            shortcodes::replace_shortcodes_in_html(&t, &|_| Some("x".into()));
            shortcodes::shortcode_names(&t);
        });
    }
}
