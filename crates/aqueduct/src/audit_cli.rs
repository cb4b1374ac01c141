//! `aqueduct audit …`: export, verify and seal the record, and show the sealing public key.

use crate::config::Config;
use crate::record::export::{EntryLine, FORMAT, Line, parse_scope, scope_name};
use crate::record::signing_key;
use crate::record::times::{format_ms, parse_ms};
use crate::record::verify::{Report, Scope, Verifier, VerifyError};
use anyhow::{Context, bail};
use aqueduct_core::audit::{content_digest, digest_of};
use aqueduct_store::{AuditQuery, SqlStore};
use ed25519_dalek::VerifyingKey;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Entries read from the database per query.
const PAGE: i64 = 10_000;

/// The `audit` subcommands.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Write the record as JSON Lines (all of it, a time range and/or one room), with its seals.
    Export {
        /// Database URI (default: the config's `database.uri`).
        #[arg(long)]
        database: Option<String>,
        /// Entries at or after this time (UTC `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ` or ms).
        #[arg(long)]
        from: Option<String>,
        /// Entries before this time.
        #[arg(long)]
        until: Option<String>,
        /// Only this Matrix room's entries.
        #[arg(long)]
        room: Option<String>,
        /// Where to write (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Include the content kept with `record.keep_content`, opened with the content key
        /// (`record.content_key_file`); each is checked against its entry's digest.
        #[arg(long)]
        with_content: bool,
    },
    /// Check the record (in the database, or an export) with the public keys you trust;
    /// reports the first altered, missing, inserted or reordered entry.
    Verify {
        /// Database URI (default: the config's `database.uri`). Ignored with `--input`.
        #[arg(long)]
        database: Option<String>,
        /// An export to check instead of the database.
        #[arg(long)]
        input: Option<PathBuf>,
        /// A trusted public key (as `audit public-key` prints it) or a file holding one;
        /// repeat for keys used before a rotation. Default: the bridge's own key, which proves
        /// less: whoever can change the database may hold that key too.
        #[arg(long = "public-key")]
        public_keys: Vec<String>,
    },
    /// Print the public key of the record's signing key.
    PublicKey,
    /// Seal the newest entry now (the bridge also seals on its own every `seal_interval_secs`).
    Seal {
        /// Database URI (default: the config's `database.uri`).
        #[arg(long)]
        database: Option<String>,
    },
}

/// Runs one `audit` subcommand; `config` is the config file's path.
pub async fn run(command: AuditCommand, config: &Path) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export {
            database,
            from,
            until,
            room,
            output,
            with_content,
        } => {
            let mut store = open(database, config).await?;
            if with_content {
                let loaded = Config::load(config)?;
                let path = loaded.record.content_key_path(&loaded.database.uri);
                let key = aqueduct_store::SecretsKey::read_file(&path).with_context(|| {
                    format!("--with-content needs the content key {}", path.display())
                })?;
                store = store.keep_record_content(key);
            }
            let query = AuditQuery {
                from_ms: from.as_deref().map(time_arg).transpose()?,
                until_ms: until.as_deref().map(time_arg).transpose()?,
                room_id: room,
                ..AuditQuery::default()
            };
            let count = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    let n = export(&store, query, with_content, &mut out).await?;
                    out.flush()?;
                    n
                }
                None => export(&store, query, with_content, &mut std::io::stdout().lock()).await?,
            };
            eprintln!("exported {count} entries");
            Ok(())
        }
        AuditCommand::Verify {
            database,
            input,
            public_keys,
        } => {
            let trusted = trusted_keys(&public_keys, config)?;
            let result = match input {
                Some(path) => {
                    let file = std::fs::File::open(&path)
                        .with_context(|| format!("opening {}", path.display()))?;
                    verify_export(std::io::BufReader::new(file), &trusted)?
                }
                None => verify_database(&open(database, config).await?, &trusted).await?,
            };
            match result {
                Ok(report) => {
                    println!("{}", describe(&report));
                    Ok(())
                }
                Err(e) => bail!("the record does NOT verify: {e}"),
            }
        }
        AuditCommand::PublicKey => {
            let config = Config::load(config)?;
            let path = config.record.signing_key_path(&config.database.uri);
            let key = signing_key::load(&path)?;
            println!("{}", signing_key::public_key_text(&key.verifying_key()));
            Ok(())
        }
        AuditCommand::Seal { database } => {
            let loaded = Config::load(config)?;
            let key = signing_key::load(&loaded.record.signing_key_path(&loaded.database.uri))?;
            let store = open(database.or(Some(loaded.database.uri)), config).await?;
            match crate::record::sealer::seal_now(&store, &key).await? {
                Some(seal) => println!("sealed the record through entry {}", seal.seq),
                None => println!("nothing new to seal"),
            }
            Ok(())
        }
    }
}

async fn open(database: Option<String>, config: &Path) -> anyhow::Result<SqlStore> {
    let uri = match database {
        Some(uri) => uri,
        None => Config::load(config)?.database.uri,
    };
    SqlStore::connect(&uri)
        .await
        .context("opening the database")
}

