//! Slack `rich_text` blocks (untrusted JSON) -> Matrix: no panic, safe HTML.
#![no_main]

use aqueduct_format::slack::{ChannelRef, rich_text_to_matrix};
use aqueduct_fuzz::{assert_safe_matrix_html, matrix_user};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(blocks) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let channel = |id: &str| {
        (id.len() % 2 == 0).then(|| ChannelRef {
            name: Some("g<\"".into()),
            matrix_room: Some("!r\"<:x".into()),
        })
    };
    // Blocks as sent, and a bare list of elements wrapped the way Slack wraps them.
    for blocks in [
        blocks.clone(),
        serde_json::json!([{"type": "rich_text", "elements": blocks}]),
    ] {
        if let Some(out) = rich_text_to_matrix(&blocks, &matrix_user, &channel)
            && let Some(html) = &out.html
        {
            assert_safe_matrix_html(html, data);
        }
    }
});
