//! The provisioning API (`/_matrix/provision/v3`) as an integration manager uses it, against
//! a real Synapse and the platform fakes: logging a user in with a token and through a
//! sign-in link, seeing the login in `whoami`, logging out, and the refusals. Every answer's
//! method, path and status is checked against `docs/provisioning-openapi.yaml`.

use aqueduct_testkit::bridge_env::{BridgeEnv, EnvOptions};
use aqueduct_testkit::fake_slack::FakeSlack;
use aqueduct_testkit::matrix_client::enc;
use aqueduct_testkit::rocketchat_env::{GENERAL, RocketChatEnv, WAIT};
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "provisioning-secret-for-tests";

/// Turns the API on: the config's last section is the platforms', so a new top-level key
/// goes after it.
fn enable_provisioning(env: &BridgeEnv) -> anyhow::Result<()> {
    let mut config = std::fs::read_to_string(&env.config_path)?;
    config.push_str(&format!("provisioning:\n  shared_secret: {SECRET}\n"));
    std::fs::write(&env.config_path, config)?;
    Ok(())
}

/// A caller of the API, checking each answer against the OpenAPI description.
struct Api {
    base: String,
    http: reqwest::Client,
    spec: serde_norway::Value,
}

impl Api {
    fn new(env: &BridgeEnv) -> anyhow::Result<Self> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/provisioning-openapi.yaml"
        );
        Ok(Self {
            base: format!("http://127.0.0.1:{}/_matrix/provision/v3", env.bridge_port),
            http: reqwest::Client::new(),
            spec: serde_norway::from_str(&std::fs::read_to_string(path)?)?,
        })
    }

    /// Calls `path` (an instance of the documented `template`) as `user` with `secret`;
    /// returns the status and JSON body. Fails when the description does not document
    /// that status for the route.
    async fn call(
        &self,
        method: Method,
        template: &str,
        path: &str,
        user: Option<&str>,
        secret: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(user) = user {
            req = req.query(&[("user_id", user)]);
        }
        if let Some(secret) = secret {
            req = req.bearer_auth(secret);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let answer = req.send().await?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        let op = &self.spec["paths"][template][method.as_str().to_lowercase()];
        anyhow::ensure!(
            op.is_mapping(),
            "{method} {template} is not in the OpenAPI description"
        );
        anyhow::ensure!(
            op["responses"][status.to_string()].is_mapping(),
            "{method} {template} answered {status}, which the description does not list: {body}"
        );
        if status >= 400 {
            anyhow::ensure!(
                body["errcode"].is_string() && body["error"].is_string(),
                "an error without errcode and error: {body}"
            );
        }
        Ok((status, body))
    }

    async fn as_user(
        &self,
        method: Method,
        template: &str,
        path: &str,
        user: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(method, template, path, Some(user), Some(SECRET), body)
            .await
    }

    /// Waits until the user's one login has `state`; returns their logins.
    async fn wait_login_state(&self, user: &str, state: &str) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let logins = self.whoami(user).await?["logins"].clone();
            if logins[0]["state"]["state_event"] == state {
                return Ok(logins);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the login never became {state}: {logins}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    async fn whoami(&self, user: &str) -> anyhow::Result<Value> {
        let (status, body) = self
            .as_user(Method::GET, "/whoami", "/whoami", user, None)
            .await?;
        anyhow::ensure!(status == 200, "whoami answered {status}: {body}");
        Ok(body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_login_through_the_api_shows_in_whoami_bridges_and_logs_out() -> anyhow::Result<()>
{
    let s = RocketChatEnv::start().await?;
    enable_provisioning(&s.env)?;
    let bridge = s.env.start_in_process().await?;
    let api = Api::new(&s.env)?;
    let alice = s.alice.user_id().to_owned();

    let me = api.whoami(&alice).await?;
    assert_eq!(me["user_id"], alice.as_str());
    assert_eq!(me["permission"], "user");
    assert_eq!(me["bridge_bot"], s.env.bot.as_str());
    assert_eq!(me["logins"], json!([]));
    let rc = me["networks"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "rocketchat"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(rc["displayname"], "Rocket.Chat");
    let flow_ids: Vec<&str> = rc["login_flows"]
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(flow_ids, ["token", "password"]);

    let (status, flows) = api
        .as_user(
            Method::GET,
            "/login/flows",
            "/login/flows?network=rocketchat",
            &alice,
            None,
        )
        .await?;
    assert_eq!(status, 200);
    assert!(
        flows["flows"]
            .as_array()
            .is_some_and(|f| f.len() == 2 && f.iter().all(|f| f["network"] == "rocketchat")),
        "{flows}"
    );

    // A wrong token is the platform's refusal.
    let start = "/login/start/{network}/{flow}";
    let (status, body) = api
        .as_user(
            Method::POST,
            start,
            "/login/start/rocketchat/token",
            &alice,
            Some(json!({"args": ["RCALICE", "not-her-token"]})),
        )
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "{body}"
    );
    assert_eq!(api.whoami(&alice).await?["logins"], json!([]));

    let (status, step) = api
        .as_user(
            Method::POST,
            start,
            "/login/start/rocketchat/token",
            &alice,
            Some(json!({"args": ["RCALICE", s.alice_token]})),
        )
        .await?;
    assert_eq!(status, 200, "{step}");
    assert_eq!(step["type"], "complete");
    let login_id = step["complete"]["user_login_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!login_id.is_empty(), "{step}");

    // Connected once the platform's realtime connection is up.
    let logins = api.wait_login_state(&alice, "CONNECTED").await?;
    assert_eq!(
        logins,
        json!([{
            "id": login_id, "network": "rocketchat", "name": "Alice Rocket",
            "remote_user": "RCALICE", "state": {"state_event": "CONNECTED"},
        }])
    );
    // The login works: a Rocket.Chat message opens a portal for her.
    s.rc.post(GENERAL, "RCBOB", "hello through a provisioned login", None);
    let room = s.env.accept_portal_invite(&s.alice).await?;
    s.alice
        .wait_for_event(&room, WAIT, |e| {
            e["content"]["body"] == "hello through a provisioned login"
        })
        .await?;

    // Bridging the chat through the API names its room, the one she is in.
    let bridge_path = "/bridge/{network}/{chat_id}";
    let (status, bridged) = api
        .as_user(
            Method::POST,
            bridge_path,
            &format!("/bridge/rocketchat/{GENERAL}"),
            &alice,
            None,
        )
        .await?;
    assert_eq!(status, 200, "{bridged}");
    assert_eq!(bridged["room_id"], room.as_str());
    assert_eq!(bridged["name"], "general");

    // A second login to the same network is refused.
    let (status, body) = api
        .as_user(
            Method::POST,
            start,
            "/login/start/rocketchat/token",
            &alice,
            Some(json!({"args": ["RCALICE", s.alice_token]})),
        )
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (409, Some("M_BAD_STATE")),
        "{body}"
    );

    let logout = "/logout/{login_id}";
    let (status, _) = api
        .as_user(
            Method::POST,
            logout,
            &format!("/logout/{login_id}"),
            &alice,
            None,
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(api.whoami(&alice).await?["logins"], json!([]));
    let (status, _) = api
        .as_user(
            Method::POST,
            logout,
            &format!("/logout/{login_id}"),
            &alice,
            None,
        )
        .await?;
    assert_eq!(status, 404);
    // Without a login there is nothing to bridge through.
    let (status, body) = api
        .as_user(
            Method::POST,
            bridge_path,
            &format!("/bridge/rocketchat/{GENERAL}"),
            &alice,
            None,
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_the_secret_or_a_permitted_user_are_refused() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    enable_provisioning(&s.env)?;
    let bridge = s.env.start_in_process().await?;
    let api = Api::new(&s.env)?;
    let alice = s.alice.user_id();

    let (status, body) = api
        .call(Method::GET, "/whoami", "/whoami", Some(alice), None, None)
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_MISSING_TOKEN"))
    );
    let (status, body) = api
        .call(
            Method::GET,
            "/whoami",
            "/whoami",
            Some(alice),
            Some("not-the-secret"),
            None,
        )
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNKNOWN_TOKEN"))
    );
    let (status, body) = api
        .call(Method::GET, "/whoami", "/whoami", None, Some(SECRET), None)
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (400, Some("M_MISSING_PARAM"))
    );
    // Relay-level users may not log in, through the API as in the management room.
    let (status, body) = api
        .as_user(
            Method::GET,
            "/whoami",
            "/whoami",
            "@relayonly:localhost",
            None,
        )
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    let (status, _) = api
        .as_user(
            Method::POST,
            "/login/start/{network}/{flow}",
            "/login/start/nowhere/token",
            alice,
            None,
        )
        .await?;
    assert_eq!(status, 404);
    let (status, _) = api
        .as_user(
            Method::POST,
            "/login/step/{login_id}/{step_id}/{step_type}",
            "/login/step/0123/io.aqueduct.wait/display_and_wait",
            alice,
            None,
        )
        .await?;
    assert_eq!(status, 404);
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_client_acts_for_its_own_user_with_an_openid_token() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    enable_provisioning(&s.env)?;
    let bridge = s.env.start_in_process().await?;
    let api = Api::new(&s.env)?;
    let alice = s.alice.user_id();
    let openid = s
        .alice
        .request(
            Method::POST,
            &format!(
                "/_matrix/client/v3/user/{}/openid/request_token",
                enc(alice)
            ),
            Some(&json!({})),
        )
        .await?;
    let token = format!(
        "openid:{}",
        openid["access_token"].as_str().unwrap_or_default()
    );

    let (status, me) = api
        .call(Method::GET, "/whoami", "/whoami", None, Some(&token), None)
        .await?;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_id"], alice);
    // The token acts for its own user only.
    let (status, body) = api
        .call(
            Method::GET,
            "/whoami",
            "/whoami",
            Some("@admin:localhost"),
            Some(&token),
            None,
        )
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (403, Some("M_FORBIDDEN"))
    );
    let (status, body) = api
        .call(
            Method::GET,
            "/whoami",
            "/whoami",
            None,
            Some("openid:made-up"),
            None,
        )
        .await?;
    assert_eq!(
        (status, body["errcode"].as_str()),
        (401, Some("M_UNKNOWN_TOKEN"))
    );
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_secret_the_api_is_not_there() -> anyhow::Result<()> {
    let s = RocketChatEnv::start().await?;
    let bridge = s.env.start_in_process().await?;
    let url = format!(
        "http://127.0.0.1:{}/_matrix/provision/v3/whoami?user_id={}",
        s.env.bridge_port,
        s.alice.user_id()
    );
    let answer = reqwest::Client::new()
        .get(&url)
        .bearer_auth(SECRET)
        .send()
        .await?;
    assert_eq!(answer.status().as_u16(), 404);
    bridge.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_link_login_is_waited_on_until_the_browser_finishes() -> anyhow::Result<()> {
    let slack = FakeSlack::start().await?;
    slack.add_user("UALICE", "alice", "Alice Slack");
    slack.add_channel("C1", "general", &["UBOT", "UALICE"], false);
    let env = BridgeEnv::new(EnvOptions {
        extra_platforms: Some(format!("  slack:\n    api_url: {}\n", slack.api_base())),
        ..Default::default()
    })
    .await?;
    let (id, secret) = slack.oauth_client();
    let mut config = std::fs::read_to_string(&env.config_path)?;
    config.push_str(&format!(
        "    oauth:\n      client_id: \"{id}\"\n      client_secret: \"{secret}\"\n      public_url: http://127.0.0.1:{}\n",
        env.bridge_port
    ));
    std::fs::write(&env.config_path, config)?;
    enable_provisioning(&env)?;
    let alice = env.user("alice").await?;
    let bridge = env.start_in_process().await?;
    slack.sign_in_browser("UALICE");
    let api = Api::new(&env)?;

    let (status, step) = api
        .as_user(
            Method::POST,
            "/login/start/{network}/{flow}",
            "/login/start/slack/oauth",
            alice.user_id(),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{step}");
    assert_eq!(step["type"], "display_and_wait");
    let process = step["login_id"].as_str().unwrap_or_default().to_owned();
    let link = step["instructions"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .find(|w| w.contains("/oauth/v2/authorize"))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no sign-in link in {step}"))?;

    // The caller waits while the user signs in, as a web page would.
    let wait_path = format!(
        "/login/step/{process}/{}/display_and_wait",
        step["step_id"].as_str().unwrap_or_default()
    );
    let waiting = api.as_user(
        Method::POST,
        "/login/step/{login_id}/{step_id}/{step_type}",
        &wait_path,
        alice.user_id(),
        None,
    );
    let signing_in = async {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let to_bridge = browser.get(&link).send().await?;
        let back = to_bridge
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let page = browser.get(&back).send().await?;
        anyhow::ensure!(
            page.status().is_success(),
            "the bridge's page: {}",
            page.status()
        );
        Ok(())
    };
    let (waited, signed_in) = tokio::join!(waiting, signing_in);
    signed_in?;
    let (status, done) = waited?;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["type"], "complete");
    assert_eq!(done["complete"]["network"], "slack");

    let me = api.whoami(alice.user_id()).await?;
    let logins = me["logins"].as_array().cloned().unwrap_or_default();
    assert_eq!(logins.len(), 1, "{me}");
    assert_eq!(logins[0]["id"], done["complete"]["user_login_id"]);
    api.wait_login_state(alice.user_id(), "CONNECTED").await?;
    bridge.stop().await?;
    Ok(())
}
