//! Hostile media links end to end, through a real Synapse and the fake platforms: a link a
//! message author (or a profile) chose must not make the bridge fetch from its own network
//! or hand the platform's credentials to another host. The "attacker" is an HTTP server on
//! another loopback port, which must see no request at all; the message still arrives, with
//! the file named in its text.

use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT as RC_WAIT};
use aqueduct_testkit::slack_env::{SlackEnv, WAIT};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback HTTP server that answers every request with a small PNG and records each
/// request's head.
struct Attacker {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Attacker {
    async fn start() -> anyhow::Result<Attacker> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let body = b"\x89PNG\r\n\x1a\nstolen";
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = sock.write_all(answer.as_bytes()).await;
                    let _ = sock.write_all(body).await;
                });
            }
        });
        Ok(Attacker { port, seen })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_a_title_link_to_another_host_is_named_not_fetched() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let (bridge, room) = s.open_general().await?;
    let attacker = Attacker::start().await?;
    for (name, link) in [
        ("secret.png", attacker.url("/x")),
        (
            "mapped.png",
            format!("http://[::ffff:127.0.0.1]:{}/y", attacker.port),
        ),
        ("hex.png", format!("http://0x7f000001:{}/z", attacker.port)),
    ] {
        s.rc.post_with_attachments(
            GENERAL,
            "RCBOB",
            &format!("look at {name}"),
            vec![json!({
                "title": name, "title_link": link, "title_link_download": true,
                "type": "file", "image_url": link, "image_type": "image/png",
            })],
        );
    }
    for name in ["secret.png", "mapped.png", "hex.png"] {
        let m = s
            .alice
            .wait_for_event(&room, RC_WAIT, |e| {
                e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with(&format!("look at {name}")))
            })
            .await?;
        let body = m["content"]["body"].as_str().unwrap_or_default();
        assert!(
            body.contains(&format!("[{name} was not bridged:")),
            "{body}"
        );
    }
    // The message after them crosses too: nothing was held up or dropped.
    s.rc.post(GENERAL, "RCBOB", "after the links", None);
    s.alice
        .wait_for_event(&room, RC_WAIT, |e| {
            e["content"]["body"] == "after the links"
        })
        .await?;
    let events = s.alice.messages(&room).await?;
    assert!(
        events.iter().all(|e| e["content"]["msgtype"] != "m.image"),
        "an image crossed: {events:#?}"
    );
    assert!(
        attacker.requests().is_empty(),
        "the bridge fetched from the attacker: {:#?}",
        attacker.requests()
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_an_avatar_on_another_host_never_sees_the_bot_token() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let attacker = Attacker::start().await?;
    s.slack.set_avatar_url("UBOB", &attacker.url("/avatar.png"));
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "my picture is elsewhere", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "my picture is elsewhere"
        })
        .await?;
    let token = s.slack.bot_token();
    let leaked: Vec<String> = attacker
        .requests()
        .into_iter()
        .filter(|r| r.contains(&token) || r.to_lowercase().contains("authorization"))
        .collect();
    assert!(
        leaked.is_empty(),
        "the bot token reached another host: {leaked:#?}"
    );
    // A loopback address other than Slack's own is not fetched at all.
    assert!(attacker.requests().is_empty(), "{:#?}", attacker.requests());
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_a_file_url_on_another_host_gets_no_token_and_the_file_is_named() -> anyhow::Result<()>
{
    let s = SlackEnv::start().await?;
    let attacker = Attacker::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "files ahead", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "files ahead")
        .await?;

    // Slack (or whatever answers as Slack) points the file somewhere else.
    s.slack
        .set_file_url(&attacker.url("/files-pri/F1/secret.png"));
    s.slack.upload_file(
        "C1",
        "UBOB",
        "secret.png",
        "image/png",
        b"\x89PNG\r\n\x1a\nreal".to_vec(),
        "the real file",
    );
    let m = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("the real file"))
        })
        .await?;
    let body = m["content"]["body"].as_str().unwrap_or_default();
    assert!(body.contains("[secret.png was not bridged:"), "{body}");
    assert!(
        attacker.requests().is_empty(),
        "the bridge fetched from another host: {:#?}",
        attacker.requests()
    );
    let events = s.alice.messages(&room).await?;
    assert!(events.iter().all(|e| e["content"]["msgtype"] != "m.image"));
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_a_title_link_to_the_servers_api_is_not_fetched_with_the_token()
-> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let (bridge, room) = s.open_general().await?;
    let me_calls = |s: &RocketChatEnv| {
        s.rc.requests()
            .iter()
            .filter(|r| r.endpoint.starts_with("me") || r.endpoint.starts_with("users."))
            .count()
    };
    let before = me_calls(&s);
    for (name, link) in [
        ("me.json", "/api/v1/me".to_owned()),
        ("users.json", format!("{}/api/v1/users.list", s.rc.url())),
        ("dots.json", "/file-upload/../api/v1/me".to_owned()),
    ] {
        s.rc.post_with_attachments(
            GENERAL,
            "RCBOB",
            &format!("see {name}"),
            vec![json!({"title": name, "title_link": link, "type": "file"})],
        );
        let m = s
            .alice
            .wait_for_event(&room, RC_WAIT, |e| {
                e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.starts_with(&format!("see {name}")))
            })
            .await?;
        let body = m["content"]["body"].as_str().unwrap_or_default();
        assert!(
            body.contains(&format!("[{name} was not bridged:")),
            "{body}"
        );
    }
    assert_eq!(
        me_calls(&s),
        before,
        "the bridge called the API for a 'file'"
    );
    let events = s.alice.messages(&room).await?;
    assert!(events.iter().all(|e| e["content"]["msgtype"] != "m.file"));
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_a_file_url_on_the_web_api_is_not_fetched_with_the_token() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "files ahead", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "files ahead")
        .await?;
    let calls = |s: &SlackEnv| {
        s.slack
            .requests()
            .iter()
            .filter(|r| r.method == "auth.test")
            .count()
    };
    let before = calls(&s);
    s.slack
        .set_file_url(&format!("{}/auth.test", s.slack.api_base()));
    s.slack.upload_file(
        "C1",
        "UBOB",
        "auth.json",
        "application/json",
        b"{}".to_vec(),
        "an API answer as a file",
    );
    let m = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("an API answer as a file"))
        })
        .await?;
    let body = m["content"]["body"].as_str().unwrap_or_default();
    assert!(body.contains("[auth.json was not bridged:"), "{body}");
    assert_eq!(
        calls(&s),
        before,
        "the bridge called the Web API for a file"
    );
    bridge.stop().await?;
    Ok(())
}
