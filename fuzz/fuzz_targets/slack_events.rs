//! The Slack connector's event parser on arbitrary Events API payloads (`{"event": ...}`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    aqueduct_slack::convert_event_for_fuzzing(&payload);
    // A bare event too, as Socket Mode's envelope carries it one level down.
    aqueduct_slack::convert_event_for_fuzzing(&serde_json::json!({ "event": payload }));
});
