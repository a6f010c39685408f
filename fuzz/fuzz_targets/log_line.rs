//! Any bytes as one log line: an event or a reject, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullrecon_fuzz::event::{Origin, Side, parse_json_line};

fuzz_target!(|data: &[u8]| {
    let origin = Origin { file: 0, line: 1 };
    match parse_json_line(Side::Received, origin, data) {
        Ok(event) => {
            // What the model does with an event must not panic either.
            let _ = event.notification_key();
            let _ = event.is_success();
        }
        Err(reason) => {
            let _ = reason.to_string();
            let _ = reason.code();
        }
    }
});
