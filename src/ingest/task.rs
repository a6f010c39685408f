//! The Task reader of the fast path: the same tolerant reading as `fhir::task` (any field of the
//! wrong type reads as absent, one object or an array, inputs classified by value type first), but
//! borrowing from the line instead of allocating, and handing back a compact `TaskInfo` whose
//! texts are interned. `tests::agrees_with_the_fhir_reader` and every category test (which all go
//! through this path) keep the two readers equal. Here: the compact Task (`TaskInfo`, `TaskReq`,
//! `Shape`, `Ts`); `parts.rs`: what a reader collects from a Task and how it becomes a `TaskInfo`
//! (shared with the scanner of `scan/`); `seed.rs`: the serde reader; `lenient.rs`: its tolerant
//! leaves.

mod lenient;
mod parts;
mod seed;

pub use lenient::{BFlag, BMany, BObj, BText};
pub(crate) use parts::*;
pub(crate) use seed::TaskSeed;

use super::intern::{Interner, Sym};
use crate::fhir::task::RequestKind;

/// A request named by a Task input, as written (interned), with its kind and type code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReq {
    pub raw: Sym,
    pub kind: RequestKind,
    pub code: Sym,
}

/// Bits of `TaskInfo::problems`, in the order `fhir::task::Task::malformations` lists them.
pub const PROBLEMS: [&str; 5] = [
    "no identifier",
    "no groupIdentifier",
    "status is not 'requested'",
    "intent is not 'proposal'",
    "code is not 'pull-notification'",
];

/// An optional UTC timestamp in 8 bytes (`i64::MIN` = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub(crate) i64);

impl Ts {
    pub const NONE: Ts = Ts(i64::MIN);

    pub fn get(self) -> Option<i64> {
        (self.0 != i64::MIN).then_some(self.0)
    }

    pub fn is_some(self) -> bool {
        self.0 != i64::MIN
    }

    /// Keeps the smaller of the two (an absent one loses).
    pub fn min_with(&mut self, v: i64) {
        if self.0 == i64::MIN || v < self.0 {
            self.0 = v;
        }
    }
}

impl Default for Ts {
    fn default() -> Self {
        Ts::NONE
    }
}

impl From<Option<i64>> for Ts {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Ts::NONE, Ts)
    }
}

/// The parts of a Task that pullrecon uses, with interned texts (`Sym::NONE` = absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskInfo {
    /// `resourceType`, `status`, `intent` and the code, interned together (see `Shape`).
    pub shape: Sym,
    pub id: Sym,
    pub identifier: Sym,
    pub group: Sym,
    pub based_on: Sym,
    pub patient_bsn: Sym,
    pub sender_org: Sym,
    pub sender_agent: Sym,
    pub receiver_org: Sym,
    pub authored_on: Ts,
    pub expires: Ts,
    pub expires_unreadable: bool,
    pub get_workflow_task: Option<bool>,
    /// The Task carries an authorization-base (a credential: its value is not kept; replay
    /// reads it back from the log line when it needs it).
    pub has_authorization_base: bool,
    /// Malformation bits (see `PROBLEMS`).
    pub problems: u8,
    /// The code is `pull-notification` under another system than the standard one.
    pub nonstandard_code_system: bool,
    /// The status is one in which pulls may still be done (or unknown), for Workflow Tasks.
    pub workflow_active: bool,
}

/// The texts of a Task that are rarely read, kept together under one symbol: most Tasks share
/// the same ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub resource_type: Option<String>,
    pub status: Option<String>,
    pub intent: Option<String>,
    /// The coding that carries `pull-notification` (or the first one): system and code.
    pub code: Option<(Option<String>, String)>,
}

impl Shape {
    /// The symbol of these texts (each field written as `-` or `<length>:<text>`).
    pub fn intern(
        i: &Interner,
        resource_type: Option<&str>,
        status: Option<&str>,
        intent: Option<&str>,
        code: Option<(Option<&str>, &str)>,
    ) -> Sym {
        use std::fmt::Write;
        let mut s = String::with_capacity(96);
        let (system, code) = match code {
            Some((sy, c)) => (sy, Some(c)),
            None => (None, None),
        };
        for f in [resource_type, status, intent, system, code] {
            match f {
                Some(t) => {
                    let _ = write!(s, "{}:{t}", t.len());
                }
                None => s.push('-'),
            }
        }
        i.intern(&s)
    }

    /// The texts back.
    pub fn decode(text: &str) -> Shape {
        let mut rest = text;
        let mut fields: [Option<String>; 5] = Default::default();
        for f in &mut fields {
            if let Some(r) = rest.strip_prefix('-') {
                rest = r;
                continue;
            }
            let Some((len, r)) = rest.split_once(':') else {
                break;
            };
            let Ok(len) = len.parse::<usize>() else {
                break;
            };
            let Some(t) = r.get(..len) else {
                break;
            };
            *f = Some(t.to_owned());
            rest = &r[len..];
        }
        let [resource_type, status, intent, system, code] = fields;
        Shape {
            resource_type,
            status,
            intent,
            code: code.map(|c| (system, c)),
        }
    }
}

