//! No secret in the bridge's output (issue 18): the bridge runs as its own process with
//! `RUST_LOG=trace` against a real Synapse, the fake Slack and the fake Rocket.Chat, with
//! encryption on and double puppeting, through a whole session: logins by management-room
//! commands (the Slack app's bot and app-level tokens, a user's own Slack token, a Rocket.Chat
//! password and a personal access token), messages both ways in an encrypted room linked to
//! both platforms, and a restart. Then every byte the process wrote to stdout and stderr is
//! searched for every secret the session used: as written, URL-encoded, in base64 (at each of
//! the three alignments, so a secret inside a longer encoded value is found too), in hex, as a
//! byte list, and any long enough slice of it.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::hub_sides::{RC, RcSide, SLACK, SlackSide};
use aqueduct_testkit::nio_client::{MessageFilter, NioClient};
use aqueduct_testkit::rocketchat_env::ghost as rc_ghost;
use aqueduct_testkit::slack_env::ghost as slack_ghost;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const ADMIN_PW: &str = "admin-matrix-pw-Hq7/Zt+9=";
/// The admin's Rocket.Chat password: spaces and URL-special characters, so its URL and base64
/// forms differ from it.
const RC_PASSWORD: &str = "rc pass/word+Kx8=&?%q";
/// The shortest slice of a secret searched for on its own: long enough that no id or word of
/// the log matches it by chance, short enough to catch a token cut to a prefix.
const MIN_SLICE: usize = 12;

fn bridge_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_aqueduct-testnet-bridge"))
}

/// `text` without its ANSI colour codes.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A named secret of the session.
struct Secret {
    name: String,
    value: String,
}

impl Secret {
    fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The bytes of standard base64 `text` (padded or not), or `None` if it is not base64.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let v = STANDARD.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    Some(out)
}

/// `s` percent-encoded (everything but RFC 3986's unreserved characters), with upper or lower
/// case hex, and with a space as `%20` or, as in a form, `+`.
fn url_encodings(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for lower in [false, true] {
        for plus in [false, true] {
            let mut e = String::new();
            for b in s.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        e.push(char::from(b))
                    }
                    b' ' if plus => e.push('+'),
                    _ if lower => e.push_str(&format!("%{b:02x}")),
                    _ => e.push_str(&format!("%{b:02X}")),
                }
            }
            out.push(e);
        }
    }
    out
}

/// Every form of `secret` the log is searched for, each with what it is.
fn forms(secret: &str) -> Vec<(String, String)> {
    let mut out = vec![("as written".to_owned(), secret.to_owned())];
    for e in url_encodings(secret) {
        out.push(("URL-encoded".into(), e));
    }
    // JSON or Rust `Debug` escaping.
    out.push((
        "escaped".into(),
        serde_json::to_string(secret).expect("a string")[1..]
            .trim_end_matches('"')
            .to_owned(),
    ));
    // Base64 at each alignment: the characters that only the secret's bytes decide, whatever
    // comes before or after it in the encoded value.
    for alphabet in [STANDARD, URL_SAFE] {
        for pad in 0..3usize {
            let mut bytes = vec![0u8; pad];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = base64(&bytes, alphabet);
            let skip = (pad * 8).div_ceil(6);
            let core: String = encoded
                .chars()
                .skip(skip)
                .take((encoded.len() - skip).saturating_sub(4))
                .collect();
            if core.len() >= MIN_SLICE {
                out.push((format!("base64 (offset {pad})"), core));
            }
        }
    }
    out.push(("hex".into(), hex::encode(secret)));
    out.push(("hex".into(), hex::encode_upper(secret)));
    out.push(("a byte list".into(), format!("{:?}", secret.as_bytes())));
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() > MIN_SLICE {
        for window in chars.windows(MIN_SLICE) {
            out.push(("a slice".into(), window.iter().collect()));
        }
    }
    out
}

