//! Any text as a Task, and as a request: a Task or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pullrecon_fuzz::fhir::request::{normalise, origin, redact_bsn};
use pullrecon_fuzz::fhir::task::{parse_task, request_shape};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(task) = parse_task(text) {
        let _ = task.malformations();
        let _ = task.nonstandard_code_system();
        let _ = task.workflow_active();
        for r in &task.requests {
            let n = normalise(&r.raw, Some("https://fhir.example/fhir"));
            let _ = redact_bsn(&n);
        }
    }
    let n = normalise(text, None);
    // Normalising is idempotent: a canonical request stays as it is.
    assert_eq!(normalise(&n, None), n, "normalise is not idempotent");
    let _ = request_shape(text);
    let _ = origin(text);
    let _ = redact_bsn(text);
});
