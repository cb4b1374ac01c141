//! Shortcodes in Matrix HTML, and emoji names both ways for both platforms.
#![no_main]

use aqueduct_format::{emoji, rocketchat, shortcodes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for name in shortcodes::shortcode_names(text) {
        assert!(shortcodes::is_name(&name));
    }
    let out =
        shortcodes::replace_shortcodes_in_html(text, &|n| (n.len() % 2 == 0).then(|| "E".into()));
    assert!(out.len() <= text.len());
    let out = shortcodes::replace_shortcodes_in_html(text, &|n| Some(n.to_owned()));
    assert!(out.len() <= text.len());
    if let Some(e) = emoji::from_shortcode(text) {
        emoji::to_shortcode(&e);
    }
    emoji::to_shortcode(text);
    if let Some(e) = rocketchat::emoji::unicode_for(text) {
        rocketchat::emoji::name_for(&e);
    }
    rocketchat::emoji::name_for(text);
});
