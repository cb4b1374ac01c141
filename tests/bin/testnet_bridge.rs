//! The bridge with the test network connector, as its own process, so tests can kill it.
//! Never shipped: the real binary is `aqueduct`.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let path = match args.as_slice() {
        [_, flag, path] if flag == "-c" => std::path::PathBuf::from(path),
        _ => anyhow::bail!("usage: aqueduct-testnet-bridge -c CONFIG"),
    };
    let config = aqueduct::Config::load(&path)?;
    aqueduct::run::init_logging(&config.logging);
    aqueduct::process::runtime()?.block_on(aqueduct::run::run(
        config,
        &aqueduct_testkit::bridge_env::all_factories(),
        aqueduct::run::termination_signal(),
    ))
}
