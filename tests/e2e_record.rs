//! The audit record kept by the real bridge: messages, edits, reactions and deletes in both
//! directions through a real Synapse each get their entry, the bridge seals the record when it
//! stops, and the record verifies with the bridge's public key alone. An auditor can recompute
//! a message's content digest from the event the homeserver holds.

use aqueduct::audit_cli::verify_database;
use aqueduct::record::signing_key;
use aqueduct_core::audit::{AuditAction, AuditDirection, AuditEntry, content_digest};
use aqueduct_store::{AuditQuery, SqlStore};
use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const BOB: &str = "@aqueduct_testnet_bob:localhost";

fn entry<'a>(
    entries: &'a [AuditEntry],
    direction: AuditDirection,
    action: AuditAction,
    event_id: &str,
) -> &'a AuditEntry {
    entries
        .iter()
        .find(|e| {
            e.draft.direction == direction
                && e.draft.action == action
                && e.draft.matrix_event_id == event_id
        })
        .unwrap_or_else(|| {
            panic!("no {direction:?} {action:?} entry for {event_id} in {entries:#?}")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_crosses_is_recorded_sealed_and_verifies() -> anyhow::Result<()> {
    let env = BridgeEnv::new(EnvOptions::default()).await?;
    let token = env.net.add_user("alice_r", "Alice Remote");
    env.net.add_user("bob", "Bob Remote");
    env.net
        .add_chat("general", Some("General"), &["alice_r", "bob"], false);
    let bridge = env.start_in_process().await?;
    let alice = env.user("alice").await?;
    env.login(&alice, &token).await?;

    // Remote -> Matrix.
    let first = env.net.post("general", "bob", "hello from bob");
    let room = env.accept_portal_invite(&alice).await?;
    let hello = alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == BOB && e["content"]["body"] == "hello from bob"
        })
        .await?;
    let hello_id = hello["event_id"].as_str().unwrap().to_owned();

    // Matrix -> remote, its edit and a reaction.
    let mine = alice.send_text(&room, "hi from alice").await?;
    let sent = env
        .net
        .wait_for("general", WAIT, |m| {
            m.iter().any(|x| x.text == "hi from alice")
        })
        .await?
        .into_iter()
        .find(|x| x.text == "hi from alice")
        .unwrap();
    let edit = alice
        .send(
            &room,
            "m.room.message",
            json!({
                "msgtype": "m.text", "body": "* hi again",
                "m.new_content": {"msgtype": "m.text", "body": "hi again"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": mine}
            }),
        )
        .await?;
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter().any(|x| x.id == sent.id && x.edits == 1)
        })
        .await?;
    let thumbs = alice.react(&room, &hello_id, "👍").await?;
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter().any(|x| x.id == first && !x.reactions.is_empty())
        })
        .await?;

    // Remote edit, reaction and its removal, and delete.
    env.net.edit("general", &first, "bob", "hello (edited)");
    let remote_edit = alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == BOB && e["content"]["m.new_content"]["body"] == "hello (edited)"
        })
        .await?;
    env.net.react("general", &sent.id, "bob", "🎉", true);
    let party = alice
        .wait_for_event(&room, WAIT, |e| {
            e["sender"] == BOB && e["type"] == "m.reaction"
        })
        .await?;
    let party_id = party["event_id"].as_str().unwrap().to_owned();
    env.net.react("general", &sent.id, "bob", "🎉", false);
    let unparty = alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == party_id.as_str()
                    || e["content"]["redacts"] == party_id.as_str())
        })
        .await?;
    env.net.delete("general", &first, "bob");
    let hello_gone = alice
        .wait_for_event(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == hello_id.as_str()
                    || e["content"]["redacts"] == hello_id.as_str())
        })
        .await?;

    // Matrix delete.
    let gone = alice.redact(&room, &mine, None).await?;
    env.net
        .wait_for("general", WAIT, |m| {
            m.iter().any(|x| x.id == sent.id && x.deleted)
        })
        .await?;

    // Stopping seals what was recorded.
    bridge.stop().await?;
    let store = SqlStore::connect(&format!(
        "sqlite://{}",
        env.dir.path().join("aqueduct.db").display()
    ))
    .await?;
    let key = signing_key::load(&env.dir.path().join("record-signing.key"))?;
    let report = verify_database(&store, &[key.verifying_key()]).await??;
    let entries = store
        .audit_entries(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await?;
    assert_eq!(report.entries, entries.len() as u64);
    assert_eq!(report.sealed_through, entries.last().map(|e| e.seq));
    assert_eq!(report.unsealed, 0);

    use AuditAction::*;
    use AuditDirection::*;
    let id = |e: &Value| e["event_id"].as_str().unwrap().to_owned();
    let bob_said = entry(&entries, ToMatrix, Message, &hello_id);
    assert_eq!(bob_said.draft.matrix_sender, BOB);
    assert_eq!(bob_said.draft.remote_sender, "bob");
    assert_eq!(
        bob_said
            .draft
            .remote_message_id
            .as_ref()
            .map(|r| r.as_str()),
        Some(first.as_str())
    );
    assert_eq!(bob_said.draft.room_id, room);
    // The digest is of the content the homeserver holds: an auditor can recompute it.
    assert_eq!(
        bob_said.draft.content_digest.as_deref(),
        Some(content_digest(&hello["content"]).as_str())
    );
    let alice_said = entry(&entries, ToRemote, Message, &mine);
    assert_eq!(alice_said.draft.matrix_sender, alice.user_id());
    assert_eq!(alice_said.draft.remote_sender, "alice_r");
    assert_eq!(
        alice_said
            .draft
            .remote_message_id
            .as_ref()
            .map(|r| r.as_str()),
        Some(sent.id.as_str())
    );
    entry(&entries, ToRemote, Edit, &edit);
    entry(&entries, ToRemote, Reaction, &thumbs);
    entry(&entries, ToMatrix, Edit, &id(&remote_edit));
    entry(&entries, ToMatrix, Reaction, &party_id);
    entry(&entries, ToMatrix, Unreaction, &id(&unparty));
    entry(&entries, ToMatrix, Delete, &id(&hello_gone));
    let deleted = entry(&entries, ToRemote, Delete, &gone);
    assert_eq!(deleted.draft.content_digest, None);
    assert_eq!(entries.len(), 9, "nothing else crossed: {entries:#?}");
    store.close().await;
    Ok(())
}