fn time_arg(text: &str) -> anyhow::Result<i64> {
    parse_ms(text).with_context(|| {
        format!(
            "{text:?} is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or milliseconds"
        )
    })
}

fn trusted_keys(given: &[String], config: &Path) -> anyhow::Result<Vec<VerifyingKey>> {
    if given.is_empty() {
        let config = Config::load(config)
            .context("no --public-key given, and the bridge's own key needs its config")?;
        let key = signing_key::load(&config.record.signing_key_path(&config.database.uri))?;
        eprintln!(
            "warning: verifying with the bridge's own key; an auditor should pass the public key they were given (--public-key)"
        );
        return Ok(vec![key.verifying_key()]);
    }
    given
        .iter()
        .map(|k| signing_key::parse_public_key(k).map_err(Into::into))
        .collect()
}

/// Writes the header, the entries `query` selects (`with_content`: each with its kept
/// content, opened and checked against its digest) and every seal; returns the entry count.
pub async fn export(
    store: &SqlStore,
    mut query: AuditQuery,
    with_content: bool,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let scope = if query.room_id.is_some() {
        Scope::Selection
    } else if query.from_ms.is_some() || query.until_ms.is_some() {
        Scope::Range
    } else {
        Scope::Whole
    };
    let header = Line::Header {
        format: FORMAT.into(),
        scope: scope_name(scope).into(),
        exported_at: format_ms(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_millis() as i64,
        ),
        from_ms: query.from_ms,
        until_ms: query.until_ms,
        room_id: query.room_id.clone(),
    };
    writeln!(out, "{}", serde_json::to_string(&header)?)?;
    query.limit = PAGE;
    let mut count = 0;
    loop {
        let page = store.audit_entries(&query).await?;
        for entry in &page {
            let mut line = EntryLine::from(entry);
            if with_content && let Some(text) = store.audit_content(entry.seq).await? {
                if entry.draft.content_digest.as_deref() != Some(digest_of(&text).as_str()) {
                    bail!(
                        "the content kept for entry {} does not match its digest",
                        entry.seq
                    );
                }
                line.content = Some(serde_json::from_str(&text)?);
            }
            writeln!(
                out,
                "{}",
                serde_json::to_string(&Line::Entry(Box::new(line)))?
            )?;
        }
        count += page.len() as u64;
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => query.after_seq = last.seq,
            _ => break,
        }
    }
    for seal in store.audit_seals().await? {
        writeln!(out, "{}", serde_json::to_string(&Line::from(&seal))?)?;
    }
    Ok(count)
}

/// Checks the whole record in the database.
pub async fn verify_database(
    store: &SqlStore,
    trusted: &[VerifyingKey],
) -> anyhow::Result<Result<Report, VerifyError>> {
    let mut verifier = match Verifier::new(store.audit_seals().await?, trusted, Scope::Whole) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let mut query = AuditQuery {
        limit: PAGE,
        ..AuditQuery::default()
    };
    loop {
        let page = store.audit_entries(&query).await?;
        for entry in &page {
            if let Err(e) = verifier.entry(entry) {
                return Ok(Err(e));
            }
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => query.after_seq = last.seq,
            _ => break,
        }
    }
    Ok(verifier.finish())
}

/// Checks an export. Malformed lines are errors of their own (not a verdict on the record).
pub fn verify_export(
    input: impl BufRead,
    trusted: &[VerifyingKey],
) -> anyhow::Result<Result<Report, VerifyError>> {
    let mut scope = None;
    let mut entries: Vec<EntryLine> = Vec::new();
    let mut seals = Vec::new();
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line)
            .with_context(|| format!("line {} is not a record line", n + 1))?;
        match parsed {
            Line::Header {
                format, scope: s, ..
            } => {
                if format != FORMAT {
                    bail!("line {}: format {format:?} is not {FORMAT}", n + 1);
                }
                scope = Some(parse_scope(&s).with_context(|| format!("unknown scope {s:?}"))?);
            }
            Line::Entry(e) => entries.push(*e),
            seal @ Line::Seal { .. } => seals.extend(seal.seal()),
        }
    }
    let scope = scope.context("the export has no header line")?;
    let mut verifier = match Verifier::new(seals, trusted, scope) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    for line in &entries {
        let entry = line
            .entry()
            .context("an entry has an unknown direction or action")?;
        if let Err(e) = verifier.entry(&entry) {
            return Ok(Err(e));
        }
        // Content is not hashed; its digest is, so it must give that digest.
        if let Some(content) = &line.content
            && entry.draft.content_digest != Some(content_digest(content))
        {
            return Ok(Err(VerifyError::ContentMismatch { seq: entry.seq }));
        }
    }
    Ok(verifier.finish())
}

/// One line for a record that verifies.
pub fn describe(report: &Report) -> String {
    let span = match report.span {
        Some((first, last)) => format!("entries {first} to {last}"),
        None => "no entries".into(),
    };
    let sealed = match report.sealed_through {
        Some(s) => format!("sealed through entry {s}"),
        None => "no seal yet".into(),
    };
    format!(
        "the record verifies: {} entries checked ({span}), {sealed}, {} newer entries chained but not yet sealed",
        report.entries, report.unsealed
    )
}