/// Every place in `log` where a form of a secret appears: the secret's name, the form, and
/// the line.
fn leaks(log: &str, secrets: &[Secret]) -> Vec<String> {
    let mut found = Vec::new();
    for secret in secrets {
        for (form, needle) in forms(&secret.value) {
            if let Some(line) = log.lines().find(|l| l.contains(&needle)) {
                let line: String = line.chars().take(600).collect();
                found.push(format!("{} ({form}): {line}", secret.name));
                break;
            }
        }
    }
    found
}

#[test]
fn the_search_finds_a_secret_in_each_of_its_forms() {
    let secret = Secret::new("a token", "xoxb-1-1234567890-abcdef/+= x");
    let secrets = [secret];
    let b64 = base64(b"user:xoxb-1-1234567890-abcdef/+= x", STANDARD);
    for planted in [
        "Authorization: Bearer xoxb-1-1234567890-abcdef/+= x".to_owned(),
        "GET /api?token=xoxb-1-1234567890-abcdef%2F%2B%3D%20x".to_owned(),
        "GET /api?token=xoxb-1-1234567890-abcdef%2f%2b%3d+x".to_owned(),
        format!("Authorization: Basic {b64}"),
        hex::encode("xoxb-1-1234567890-abcdef/+= x"),
        format!("{:?}", b"xoxb-1-1234567890-abcdef/+= x"),
        "token prefix xoxb-1-123456".to_owned(),
    ] {
        let log = format!("INFO aqueduct: fine\nTRACE dep: {planted}\n");
        assert_eq!(leaks(&log, &secrets).len(), 1, "not found in {planted:?}");
    }
    assert_eq!(
        decode_base64(&base64(b"any key bytes\x00\xff", STANDARD)).as_deref(),
        Some(&b"any key bytes\x00\xff"[..])
    );
    let clean = "INFO aqueduct: logged in as UADMIN (xoxb-…)\n";
    assert!(leaks(clean, &secrets).is_empty());
}

