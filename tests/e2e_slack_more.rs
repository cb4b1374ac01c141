//! The Slack connector end to end, for backfilled threads, send pacing, direct and group
//! messages with the bot, private channels, oversized files and ghost avatars.

use aqueduct_testkit::bridge_env::EnvOptions;
use aqueduct_testkit::slack_env::{SlackEnv, WAIT, ghost};
use reqwest::Method;
use serde_json::{Value, json};

/// Sets the bridge's `backfill_limit` in the config file, before the bridge starts.
fn set_backfill_limit(s: &SlackEnv, limit: usize) -> anyhow::Result<()> {
    let config = std::fs::read_to_string(&s.env.config_path)?;
    anyhow::ensure!(
        config.contains("bridge:\n"),
        "no bridge section in {config}"
    );
    std::fs::write(
        &s.env.config_path,
        config.replacen(
            "bridge:\n",
            &format!("bridge:\n  backfill_limit: {limit}\n"),
            1,
        ),
    )?;
    Ok(())
}

/// The bodies of the messages `sender` sent in `room`, oldest first, each with the event id
/// of its thread root (if any) and its own event id.
async fn bodies_of(
    s: &SlackEnv,
    room: &str,
    sender: &str,
) -> anyhow::Result<Vec<(String, Option<String>, String)>> {
    Ok(s.alice
        .messages(room)
        .await?
        .iter()
        .filter(|e| e["type"] == "m.room.message" && e["sender"] == sender)
        .map(|e| {
            let thread = (e["content"]["m.relates_to"]["rel_type"] == "m.thread")
                .then(|| e["content"]["m.relates_to"]["event_id"].as_str())
                .flatten()
                .map(str::to_owned);
            (
                e["content"]["body"].as_str().unwrap_or_default().to_owned(),
                thread,
                e["event_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridging_a_channel_backfills_its_last_messages_with_their_threads_in_order()
-> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    set_backfill_limit(&s, 3)?;
    // Pages of two: the history and the long thread each take several pages.
    s.slack.cap_pages(2);
    s.slack
        .add_channel("C2", "design", &["UBOT", "UBOB"], false);
    s.slack.post("C2", "UBOB", "too old", None);
    let a = s.slack.post("C2", "UBOB", "root a", None);
    s.slack.post("C2", "UBOB", "a reply 1", Some(&a));
    s.slack.post("C2", "UBOB", "a reply 2", Some(&a));
    s.slack.post("C2", "UBOB", "plain b", None);
    let c = s.slack.post("C2", "UBOB", "root c", None);
    s.slack.post("C2", "UBOB", "c reply", Some(&c));
    s.slack.post("C2", "UBOB", "a reply late", Some(&a));
    // Said long ago: Slack no longer delivers these as events, only the history has them.
    s.slack.give_up_undelivered_events();

    let bridge = s.env.start_in_process().await?;
    let mgmt = s.login_app().await?;
    s.env
        .command(&s.alice, &mgmt, "bridge slack C2", "Bridged design")
        .await?;
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.slack.post("C2", "UBOB", "live", None);
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "live")
        .await?;

    let got = bodies_of(&s, &room, &ghost("UBOB")).await?;
    let bodies: Vec<&str> = got.iter().map(|(b, _, _)| b.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "root a",
            "a reply 1",
            "a reply 2",
            "plain b",
            "root c",
            "c reply",
            "a reply late",
            "live"
        ],
        "the last 3 top-level messages with their threads, oldest first, each once"
    );
    let event_of = |body: &str| got.iter().find(|(b, _, _)| b == body).unwrap().2.clone();
    let thread_of = |body: &str| got.iter().find(|(b, _, _)| b == body).unwrap().1.clone();
    for reply in ["a reply 1", "a reply 2", "a reply late"] {
        assert_eq!(thread_of(reply), Some(event_of("root a")), "{reply}");
    }
    assert_eq!(thread_of("c reply"), Some(event_of("root c")));
    for top in ["root a", "plain b", "root c", "live"] {
        assert_eq!(thread_of(top), None, "{top}");
    }
    // More than one page was read, following Slack's cursor.
    let requests = s.slack.requests();
    let cursored = |method: &str| {
        requests
            .iter()
            .any(|r| r.method == method && r.params["cursor"].is_string())
    };
    assert!(cursored("conversations.history") && cursored("conversations.replies"));
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_matrix_reaches_slack_in_order_at_the_configured_pace() -> anyhow::Result<()> {
    const BURST: f64 = 2.0;
    const PER_SECOND: f64 = 4.0;
    let s = SlackEnv::start_with(
        EnvOptions::default(),
        "    send_pace: { burst: 2, per_second: 4 }\n",
    )
    .await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "pace ahead", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "pace ahead")
        .await?;

    let sent: Vec<String> = (0..8).map(|i| format!("burst {i}")).collect();
    for text in &sent {
        s.alice.send_text(&room, text).await?;
    }
    let posted = |m: &[aqueduct_testkit::fake_slack::FakeMessage]| -> Vec<String> {
        m.iter()
            .filter(|x| x.text.contains("burst "))
            .map(|x| x.text.clone())
            .collect()
    };
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| posted(m).len() >= sent.len())
        .await?;
    let texts = posted(&msgs);
    assert_eq!(texts.len(), sent.len(), "each message once: {texts:?}");
    for (got, want) in texts.iter().zip(&sent) {
        assert!(got.ends_with(want.as_str()), "in order: {texts:?}");
    }
    // However the posts are spread, any run of them fits the bucket: a burst, then the rate.
    let times: Vec<std::time::Instant> = s
        .slack
        .requests()
        .into_iter()
        .filter(|r| r.method == "chat.postMessage" && r.params["channel"] == "C1")
        .map(|r| r.received_at)
        .collect();
    assert_eq!(times.len(), sent.len());
    for i in 0..times.len() {
        for j in i + 1..times.len() {
            let posts = (j - i + 1) as f64;
            let span = times[j].duration_since(times[i]).as_secs_f64();
            // A little slack for the network between the bridge's clock and the fake's.
            assert!(
                posts <= BURST + PER_SECOND * span + 0.2,
                "posts {i}..={j} came within {span:.3}s"
            );
        }
    }
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

/// Whether `room`'s history holds the invite of `user` and whether it was marked direct.
async fn invite_is_direct(s: &SlackEnv, room: &str, user: &str) -> anyhow::Result<bool> {
    let events = s.alice.messages(room).await?;
    let invite = events
        .iter()
        .find(|e| {
            e["type"] == "m.room.member"
                && e["state_key"] == user
                && e["content"]["membership"] == "invite"
        })
        .ok_or_else(|| anyhow::anyhow!("no invite of {user} in {events:#?}"))?;
    Ok(invite["content"]["is_direct"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_and_group_messages_with_the_bot_become_rooms_and_cross_both_ways()
-> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    s.slack.add_user("UCAROL", "carol", "Carol Slack");
    s.slack.add_im("D1", "UBOB");
    s.slack.add_mpim("C0MPIM", &["UBOT", "UBOB", "UCAROL"]);
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;

    // Bob writes to the bot directly: a direct room with his ghost and no name.
    s.slack.post("D1", "UBOB", "hello bot", None);
    let dm = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&dm, WAIT, |e| e["content"]["body"] == "hello bot")
        .await?;
    assert!(invite_is_direct(&s, &dm, s.alice.user_id()).await?);
    assert_eq!(s.alice.state_event(&dm, "m.room.name", "").await?, None);
    assert!(s.alice.joined_members(&dm).await?.contains(&ghost("UBOB")));
    s.alice.send_text(&dm, "hi bob").await?;
    s.slack
        .wait_for("D1", WAIT, |m| {
            m.iter()
                .any(|x| x.text.contains("hi bob") && x.user == "UBOT")
        })
        .await?;

    // Carol writes in a group DM with Bob and the bot: a room with both ghosts, titled by
    // its members rather than Slack's internal `mpdm-...` name.
    s.slack.post("C0MPIM", "UCAROL", "hello group", None);
    let group = s
        .alice
        .wait_for_invite_except(Some(&s.env.bot), &[&dm], WAIT)
        .await?;
    s.alice.join(&group).await?;
    s.alice
        .wait_for_event(&group, WAIT, |e| e["content"]["body"] == "hello group")
        .await?;
    assert_eq!(s.alice.state_event(&group, "m.room.name", "").await?, None);
    assert!(!invite_is_direct(&s, &group, s.alice.user_id()).await?);
    let members = s.alice.joined_members(&group).await?;
    assert!(
        members.contains(&ghost("UBOB")) && members.contains(&ghost("UCAROL")),
        "{members:?}"
    );
    s.alice.send_text(&group, "hi both").await?;
    s.slack
        .wait_for("C0MPIM", WAIT, |m| {
            m.iter()
                .any(|x| x.text.contains("hi both") && x.user == "UBOT")
        })
        .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_channel_bridges_both_ways() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    // A private channel from before 2021: a `G` id, `is_group`, events of channel type
    // `group`.
    s.slack
        .add_channel("G0SECRET", "secret-plans", &["UBOT", "UBOB"], true);
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;

    let plan = s.slack.post("G0SECRET", "UBOB", "the plan", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "the plan" && e["sender"] == ghost("UBOB").as_str()
        })
        .await?;
    let wrapper = s
        .slack
        .emitted_events()
        .into_iter()
        .find(|w| w["event"]["channel"] == "G0SECRET")
        .unwrap_or_default();
    assert_eq!(wrapper["event"]["channel_type"], "group");
    let name = s.alice.state_event(&room, "m.room.name", "").await?;
    assert_eq!(
        name.as_ref().and_then(|n| n["name"].as_str()),
        Some("secret-plans")
    );
    assert!(
        s.alice
            .joined_members(&room)
            .await?
            .contains(&ghost("UBOB"))
    );

    // An edit there crosses, and so does an answer from Matrix.
    s.slack.edit("G0SECRET", &plan, "the new plan");
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "the new plan"
        })
        .await?;
    s.alice.send_text(&room, "count me in").await?;
    s.slack
        .wait_for("G0SECRET", WAIT, |m| {
            m.iter()
                .any(|x| x.text.contains("count me in") && x.user == "UBOT")
        })
        .await?;
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_over_the_size_limit_are_named_in_a_notice_both_ways() -> anyhow::Result<()> {
    let s = SlackEnv::start_with(EnvOptions::default(), "    max_file_bytes: 100\n").await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "files ahead", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "files ahead")
        .await?;

    // Slack -> Matrix: the text arrives, with a note naming the file and why.
    s.slack.upload_file(
        "C1",
        "UBOB",
        "big.bin",
        "application/octet-stream",
        vec![7; 500],
        "see the attachment",
    );
    let m = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("see the attachment"))
        })
        .await?;
    let body = m["content"]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("[big.bin was not bridged:") && body.contains("100 bytes"),
        "{body}"
    );

    // Matrix -> Slack: a notice in the room says which file and why.
    let big = vec![1u8; 500];
    let mxc = s
        .alice
        .upload(big.clone(), "application/octet-stream", "huge.bin")
        .await?;
    s.alice
        .send(
            &room,
            "m.room.message",
            json!({"msgtype": "m.file", "body": "huge.bin", "url": mxc,
                   "info": {"mimetype": "application/octet-stream", "size": big.len()}}),
        )
        .await?;
    let notice = s
        .alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == s.env.bot.as_str() && e["content"]["msgtype"] == "m.notice"
        })
        .await?;
    let text = notice["content"]["body"].as_str().unwrap_or_default();
    assert!(
        text.contains("huge.bin") && text.contains("larger than"),
        "{text}"
    );
    // Nothing else is lost: the next message crosses, and no file reached Slack.
    s.alice.send_text(&room, "after the big file").await?;
    let msgs = s
        .slack
        .wait_for("C1", WAIT, |m| {
            m.iter().any(|x| x.text.contains("after the big file"))
        })
        .await?;
    assert!(msgs.iter().all(|x| x.user != "UBOT" || x.files.is_empty()));
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_users_ghost_shows_their_slack_avatar() -> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    s.slack.post("C1", "UBOB", "look at me", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "look at me")
        .await?;
    let bob = ghost("UBOB");
    let profile: Value = s
        .alice
        .request(
            Method::GET,
            &format!(
                "/_matrix/client/v3/profile/{}",
                aqueduct_testkit::matrix_client::enc(&bob)
            ),
            None,
        )
        .await?;
    let avatar = profile["avatar_url"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("{bob} has no avatar: {profile}"))?;
    assert_eq!(s.alice.download(avatar).await?, s.slack.avatar_image());
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_behind_a_slow_one_are_acknowledged_in_time_and_bridged_once()
-> anyhow::Result<()> {
    let s = SlackEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    s.login_app().await?;
    let opening = s.slack.post("C1", "UBOB", "opening", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| e["content"]["body"] == "opening")
        .await?;

    // Carol is new to the bridge: her ghost needs her profile, which Slack rate-limits for
    // 5 s. Everything after her message waits in the portal's queue past Slack's 3 s.
    s.slack.add_user("UCAROL", "carol", "Carol Slack");
    s.slack.rate_limit("users.info", 1, 5);
    s.slack.post("C1", "UCAROL", "carol first", None);
    for i in 0..5 {
        s.slack.post("C1", "UBOB", &format!("queued {i}"), None);
    }
    s.slack.edit("C1", &opening, "opening edited");
    s.slack.react("C1", &opening, "UBOB", "tada", true);
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.reaction" && e["content"]["m.relates_to"]["key"] == "🎉"
        })
        .await?;

    // Top-level messages are left to the checkpoint catch-up if the bridge stops, so Slack
    // got their acknowledgements in time and had no reason to deliver them again.
    let redelivered = s.slack.redelivered_after_timeout();
    let messages_again: Vec<&Value> = redelivered
        .iter()
        .filter(|e| e["type"] == "message" && e["subtype"].is_null())
        .collect();
    assert!(
        messages_again.is_empty(),
        "Slack delivered these messages again: {messages_again:#?}"
    );
    // The edit and the reaction may have been delivered again (only their receipt
    // acknowledges them); each crossed once all the same.
    let events = s.alice.messages(&room).await?;
    let count = |pred: &dyn Fn(&Value) -> bool| events.iter().filter(|e| pred(e)).count();
    assert_eq!(
        count(&|e| e["content"]["m.relates_to"]["rel_type"] == "m.replace"),
        1
    );
    assert_eq!(count(&|e| e["type"] == "m.reaction"), 1);
    let mut bodies: Vec<String> = bodies_of(&s, &room, &ghost("UBOB"))
        .await?
        .into_iter()
        .map(|(b, _, _)| b)
        .filter(|b| b.starts_with("queued"))
        .collect();
    assert_eq!(
        bodies,
        (0..5).map(|i| format!("queued {i}")).collect::<Vec<_>>()
    );
    bodies = bodies_of(&s, &room, &ghost("UCAROL"))
        .await?
        .into_iter()
        .map(|(b, _, _)| b)
        .collect();
    assert_eq!(bodies, ["carol first"]);
    s.check_conformance()?;
    bridge.stop().await?;
    Ok(())
}
