//! `aqueduct-bench`: runs the benchmarks and writes `docs/performance.md` and its JSON.
//! Normally started by `cargo xtask bench`, which builds the test bridge first.

use aqueduct_bench::scenarios::Sizes;
use std::path::PathBuf;

const USAGE: &str = "usage: aqueduct-bench --bridge-bin PATH [--quick] [--postgres URL] \
[--markdown PATH] [--json PATH] [--command TEXT] \
[--only engine,baseline,s1,...,s6,slack,rocketchat,teams,hub,startup] \
[--burst N] [--rates R,R,..] [--engine-messages N]";

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut bridge_bin = None;
    let mut quick = false;
    let mut postgres = std::env::var("AQUEDUCT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut markdown = PathBuf::from("docs/performance.md");
    let mut json = PathBuf::from("docs/performance.json");
    let mut command = None;
    let mut only = Vec::new();
    let (mut burst, mut rates, mut engine_messages) = (None, None, None);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--bridge-bin" => bridge_bin = Some(PathBuf::from(value()?)),
            "--quick" => quick = true,
            "--postgres" => postgres = value()?,
            "--markdown" => markdown = PathBuf::from(value()?),
            "--json" => json = PathBuf::from(value()?),
            "--command" => command = Some(value()?),
            "--only" => only = list(&value()?),
            "--burst" => burst = Some(value()?.parse()?),
            "--rates" => rates = Some(list(&value()?)),
            "--engine-messages" => engine_messages = Some(value()?.parse()?),
            _ => anyhow::bail!("unknown argument {a}\n{USAGE}"),
        }
    }
    let bridge_bin = bridge_bin.ok_or_else(|| anyhow::anyhow!("{USAGE}"))?;
    let command = command.unwrap_or_else(|| {
        if quick {
            "cargo xtask bench --quick"
        } else {
            "cargo xtask bench"
        }
        .to_owned()
    });
    let mut sizes = if quick { Sizes::quick() } else { Sizes::full() };
    sizes.burst = burst.unwrap_or(sizes.burst);
    sizes.engine_messages = engine_messages.unwrap_or(sizes.engine_messages);
    if let Some(rates) = rates {
        sizes.rates = rates.iter().map(|r| r.parse()).collect::<Result<_, _>>()?;
    }
    let options = aqueduct_bench::Options {
        bridge_bin,
        postgres,
        sizes,
        quick,
        command,
        only,
    };
    let report = tokio::runtime::Runtime::new()?.block_on(aqueduct_bench::run(options))?;
    std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")?;
    std::fs::write(&markdown, aqueduct_bench::report::markdown(&report))?;
    eprintln!("bench: wrote {} and {}", markdown.display(), json.display());
    Ok(())
}

/// `a,b,c` as its non-empty items.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
