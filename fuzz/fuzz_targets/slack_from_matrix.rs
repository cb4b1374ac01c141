//! Matrix HTML (and plain bodies) -> Slack mrkdwn.
#![no_main]

use aqueduct_format::slack::matrix_to_mrkdwn;
use aqueduct_fuzz::assert_bounded;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lookup = |id: &str| (id.len() % 2 == 0).then(|| "U1".to_owned());
    let out = matrix_to_mrkdwn(text, Some(text), &lookup);
    assert_bounded(&out, text.len());
    let out = matrix_to_mrkdwn(text, None, &lookup);
    assert_bounded(&out, text.len());
});
