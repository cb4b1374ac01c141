//! `aqueduct`: run the bridge, generate its registration, or check its config.

use anyhow::Context;
use aqueduct::config::Config;
use aqueduct::registration::{random_token, registration_yaml};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "aqueduct",
    version,
    about = "A Matrix bridge to Slack, Microsoft Teams and Rocket.Chat"
)]
struct Cli {
    /// Config file.
    #[arg(short, long, default_value = "config.yaml", env = "AQUEDUCT_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bridge (the default).
    Run,
    /// Write the appservice registration for the homeserver. Tokens set to `generate` in the
    /// config are replaced by random ones first.
    GenerateRegistration {
        /// Where to write the registration.
        #[arg(short, long, default_value = "registration.yaml")]
        output: PathBuf,
    },
    /// Load and validate the config, then exit.
    CheckConfig,
    /// Re-seal every login's secrets with a new key, in one transaction (stop the bridge
    /// first), then point `database.secrets_key_file` at it.
    RotateKey {
        /// The new key: its base64 on one line. Created (mode 0600) with a random key if it
        /// does not exist.
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// The audit record: export, verify, seal, show the public key (docs/record.md).
    Audit {
        #[command(subcommand)]
        command: aqueduct::audit_cli::AuditCommand,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    aqueduct::process::runtime()?.block_on(dispatch(cli))
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let config = Config::load(&cli.config)?;
            aqueduct::run::init_logging(&config.logging);
            let factories = aqueduct::connectors::compiled_in();
            aqueduct::run::run(config, &factories, aqueduct::run::termination_signal()).await
        }
        Command::GenerateRegistration { output } => {
            let text = std::fs::read_to_string(&cli.config)
                .with_context(|| format!("reading {}", cli.config.display()))?;
            // Only a value of exactly `generate` is replaced, never a longer one that starts so.
            let filled: String = text
                .lines()
                .map(|line| {
                    let trimmed = line.trim_start();
                    match ["as_token: generate", "hs_token: generate"]
                        .iter()
                        .find(|k| trimmed == **k)
                    {
                        Some(k) => format!(
                            "{}{}: {}",
                            &line[..line.len() - trimmed.len()],
                            &k[..8],
                            random_token()
                        ),
                        None => line.to_owned(),
                    }
                })
                .map(|l| l + "\n")
                .collect();
            if filled != text {
                std::fs::write(&cli.config, &filled)
                    .with_context(|| format!("writing tokens into {}", cli.config.display()))?;
            }
            let config = Config::parse(&filled, &cli.config.display().to_string())?;
            std::fs::write(&output, registration_yaml(&config))
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "Wrote {}. Add it to the homeserver's app_service_config_files and restart the homeserver.",
                output.display()
            );
            Ok(())
        }
        Command::Audit { command } => aqueduct::audit_cli::run(command, &cli.config).await,
        Command::RotateKey { new_key_file } => {
            let config = Config::load(&cli.config)?;
            let told =
                aqueduct::rotate_key::rotate_key(&config, &cli.config, &new_key_file).await?;
            println!("{told}");
            Ok(())
        }
        Command::CheckConfig => {
            let config = Config::load(&cli.config)?;
            let factories = aqueduct::connectors::compiled_in();
            let settings = aqueduct::connectors::BridgeSettings::from_config(&config);
            aqueduct::connectors::build_enabled(&factories, &config.platforms, &settings)
                .map_err(anyhow::Error::msg)?;
            println!(
                "{} is valid: homeserver {} ({}), database {}, {} platform(s) enabled.",
                cli.config.display(),
                config.homeserver.url,
                config.homeserver.server_name,
                if config.database.uri.starts_with("postgres") {
                    "PostgreSQL"
                } else {
                    "SQLite"
                },
                config.platforms.len()
            );
            Ok(())
        }
    }
}
