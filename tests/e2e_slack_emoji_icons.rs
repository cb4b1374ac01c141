//! Slack custom emoji and relayed senders' avatars, end to end: custom emoji cross as Matrix
//! images (inline emoticons and image reactions) and back as their Slack names, and a message
//! the app relays for a Matrix user shows that user's avatar through an `icon_url` the bridge
//! serves itself.

use aqueduct_testkit::bridge_env::EnvOptions;
use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost};
use reqwest::Method;
use serde_json::json;

/// A 1x1 GIF: the custom emoji's image.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// A 1x1 PNG: Alice's avatar.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The `src` of the first emoticon image in an HTML body.
fn emoticon_src(html: &str) -> Option<String> {
    let at = html.find("<img data-mx-emoticon src=\"")? + "<img data-mx-emoticon src=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

fn has_reaction(m: &aqueduct_testkit::fake_slack::FakeMessage, name: &str, user: &str) -> bool {
    m.reactions
        .iter()
        .any(|(n, users)| n == name && users.iter().any(|u| u == user))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_emoji_cross_as_images_and_back_as_their_names() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack.add_custom_emoji("partyparrot", "image/gif", GIF);
    s.slack.add_emoji_alias("parrot_alias", "partyparrot");
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;

    // Inline in Slack text: an image in the HTML, the shortcode in the plain body; names
    // the workspace does not have stay text.
    let hello_ts = s
        .slack
        .post("C1", "UBOB", "hello :partyparrot: and :nope:", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    let hello = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "hello :partyparrot: and :nope:"
        })
        .await?;
    let html = hello["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    let mxc = emoticon_src(html).unwrap_or_default();
    assert!(mxc.starts_with("mxc://"), "no emoticon image in {html}");
    assert!(html.contains(r#"alt=":partyparrot:""#), "{html}");
    assert!(html.ends_with(" and :nope:"), "{html}");
    assert_eq!(s.alice.download(&mxc).await?, GIF);

    // A reaction with an alias of the custom emoji: the same image as the key, with its name.
    s.slack.react("C1", &hello_ts, "UBOB", "parrot_alias", true);
    let reaction = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction" && e["sender"] == ghost("UBOB").as_str()
        })
        .await?;
    assert_eq!(reaction["content"]["m.relates_to"]["key"], mxc.as_str());
    assert_eq!(
        reaction["content"]["com.beeper.reaction.shortcode"],
        ":parrot_alias:"
    );
    assert_eq!(
        reaction["content"]["m.relates_to"]["event_id"],
        hello["event_id"]
    );

    // Matrix -> Slack: reacting with the image reacts with the custom emoji's name.
    let hello_id = hello["event_id"].as_str().unwrap_or_default();
    s.alice.react(&room, hello_id, &mxc).await?;
    s.slack
        .wait_for("C1", WAIT, |msgs| {
            msgs.iter()
                .any(|m| m.ts == hello_ts && has_reaction(m, "partyparrot", "UBOT"))
        })
        .await?;

    // An image the bridge never uploaded, named by Beeper's shortcode field.
    let second_ts = s.slack.post("C1", "UBOB", "second", None);
    let second = s
        .alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "second")
        .await?;
    s.alice
        .send(
            &room,
            "m.reaction",
            json!({
                "m.relates_to": {
                    "rel_type": "m.annotation",
                    "event_id": second["event_id"],
                    "key": "mxc://localhost/someoneelsesparrot",
                },
                "com.beeper.reaction.shortcode": ":partyparrot:",
            }),
        )
        .await?;
    s.slack
        .wait_for("C1", WAIT, |msgs| {
            msgs.iter()
                .any(|m| m.ts == second_ts && has_reaction(m, "partyparrot", "UBOT"))
        })
        .await?;

    // Matrix -> Slack inline: the emoticon image becomes the Slack name, whatever its alt.
    s.alice
        .send_html(
            &room,
            "look :pp:",
            &format!(
                r#"look <img data-mx-emoticon src="{mxc}" alt=":pp:" title=":pp:" height="32">"#
            ),
        )
        .await?;
    s.slack
        .wait_for("C1", WAIT, |msgs| {
            msgs.iter()
                .any(|m| m.user == "UBOT" && m.text == "look :partyparrot:")
        })
        .await?;

    // An emoji added to the workspace now (`emoji_changed`) is an image in the very next
    // message, though the list was fetched less than a minute ago; a removed one is text.
    s.slack.add_custom_emoji("nope", "image/gif", GIF);
    s.slack.remove_custom_emoji("partyparrot");
    s.slack
        .post("C1", "UBOB", "now :nope: but not :partyparrot:", None);
    let now = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "now :nope: but not :partyparrot:"
        })
        .await?;
    let html = now["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    assert!(html.contains(r#"alt=":nope:""#), "{html}");
    assert!(html.ends_with(" but not :partyparrot:"), "{html}");

    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

/// Alice's avatar: uploads the PNG and sets it on her profile; returns its `mxc://` URI.
async fn set_avatar(s: &SlackEnv) -> anyhow::Result<String> {
    let mxc = s.alice.upload(PNG.to_vec(), "image/png", "me.png").await?;
    let path = format!(
        "/_matrix/client/v3/profile/{}/avatar_url",
        aqueduct_testkit::matrix_client::enc(s.alice.user_id())
    );
    s.alice
        .request(Method::PUT, &path, Some(&json!({ "avatar_url": mxc })))
        .await?;
    Ok(mxc)
}

async fn get(url: &str) -> anyhow::Result<(u16, Option<String>, Vec<u8>)> {
    let r = reqwest::get(url).await?;
    let status = r.status().as_u16();
    let mime = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, mime, r.bytes().await?.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relayed_messages_show_the_matrix_users_avatar_served_by_the_bridge() -> anyhow::Result<()>
{
    let s = SlackEnv::start_with(
        EnvOptions {
            public_url: true,
            ..Default::default()
        },
        "",
    )
    .await?;
    let avatar = set_avatar(&s).await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "hi", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hi")
        .await?;

    s.alice.send_text(&room, "from matrix").await?;
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |msgs| {
            msgs.iter().any(|m| m.text.contains("from matrix"))
        })
        .await?;
    let sent = msgs
        .iter()
        .find(|m| m.text.contains("from matrix"))
        .expect("waited for");
    let icon = sent.icon_url.clone().unwrap_or_default();
    let prefix = format!("http://127.0.0.1:{}/_aqueduct/media/", s.env.bridge_port);
    assert!(icon.starts_with(&prefix), "icon_url {icon:?}");
    assert!(sent.username.is_some());

    let (status, mime, bytes) = get(&icon).await?;
    assert_eq!(status, 200);
    assert_eq!(mime.as_deref(), Some("image/png"));
    assert_eq!(bytes, PNG);

    // The route serves only what the bridge signed: not another media id under the same
    // signature, nor a changed signature.
    let other = s.alice.upload(GIF.to_vec(), "image/gif", "x.gif").await?;
    let other_id = other.rsplit('/').next().unwrap_or_default();
    let avatar_id = avatar.rsplit('/').next().unwrap_or_default();
    let (status, _, _) = get(&icon.replace(avatar_id, other_id)).await?;
    assert_eq!(status, 404);
    let signature = icon[prefix.len()..].split('/').next().unwrap_or_default();
    let flipped: String = signature
        .chars()
        .enumerate()
        .map(|(i, c)| match (i, c) {
            (0, '0') => '1',
            (0, _) => '0',
            _ => c,
        })
        .collect();
    let (status, _, bytes) = get(&icon.replacen(signature, &flipped, 1)).await?;
    assert_eq!(status, 404);
    assert_ne!(bytes, PNG);

    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

/// Without a public URL the bridge names relayed senders but gives Slack no icon to fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_url_relayed_messages_carry_no_icon() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    set_avatar(&s).await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "hi", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "hi")
        .await?;
    s.alice.send_text(&room, "no icon").await?;
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |msgs| {
            msgs.iter().any(|m| m.text.contains("no icon"))
        })
        .await?;
    let m = msgs
        .iter()
        .find(|m| m.text.contains("no icon"))
        .expect("waited for");
    assert!(m.username.is_some());
    assert_eq!(m.icon_url, None);
    bridge.stop().await?;
    Ok(())
}
