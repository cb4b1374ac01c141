//! The benchmark's world: a Synapse on its own PostgreSQL database, a counting proxy in front
//! of it, the test network, the fake Slack and Rocket.Chat, and the test bridge as a separate
//! process (so its CPU and memory
//! are its own). Built on the test kit's [`BridgeEnv`] so its helpers (login, portal invites)
//! are the ones the end-to-end tests use.

use crate::platforms::Fakes;
use crate::proxy::CountingProxy;
use aqueduct_testkit::bridge_env::BridgeEnv;
use aqueduct_testkit::synapse::{AppserviceRegistration, Synapse, free_port};
use aqueduct_testkit::testnet_server::TestNet;
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::path::Path;
use std::str::FromStr;

/// A PostgreSQL database made for one run and dropped after it.
pub struct ScratchDatabase {
    admin_url: String,
    /// The database's name.
    pub name: String,
    /// Connection options for it.
    pub options: PgConnectOptions,
}

impl ScratchDatabase {
    /// Creates a fresh database with the C collation Synapse requires, through `admin_url`
    /// (any database on the server, e.g. `postgres://postgres@127.0.0.1:5432/test`).
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!(
            "aqueduct_bench_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut conn = PgConnection::connect(admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        )))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        let options = PgConnectOptions::from_str(admin_url)?.database(&name);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            options,
        })
    }

    /// Drops the database (Synapse must have stopped or its connections are cut).
    pub async fn drop_now(&self) -> anyhow::Result<()> {
        let mut conn = PgConnection::connect(&self.admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut conn)
        .await?;
        Ok(())
    }

    /// Synapse's `database:` section for this database.
    fn synapse_config(&self) -> serde_json::Value {
        let o = &self.options;
        json!({
            "name": "psycopg2",
            "args": {
                "user": o.get_username(),
                "host": o.get_host(),
                "port": o.get_port(),
                "database": self.name,
                "cp_min": 5,
                "cp_max": 10,
            },
        })
    }
}

/// Everything a run needs, up and connected.
pub struct BenchEnv {
    /// Synapse, the test network, the config; the bridge's homeserver URL is the proxy's.
    pub env: BridgeEnv,
    /// The counting proxy in front of Synapse.
    pub proxy: CountingProxy,
    /// The appservice token (the baseline sends with it).
    pub as_token: String,
    /// Synapse's database.
    pub database: ScratchDatabase,
    /// The fake Slack and Rocket.Chat the shipped connectors talk to.
    pub fakes: Fakes,
}

fn token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

impl BenchEnv {
    /// Starts Synapse on a new database under `postgres_admin_url`, the proxy and the test
    /// network, and writes the bridge's config (its store is SQLite, the bridge's default).
    pub async fn new(postgres_admin_url: &str) -> anyhow::Result<Self> {
        aqueduct_testkit::synapse::ensure_python_package("psycopg2", "psycopg2-binary").await?;
        let database = ScratchDatabase::create(postgres_admin_url).await?;
        let net = TestNet::start().await?;
        let fakes = Fakes::start().await?;
        let dir = tempfile::tempdir()?;
        let bridge_port = free_port();
        let (as_token, hs_token) = (token(), token());
        let registration = AppserviceRegistration {
            id: "aqueduct".into(),
            url: Some(format!("http://127.0.0.1:{bridge_port}")),
            as_token: as_token.clone(),
            hs_token: hs_token.clone(),
            // As `generate-registration` writes it: the bot is a namespace user, so its
            // encryption device syncs (S6).
            sender_localpart: "aqueduct-appservice".into(),
            user_namespace_regex: "@aqueduct(_.*)?:localhost".into(),
            user_namespace_exclusive: true,
            alias_namespace_regex: None,
        };
        // Encryption is allowed (S6 needs an encrypted portal); the registration opts in to
        // what it needs, as `generate-registration` writes it.
        let synapse = Synapse::builder()
            .appservice_yaml("aqueduct", registration.to_yaml_with(true, true))
            .config("database", database.synapse_config())
            .start()
            .await?;
        let proxy = CountingProxy::start(&synapse.base_url()).await?;
        let db = format!("sqlite://{}", dir.path().join("aqueduct.db").display());
        let record_key = dir.path().join("record-signing.key").display().to_string();
        let config = format!(
            "homeserver:\n  url: {hs}\n  server_name: localhost\n\
             appservice:\n  address: http://127.0.0.1:{bridge_port}\n  listen: 127.0.0.1:{bridge_port}\n  as_token: {as_token}\n  hs_token: {hs_token}\n\
             database:\n  uri: \"{db}\"\n\
             record:\n  signing_key_file: \"{record_key}\"\n\
             bridge:\n  shutdown_grace_secs: 10\n  backfill_limit: 0\n  permissions:\n    \"*\": relay\n    localhost: user\n    \"@bench:localhost\": admin\n\
             encryption:\n  allow: true\n  pickle_key: {pickle}\n\
             logging:\n  level: info\n\
             platforms:\n  testnet:\n    url: {net}\n{platforms}",
            hs = proxy.url(),
            net = net.url(),
            pickle = token(),
            platforms = fakes.config_yaml(),
        );
        let config_path = dir.path().join("config.yaml");
        std::fs::write(&config_path, config)?;
        Ok(Self {
            env: BridgeEnv {
                synapse,
                net,
                dir,
                config_path,
                bridge_port,
                hs_token,
                bot: "@aqueduct:localhost".into(),
                older_homeserver: None,
                held_ports: Default::default(),
            },
            proxy,
            as_token,
            database,
            fakes,
        })
    }

    /// The bridge's SQLite database URI.
    pub fn bridge_database_uri(&self) -> String {
        format!(
            "sqlite://{}",
            self.env.dir.path().join("aqueduct.db").display()
        )
    }

    /// Starts the bridge process from `bin` and waits until it serves.
    pub async fn spawn_bridge(&self, bin: &Path) -> anyhow::Result<tokio::process::Child> {
        self.env.spawn_process(bin).await
    }
}
