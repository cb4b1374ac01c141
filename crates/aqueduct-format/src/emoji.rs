//! Reactions: Slack emoji short names <-> Unicode emoji.
//!
//! Slack names its standard emoji with (mostly) the same short names as GitHub's gemoji set,
//! which the `emojis` crate carries. Skin tones travel as a `::skin-tone-N` suffix
//! (`wave::skin-tone-3`), N from 2 (light) to 6 (dark).

use emojis::SkinTone;

/// Slack-only names for standard emoji that gemoji spells differently.
const SLACK_ALIASES: &[(&str, &str)] = &[
    ("simple_smile", "slightly_smiling_face"),
    ("thumbs_up", "+1"),
    ("thumbs_down", "-1"),
];

/// The Slack skin-tone suffix number (2..=6) and the matching tone.
const TONES: [(u8, SkinTone); 5] = [
    (2, SkinTone::Light),
    (3, SkinTone::MediumLight),
    (4, SkinTone::Medium),
    (5, SkinTone::MediumDark),
    (6, SkinTone::Dark),
];

/// Unicode emoji for a Slack short name (`"thumbsup"`, `"+1"`, `"heart"`, `":tada:"`), with an
/// optional skin tone suffix (`"wave::skin-tone-2"`, rendered toned where the emoji has tones,
/// else as the base emoji). `None` for custom (workspace) emoji and unknown names.
pub fn from_shortcode(name: &str) -> Option<String> {
    let name = name.trim().trim_matches(':');
    let (base, tone) = match name.split_once("::") {
        Some((base, suffix)) => (base, parse_tone(suffix)),
        None => (name, None),
    };
    let base = SLACK_ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map_or(base, |(_, real)| real);
    let emoji = emojis::get_by_shortcode(base)?;
    let emoji = tone
        .and_then(|tone| emoji.with_skin_tone(tone))
        .unwrap_or(emoji);
    Some(emoji.as_str().to_owned())
}

/// Slack short name for a Unicode emoji: the first gemoji short name (`👍` -> `"+1"`, which
/// Slack accepts as well as `"thumbsup"`), with a `::skin-tone-N` suffix for a single skin
/// tone. A trailing U+FE0F variation selector is ignored. `None` if unknown.
pub fn to_shortcode(emoji: &str) -> Option<String> {
    let emoji = emoji.trim();
    let found = emojis::get(emoji).or_else(|| emojis::get(emoji.trim_end_matches('\u{fe0f}')))?;
    if let Some(code) = found.shortcode() {
        return Some(code.to_owned());
    }
    // Toned variants carry no short name of their own: name the base and add the tone.
    let tone = found.skin_tone()?;
    let base = found.with_skin_tone(SkinTone::Default)?;
    let code = base.shortcode()?;
    match TONES.iter().find(|(_, t)| *t == tone) {
        Some((n, _)) => Some(format!("{code}::skin-tone-{n}")),
        // Two-toned (couples): Slack has no suffix for those, so name the base.
        None => Some(code.to_owned()),
    }
}

fn parse_tone(suffix: &str) -> Option<SkinTone> {
    let n: u8 = suffix.strip_prefix("skin-tone-")?.parse().ok()?;
    TONES.iter().find(|(m, _)| *m == n).map(|(_, tone)| *tone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_names() {
        assert_eq!(from_shortcode("thumbsup").as_deref(), Some("👍"));
        assert_eq!(from_shortcode("+1").as_deref(), Some("👍"));
        assert_eq!(from_shortcode("-1").as_deref(), Some("👎"));
        assert_eq!(from_shortcode("heart").as_deref(), Some("❤️"));
        assert_eq!(from_shortcode("tada").as_deref(), Some("🎉"));
        assert_eq!(from_shortcode("smile").as_deref(), Some("😄"));
        assert_eq!(from_shortcode(":tada:").as_deref(), Some("🎉"));
        assert_eq!(from_shortcode("simple_smile").as_deref(), Some("🙂"));
    }

    #[test]
    fn unknown_and_custom_names() {
        assert_eq!(from_shortcode("partyparrot"), None);
        assert_eq!(from_shortcode(""), None);
        assert_eq!(to_shortcode("not an emoji"), None);
        assert_eq!(to_shortcode(""), None);
    }

    #[test]
    fn skin_tones() {
        assert_eq!(from_shortcode("wave::skin-tone-2").as_deref(), Some("👋🏻"));
        assert_eq!(from_shortcode("+1::skin-tone-6").as_deref(), Some("👍🏿"));
        // No tones for this emoji, or a bogus tone: the base emoji.
        assert_eq!(from_shortcode("tada::skin-tone-3").as_deref(), Some("🎉"));
        assert_eq!(from_shortcode("wave::skin-tone-9").as_deref(), Some("👋"));
        assert_eq!(to_shortcode("👋🏻").as_deref(), Some("wave::skin-tone-2"));
        assert_eq!(to_shortcode("👍🏽").as_deref(), Some("+1::skin-tone-4"));
    }

    #[test]
    fn to_shortcode_strips_variation_selector() {
        assert_eq!(to_shortcode("❤️").as_deref(), Some("heart"));
        assert_eq!(to_shortcode("❤").as_deref(), Some("heart"));
        assert_eq!(to_shortcode("👍\u{fe0f}").as_deref(), Some("+1"));
    }

    #[test]
    fn round_trips() {
        for name in [
            "+1",
            "heart",
            "tada",
            "smile",
            "eyes",
            "rocket",
            "wave::skin-tone-3",
        ] {
            let emoji = from_shortcode(name).unwrap();
            assert_eq!(to_shortcode(&emoji).as_deref(), Some(name), "{name}");
        }
        for emoji in ["👍", "❤️", "🎉", "😄", "👀", "🙌🏿"] {
            let name = to_shortcode(emoji).unwrap();
            assert_eq!(from_shortcode(&name).as_deref(), Some(emoji), "{emoji}");
        }
        // Both of Slack's names for 👍 land on the same emoji and back on one name.
        assert_eq!(
            to_shortcode(&from_shortcode("thumbsup").unwrap()).as_deref(),
            Some("+1")
        );
    }
}