impl TaskInfo {
    /// The problems of this Task as `fhir::task::Task::malformations` words them.
    pub fn malformations(&self) -> Vec<&'static str> {
        PROBLEMS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.problems & (1 << i) != 0)
            .map(|(_, p)| *p)
            .collect()
    }
}

/// Reads a Task; `None` for any case the fallback reader must word (invalid JSON, not an object,
/// another resourceType, a repeated field).
pub fn read_task(json: &str, i: &Interner) -> Option<(TaskInfo, Vec<TaskReq>)> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(json);
    let t = TaskSeed(i).deserialize(&mut de).ok()?;
    de.end().ok()?;
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::task::{Task, parse_task};

    /// The compact Task read back as texts equals what the `fhir::task` reader gives.
    fn same(json: &str) {
        let i = Interner::new();
        let fast = read_task(json, &i);
        let (fast, fast_reqs) = match fast {
            Some((t, r)) => (Some(t), r),
            None => (None, Vec::new()),
        };
        let slow = parse_task(json);
        let (fast, slow) = match (fast, slow) {
            (None, Err(_)) => return,
            (Some(f), Ok(s)) => (f, s),
            (f, s) => panic!(
                "readers disagree on {json}: {:?} / {:?}",
                f.is_some(),
                s.is_ok()
            ),
        };
        let s = i.freeze();
        let t = |x: Sym| s.opt(x);
        let slow: Task = slow;
        let shape = Shape::decode(&s.get(fast.shape));
        assert_eq!(shape.resource_type, slow.resource_type, "{json}");
        assert_eq!(t(fast.id), slow.id);
        assert_eq!(t(fast.identifier), slow.identifier);
        assert_eq!(t(fast.group), slow.group);
        assert_eq!(shape.status, slow.status);
        assert_eq!(shape.intent, slow.intent);
        assert_eq!(shape.code, slow.code);
        assert_eq!(t(fast.based_on), slow.based_on);
        assert_eq!(t(fast.patient_bsn), slow.patient_bsn);
        assert_eq!(t(fast.sender_org), slow.sender_org);
        assert_eq!(t(fast.sender_agent), slow.sender_agent);
        assert_eq!(t(fast.receiver_org), slow.receiver_org);
        assert_eq!(fast.authored_on.get(), slow.authored_on);
        assert_eq!(fast.expires.get(), slow.expires);
        assert_eq!(fast.expires_unreadable, slow.expires_unreadable);
        assert_eq!(fast.get_workflow_task, slow.get_workflow_task);
        assert_eq!(
            fast.has_authorization_base,
            slow.authorization_base.is_some()
        );
        let reqs: Vec<_> = fast_reqs
            .iter()
            .map(|r| (r.kind.clone(), s.get(r.raw).into_owned(), t(r.code)))
            .collect();
        let want: Vec<_> = slow
            .requests
            .iter()
            .map(|r| (r.kind.clone(), r.raw.clone(), r.code.clone()))
            .collect();
        assert_eq!(reqs, want);
        assert_eq!(fast.malformations(), slow.malformations());
        assert_eq!(
            fast.nonstandard_code_system,
            slow.nonstandard_code_system().is_some()
        );
        assert_eq!(fast.workflow_active, slow.workflow_active());
    }

    #[test]
    fn agrees_with_the_fhir_reader() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fhir-examples");
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "json") {
                same(&std::fs::read_to_string(e.path()).unwrap());
            }
        }
        for json in [
            r#"{"resourceType":"Patient"}"#,
            r#"[1]"#,
            r#"{"identifier":{"value":7},"groupIdentifier":[{"system":"s"},{"system":"s","value":"g"}],"status":"requested","intent":"proposal","code":{"coding":[{"code":"x"},{"system":null,"code":"pull-notification"}]}}"#,
            r#"{"identifier":[[{"system":"a","value":"b"}]],"basedOn":[{"reference":"Patient/1"},{"reference":"https://x/fhir/Task/wf/_history/2"}],"for":{"identifier":{"system":"http://fhir.nl/fhir/NamingSystem/bsn","value":" 123 "}}}"#,
            r#"{"requester":{"identifier":{"value":"r4"}},"owner":[{"identifier":{"system":"o","value":"1"}}],"restriction":{"period":{"end":"<<x>>"}},"authoredOn":"2026-11-19"}"#,
            r#"{"input":[{"type":{"coding":[{"code":"get-workflow-task"}]},"valueBoolean":"TRUE"},{"type":{"coding":[{"code":"get-workflow-task"}]},"valueString":"false"},{"type":{"coding":[{"code":"authorization-base"}]},"valueString":"a"},{"type":{"coding":[{"code":"authorization-base"}]},"valueString":"b"},{"valueReference":{"reference":"Patient/\u00e9"}},{"valueUri":"https://h/fhir/Observation?x=1"},{"valueString":"free text"},{"valueString":1.5},{"type":[{"coding":{"code":"c"}}],"valueUrl":"Condition"}]}"#,
            r#"{"status":"in-progress","code":{"coding":{"system":"http://fhir.nl/fhir/NamingSystem/TaskCodes","code":"pull-notification"}}}"#,
            r#"{"status":"completed","code":{"coding":[{"code":"pull-notification"}]}}"#,
        ] {
            same(json);
        }
    }
}
