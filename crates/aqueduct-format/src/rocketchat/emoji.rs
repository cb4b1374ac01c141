//! Rocket.Chat emoji names <-> Unicode emoji. Rocket.Chat names its standard emoji with
//! JoyPixels (formerly EmojiOne) short names, which for the emoji people use are the gemoji
//! names of the shared table in [`crate::emoji`]; only skin tones are spelled differently: a
//! `_toneN` suffix (N from 1, light, to 5, dark) where that table takes `::skin-tone-(N+1)`.

/// The Unicode emoji for a Rocket.Chat emoji name (`smile`, `:tada:`, `thumbsup_tone3`).
/// `None` for custom (server) emoji and unknown names.
pub fn unicode_for(name: &str) -> Option<String> {
    let name = name.trim().trim_matches(':');
    let toned = name.rsplit_once("_tone").and_then(|(base, n)| match n {
        "1" | "2" | "3" | "4" | "5" => {
            let n: u8 = n.parse().ok()?;
            Some(format!("{base}::skin-tone-{}", n + 1))
        }
        _ => None,
    });
    match toned {
        Some(toned) => crate::emoji::from_shortcode(&toned),
        None => crate::emoji::from_shortcode(name),
    }
}

/// The Rocket.Chat emoji name (without colons) for a Unicode emoji, `None` if unknown.
pub fn name_for(emoji: &str) -> Option<String> {
    let name = crate::emoji::to_shortcode(emoji)?;
    Some(match name.split_once("::skin-tone-") {
        Some((base, n)) => match n.parse::<u8>() {
            Ok(n @ 2..=6) => format!("{base}_tone{}", n - 1),
            _ => base.to_owned(),
        },
        None => name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tones_both_ways() {
        assert_eq!(unicode_for("smile").as_deref(), Some("😄"));
        assert_eq!(unicode_for(":tada:").as_deref(), Some("🎉"));
        assert_eq!(unicode_for("thumbsup_tone1").as_deref(), Some("👍🏻"));
        assert_eq!(unicode_for("wave_tone5").as_deref(), Some("👋🏿"));
        assert_eq!(unicode_for("party_parrot"), None);
        assert_eq!(unicode_for("wave_tone9"), None);
        assert_eq!(name_for("🎉").as_deref(), Some("tada"));
        assert_eq!(name_for("👋🏽").as_deref(), Some("wave_tone3"));
        assert_eq!(name_for("not an emoji"), None);
    }
}
