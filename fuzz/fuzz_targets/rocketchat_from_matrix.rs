//! Matrix HTML (and plain bodies) -> Rocket.Chat markdown.
#![no_main]

use aqueduct_format::rocketchat::matrix_to_markdown;
use aqueduct_fuzz::assert_bounded;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = |id: &str| (id.len() % 2 == 0).then(|| "bob".to_owned());
    let out = matrix_to_markdown(text, Some(text), &lookup);
    assert_bounded(&out, text.len());
    let out = matrix_to_markdown(text, None, &lookup);
    assert_bounded(&out, text.len());
});
