//! Rocket.Chat markdown -> Matrix: no panic, safe HTML, bounded size.
#![no_main]

use aqueduct_format::rocketchat::markdown_to_matrix;
use aqueduct_fuzz::{assert_bounded, assert_safe_matrix_html, matrix_user};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let out = markdown_to_matrix(text, &matrix_user);
    if let Some(html) = &out.html {
        assert_safe_matrix_html(html, data);
        assert_bounded(html, text.len());
    }
    assert_bounded(&out.body, text.len());
});
