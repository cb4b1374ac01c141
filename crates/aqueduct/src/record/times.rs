//! Times as the audit commands take and show them: UTC, `YYYY-MM-DD` or
//! `YYYY-MM-DDTHH:MM:SSZ`, or milliseconds since the Unix epoch.

/// Milliseconds since the Unix epoch for `text`, or `None` if it is none of the forms.
pub fn parse_ms(text: &str) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let seconds = match time {
        Some(t) => {
            let mut p = t.splitn(3, ':').map(|p| p.parse::<i64>().ok());
            let (h, mi, s) = (p.next()??, p.next()??, p.next()??);
            if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&s) {
                return None;
            }
            h * 3600 + mi * 60 + s
        }
        None => 0,
    };
    Some((days_from_civil(y, m, day) * 86_400 + seconds) * 1000)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch.
pub fn format_ms(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let s = rem / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        rem % 1000
    )
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_round_trip() {
        assert_eq!(parse_ms("1970-01-01"), Some(0));
        assert_eq!(parse_ms("2026-12-07T23:12:26Z"), Some(1_796_685_146_000));
        assert_eq!(format_ms(1_796_685_146_123), "2026-12-07T23:12:26.123Z");
        assert_eq!(parse_ms("2024-02-29"), Some(1_709_164_800_000));
        assert_eq!(parse_ms("yesterday"), None);
        assert_eq!(parse_ms("2026-13-01"), None);
    }
}
