//! The Rocket.Chat connector's message parser on arbitrary pushed messages and DDP frames.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    aqueduct_rocketchat::convert_message_for_fuzzing(&value);
    // A DDP `changed` frame carries the message in `fields.args[0]`.
    aqueduct_rocketchat::convert_message_for_fuzzing(&value["fields"]["args"][0]);
});
