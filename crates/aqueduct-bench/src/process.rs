//! What a process has cost so far, read from `/proc/<pid>`: CPU time and resident memory.

/// CPU seconds (user + system) the process has used since it started.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces; fields after its closing parenthesis are
    // plain. utime and stime are fields 14 and 15, so 12th and 13th after the state field.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/{pid}/stat"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("short /proc/{pid}/stat"))?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
}

/// `sysconf(_SC_CLK_TCK)`; 100 on every Linux this runs on, asked anyway.
fn clock_ticks_per_second() -> f64 {
    static TCK: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Fields of `/proc/<pid>/status` given in kB, in MiB.
fn status_mib<const N: usize>(pid: u32, names: [&str; N]) -> anyhow::Result<[f64; N]> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut out = [0.0; N];
    for (slot, name) in out.iter_mut().zip(names) {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow::anyhow!("no {name} in /proc/{pid}/status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("bad {name} line"))?
            .parse()?;
        *slot = kib / 1024.0;
    }
    Ok(out)
}

/// Resident memory now (`VmRSS`) and at its peak (`VmHWM`), in MiB.
pub fn memory_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let [rss, peak] = status_mib(pid, ["VmRSS:", "VmHWM:"])?;
    Ok((rss, peak))
}

/// What resident memory is made of, in MiB: the process's own (`RssAnon`: heap, stacks) and
/// pages of files it maps (`RssFile`: mostly the executable's code, shared and clean).
pub fn resident_split_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let [anon, file] = status_mib(pid, ["RssAnon:", "RssFile:"])?;
    Ok((anon, file))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(super::cpu_seconds(pid).unwrap() >= 0.0);
        let (rss, peak) = super::memory_mib(pid).unwrap();
        assert!(rss > 0.0 && peak >= rss);
        let (anon, file) = super::resident_split_mib(pid).unwrap();
        assert!(anon > 0.0 && file > 0.0 && anon + file <= rss + 1.0);
    }
}
