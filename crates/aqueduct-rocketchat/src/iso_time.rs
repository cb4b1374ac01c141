//! Rocket.Chat dates: REST answers carry ISO 8601 strings, the realtime API `{"$date": ms}`,
//! and the history endpoints take ISO strings. Converted by hand to avoid a date crate for
//! two small functions.

use serde_json::Value;

/// Now, in milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds since the epoch from either form of a Rocket.Chat date.
pub(crate) fn millis(v: &Value) -> Option<i64> {
    if let Some(ms) = v["$date"].as_i64() {
        return Some(ms);
    }
    parse_iso(v.as_str()?)
}

/// Parses `YYYY-MM-DDTHH:MM:SS(.fff)Z`.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    let (date, time) = s.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>());
    let (h, min, sec) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let ms: i64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    // Whatever a server (or someone posing as one) sends: out of range is no date, never an
    // overflow (found by the `rocketchat_messages` fuzz target).
    let in_range = (0..=9999).contains(&y)
        && (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && (0..=23).contains(&h)
        && (0..=59).contains(&min)
        && (0..=60).contains(&sec)
        && (0..=999).contains(&ms);
    if !in_range {
        return None;
    }
    let days = days_from_civil(y, m, day);
    Some((((days * 24 + h) * 60 + min) * 60 + sec) * 1000 + ms)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.fffZ`.
pub(crate) fn format_iso(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_out_of_range_are_no_dates_not_overflows() {
        // The input the fuzzer found: a year of 15 digits.
        assert_eq!(parse_iso("204444444444424-01-01T00:01:00.-00Z"), None);
        assert_eq!(parse_iso("2016-13-01T00:00:00Z"), None);
        assert_eq!(parse_iso("2016-01-01T25:00:00Z"), None);
        assert_eq!(parse_iso("-9223372036854775808-01-01T00:00:00Z"), None);
        assert_eq!(
            parse_iso("9999-12-31T23:59:60.999Z").map(|ms| ms > 0),
            Some(true)
        );
    }

    #[test]
    fn both_date_forms_read_and_iso_round_trips() {
        assert_eq!(parse_iso("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_iso("2016-09-30T13:42:25.304Z"),
            Some(1_475_242_945_304)
        );
        assert_eq!(format_iso(1_475_242_945_304), "2016-09-30T13:42:25.304Z");
        assert_eq!(millis(&json!({"$date": 5})), Some(5));
        assert_eq!(
            millis(&json!("2024-02-29T23:59:59.9Z")),
            Some(1_709_251_199_900)
        );
        for ms in [0, 951_782_400_000, 1_709_251_199_999, 4_102_444_800_001] {
            assert_eq!(parse_iso(&format_iso(ms)), Some(ms));
        }
    }
}