/// The secrets of the bridge's own config: the appservice tokens, the pickle key, the
/// double-puppet secrets and the provisioning secret, whichever are set.
fn config_secrets(env: &BridgeEnv) -> anyhow::Result<Vec<Secret>> {
    let config: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&env.config_path)?)?;
    let mut out = Vec::new();
    for (section, key) in [
        ("appservice", "as_token"),
        ("appservice", "hs_token"),
        ("encryption", "pickle_key"),
        ("provisioning", "shared_secret"),
    ] {
        if let Some(v) = config[section][key].as_str() {
            out.push(Secret::new(format!("{section}.{key}"), v));
        }
    }
    if let Some(secrets) = config["double_puppet"]["secrets"].as_mapping() {
        for (server, v) in secrets {
            let v = v.as_str().unwrap_or_default();
            let name = format!("double_puppet.secrets.{}", server.as_str().unwrap_or("?"));
            out.push(Secret::new(name.clone(), v));
            if let Some(token) = v.strip_prefix("as_token:") {
                out.push(Secret::new(format!("{name} (its token)"), token));
            }
        }
    }
    anyhow::ensure!(out.len() >= 4, "the config's secrets: {}", out.len());
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_level_slack_rocketchat_and_encryption_session_logs_no_secret() -> anyhow::Result<()>
{
    let slack = SlackSide::start(&[("UADMIN", "adminslack", "Admin Slack")], WAIT).await?;
    let rc = RcSide::start(WAIT).await?;
    rc.set_password("RCADMIN", RC_PASSWORD);
    let dave_pat = rc.add_user("RCDAVE", "dave", "Dave Rocket");
    let env = BridgeEnv::new(EnvOptions {
        encryption: Some("  default: true\n".into()),
        double_puppet: true,
        extra_platforms: Some([slack.config(), rc.config()].concat()),
        ..EnvOptions::default()
    })
    .await?;
    let trace = [("RUST_LOG", "trace")];
    let mut bridge = env.spawn_process_with_env(bridge_bin(), &trace).await?;

    let admin = env
        .synapse
        .register_user_with_password("admin", ADMIN_PW, false)
        .await?;
    let dave = env.user("dave").await?;
    let phone = NioClient::spawn("admin-phone").await?;
    phone
        .login(&env.synapse.base_url(), admin.user_id(), ADMIN_PW)
        .await?;

    // Logins: the Slack app, the admin's own Slack account, the admin's Rocket.Chat account
    // by password, and Dave's by personal access token.
    let mgmt = env.management_room(&admin).await?;
    slack.log_in(&env, &admin, &mgmt).await?;
    let user_token = slack.user_token("UADMIN");
    let own_slack = format!("login slack token {user_token}");
    env.command(&admin, &mgmt, &own_slack, "Logged in to slack")
        .await?;
    let rc_login = format!("login rocketchat password admin {RC_PASSWORD}");
    env.command(&admin, &mgmt, &rc_login, "Logged in").await?;
    let dave_mgmt = env.management_room(&dave).await?;
    let dave_login = format!("login rocketchat token RCDAVE {dave_pat}");
    env.command(&dave, &dave_mgmt, &dave_login, "Logged in")
        .await?;

    // An encrypted room, linked from the phone to both chats.
    let room = env.encrypted_hub_room(&admin, &[]).await?;
    phone.wait_member(&room, &env.bot, WAIT).await?;
    for (command, expect) in [
        ("!aq link slack C1", "Linked this room"),
        ("!aq link rocketchat GENERAL", "Linked this room"),
        ("!aq set-relay", "rocketchat: Messages from users"),
    ] {
        phone.send_text(&room, command).await?;
        let answer = MessageFilter::any()
            .sender(env.bot.clone())
            .body_contains(expect);
        phone.wait_message(&room, &answer, WAIT).await?;
    }

    // Messages each way, then a restart, then each way again.
    let on_phone = |sender: String, text: &'static str| {
        let phone = &phone;
        let room = &room;
        async move {
            let filter = MessageFilter::any().sender(sender).body_contains(text);
            phone.wait_message(room, &filter, WAIT).await
        }
    };
    slack.post(SLACK, "UBOB", "traced from slack", None);
    on_phone(slack_ghost("UBOB"), "traced from slack").await?;
    rc.message("traced from slack").await?;
    rc.post(RC, "RCCAROL", "traced from rocket", None);
    on_phone(rc_ghost("RCCAROL"), "traced from rocket").await?;
    slack.message("traced from rocket").await?;
    phone.send_text(&room, "traced from matrix").await?;
    slack.message("traced from matrix").await?;
    rc.message("traced from matrix").await?;
    // The admin's own accounts on each platform: back to Matrix as the admin (double puppet).
    rc.post(RC, "RCADMIN", "traced from the admin on rocket", None);
    on_phone(
        admin.user_id().to_owned(),
        "traced from the admin on rocket",
    )
    .await?;

    // The restart asks for trace through the config instead (`logging.level`).
    stop(&mut bridge).await?;
    let config = std::fs::read_to_string(&env.config_path)?;
    anyhow::ensure!(config.contains("  level: info\n"), "{config}");
    std::fs::write(
        &env.config_path,
        config.replace("  level: info\n", "  level: trace\n"),
    )?;
    let mut bridge = env.spawn_process(bridge_bin()).await?;
    slack.post(SLACK, "UBOB", "traced after the restart", None);
    on_phone(slack_ghost("UBOB"), "traced after the restart").await?;
    phone.send_text(&room, "traced last from matrix").await?;
    slack.message("traced last from matrix").await?;
    rc.message("traced last from matrix").await?;
    stop(&mut bridge).await?;
    phone.close().await?;

    let log = env.bridge_log();
    // Kept for a look at what a trace-level session logs.
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e_secrets_in_logs.log");
    std::fs::write(&kept, &log)?;
    // The log is the bridge's at trace level, its own and its dependencies', not an empty or
    // info-only file.
    assert!(
        log.contains("TRACE")
            && log.contains("aqueduct_slack")
            && log.contains("aqueduct_rocketchat"),
        "the bridge logged at trace level ({} bytes, in {})",
        log.len(),
        kept.display()
    );

    // The dependencies that log what goes over the wire stay at `warn`, whichever way trace
    // was asked for.
    let plain = strip_ansi(&log);
    let chatty: Vec<&str> = plain
        .lines()
        .filter(|l| {
            let level = l.split_whitespace().nth(1).unwrap_or_default();
            ["TRACE", "DEBUG", "INFO"].contains(&level)
                && aqueduct::run::QUIET_DEPENDENCIES.iter().any(|d| {
                    l.contains(&format!(" {d}::"))
                        || l.contains(&format!(" {d}:"))
                        || l.contains(&format!(":{d}::"))
                })
        })
        .take(5)
        .collect();
    assert!(chatty.is_empty(), "dependencies below warn: {chatty:#?}");

    let mut secrets = config_secrets(&env)?;
    secrets.extend([
        Secret::new("Slack bot token", slack.bot_token()),
        Secret::new("Slack app-level token", slack.app_token()),
        Secret::new("Slack user token", user_token),
        Secret::new("Rocket.Chat password", RC_PASSWORD),
        Secret::new("Rocket.Chat personal access token", dave_pat),
        Secret::new("Matrix password of the admin", ADMIN_PW),
        Secret::new("Matrix access token of the admin", admin.access_token()),
        Secret::new("Matrix access token of dave", dave.access_token()),
    ]);
    // The Rocket.Chat session tokens the password logins got.
    for answer in rc.responses() {
        if answer.endpoint == "login"
            && let Some(token) = answer.body["data"]["authToken"].as_str()
        {
            secrets.push(Secret::new("Rocket.Chat session token", token));
        }
    }
    anyhow::ensure!(
        secrets
            .iter()
            .any(|s| s.name == "Rocket.Chat session token"),
        "the password login got a session token"
    );
    // The keys the bridge keeps in files beside its database (the key sealing login secrets,
    // the record's signing key): their text, and their bytes as hex or a byte list (how a
    // key type's `Debug` would show them).
    let mut key_bytes = Vec::new();
    for entry in std::fs::read_dir(env.dir.path())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "key") {
            let text = std::fs::read_to_string(&path)?.trim().to_owned();
            let name = format!("key file {}", path.display());
            if let Some(bytes) = decode_base64(&text) {
                key_bytes.push((name.clone(), hex::encode(&bytes)));
                key_bytes.push((name.clone(), format!("{bytes:?}")));
            }
            secrets.push(Secret::new(name, text));
        }
    }
    anyhow::ensure!(
        !key_bytes.is_empty(),
        "no key file beside the database: {:?}",
        std::fs::read_dir(env.dir.path())?.collect::<Vec<_>>()
    );
    // A Socket Mode URL's ticket opens the app's event stream: none is logged whole.
    let tickets: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ticket=") && !l.contains("ticket=<redacted>"))
        .take(3)
        .collect();
    assert!(
        tickets.is_empty(),
        "Socket Mode tickets in the log: {tickets:#?}"
    );

    let both = format!("{log}\n{plain}");
    let mut found = leaks(&both, &secrets);
    for (name, needle) in &key_bytes {
        if let Some(line) = both.lines().find(|l| l.contains(needle.as_str())) {
            found.push(format!("{name} (its bytes): {line}"));
        }
    }
    assert!(
        found.is_empty(),
        "secrets in the bridge's output ({} bytes at trace level):\n{}",
        log.len(),
        found.join("\n")
    );
    Ok(())
}

/// Stops the bridge as a service manager does (SIGTERM) and waits for it to exit cleanly.
async fn stop(bridge: &mut tokio::process::Child) -> anyhow::Result<()> {
    let pid = bridge.id().expect("running").to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await?;
    anyhow::ensure!(sent.success(), "kill -TERM {pid}");
    let status = tokio::time::timeout(Duration::from_secs(60), bridge.wait()).await??;
    anyhow::ensure!(status.success(), "the bridge's exit: {status}");
    Ok(())
}
