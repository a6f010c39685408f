//! The Task reader of the fast path: the same tolerant reading as `fhir::task` (any field of the
//! wrong type reads as absent, one object or an array, inputs classified by value type first), but
//! borrowing from the line instead of allocating, and handing back a compact `TaskInfo` whose
//! texts are interned. `tests::agrees_with_the_fhir_reader` and every category test (which all go
//! through this path) keep the two readers equal.

use super::intern::{Interner, Sym};
use crate::fhir::request;
use crate::fhir::task::{
    BSN_SYSTEM, PULL_NOTIFICATION, RequestKind, TASK_CODE_SYSTEM, request_shape,
};
use crate::time::parse_fhir_datetime;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

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

// ---- lenient, borrowing serde shapes (as `fhir::lenient`, with lifetimes) ----

/// A string-ish leaf; `None` when the JSON value was an object, array or null.
#[derive(Debug, Default, Clone)]
pub struct BText<'a>(pub Option<Cow<'a, str>>);

impl BText<'_> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BText<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<BText<'a>, E> {
                Ok(BText(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<BText<'a>, E> {
                Ok(BText(None))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<BText<'a>, D2::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<BText<'a>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(BText(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<BText<'a>, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(BText(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A boolean leaf: `true`/`false`, or those words as strings (any case).
#[derive(Debug, Default, Clone, Copy)]
pub struct BFlag(pub Option<bool>);

impl<'de> Deserialize<'de> for BFlag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = BText::deserialize(d)?;
        Ok(BFlag(match t.get() {
            Some(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }))
    }
}

/// An object of shape `T` (an array: its first object); `None` for other types.
#[derive(Debug, Clone)]
pub struct BObj<T>(pub Option<T>);

impl<T> Default for BObj<T> {
    fn default() -> Self {
        BObj(None)
    }
}

impl<T> BObj<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for BObj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = BObj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<BObj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(m)).map(|t| BObj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<BObj<T>, A::Error> {
                let mut first = None;
                while let Some(BObj(item)) = s.next_element::<BObj<T>>()? {
                    if first.is_none() {
                        first = item;
                    }
                }
                Ok(BObj(first))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<BObj<T>, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One object or an array of objects.
#[derive(Debug, Clone)]
pub struct BMany<T>(pub Vec<T>);

impl<T> Default for BMany<T> {
    fn default() -> Self {
        BMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for BMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = BMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or an array")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<BMany<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(m)).map(|t| BMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<BMany<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(BObj(item)) = s.next_element::<BObj<T>>()? {
                    out.extend(item);
                }
                Ok(BMany(out))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<BMany<T>, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

// ---- the Task shapes ----

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawIdentifier<'a> {
    #[serde(borrow)]
    pub(crate) system: BText<'a>,
    #[serde(borrow)]
    pub(crate) value: BText<'a>,
}

impl RawIdentifier<'_> {
    pub(crate) fn key(&self, i: &Interner) -> Option<Sym> {
        let value = self.value.get()?;
        Some(i.intern_pair(self.system.get(), value))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawReference<'a> {
    #[serde(borrow)]
    pub(crate) reference: BText<'a>,
    #[serde(borrow)]
    pub(crate) identifier: BObj<RawIdentifier<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawCoding<'a> {
    #[serde(borrow)]
    pub(crate) system: BText<'a>,
    #[serde(borrow)]
    pub(crate) code: BText<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawRequester<'a> {
    #[serde(borrow)]
    pub(crate) agent: BObj<RawReference<'a>>,
    #[serde(borrow, rename = "onBehalfOf")]
    pub(crate) on_behalf_of: BObj<RawReference<'a>>,
    #[serde(borrow)]
    pub(crate) identifier: BObj<RawIdentifier<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawPeriod<'a> {
    #[serde(borrow)]
    pub(crate) end: BText<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct RawRestriction<'a> {
    #[serde(borrow)]
    pub(crate) period: BObj<RawPeriod<'a>>,
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

/// Folds a value that is one object or an array of objects (as `BMany` reads it) into `f`,
/// without collecting the objects.
struct ManySeed<'f, T, F>(&'f mut F, std::marker::PhantomData<T>);

fn many<T, F: FnMut(T)>(f: &mut F) -> ManySeed<'_, T, F> {
    ManySeed(f, std::marker::PhantomData)
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> de::DeserializeSeed<'de> for ManySeed<'_, T, F> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for ManySeed<'_, T, F> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or an array")
    }
    fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<(), A::Error> {
        let t = T::deserialize(de::value::MapAccessDeserializer::new(m))?;
        (self.0)(t);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        while let Some(BObj(item)) = s.next_element::<BObj<T>>()? {
            if let Some(t) = item {
                (self.0)(t);
            }
        }
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<(), D2::Error> {
        d.deserialize_any(self)
    }
}

/// A map key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// Marks a known field as seen; a second one is an error, as a derived reader has it.
fn once<E: de::Error>(seen: &mut u32, bit: u32, name: &'static str) -> Result<(), E> {
    if *seen & (1 << bit) != 0 {
        return Err(E::duplicate_field(name));
    }
    *seen |= 1 << bit;
    Ok(())
}

/// A coding's (system, code), each as written when present.
pub(crate) type Coding<'a> = (Option<Cow<'a, str>>, Option<Cow<'a, str>>);

/// What a `CodeableConcept` says, folded over its codings.
#[derive(Default)]
pub(crate) struct Concept<'a> {
    /// The first coding: (system, code).
    pub(crate) first: Option<Coding<'a>>,
    /// The system of the first coding whose code is `pull-notification`.
    pub(crate) pull_notification: Option<Option<Cow<'a, str>>>,
    /// The first code present.
    pub(crate) first_code: Option<Cow<'a, str>>,
    pub(crate) get_workflow_task: bool,
    pub(crate) authorization_base: bool,
}

impl<'a> Concept<'a> {
    /// Folds one coding in (codings in order).
    pub(crate) fn add(&mut self, k: RawCoding<'a>) {
        let code = trimmed(k.code);
        let system = trimmed(k.system);
        if self.first.is_none() {
            self.first = Some((system.clone(), code.clone()));
        }
        if let Some(code) = code {
            if self.pull_notification.is_none() && code == PULL_NOTIFICATION {
                self.pull_notification = Some(system);
            }
            match code.as_ref() {
                "get-workflow-task" => self.get_workflow_task = true,
                "authorization-base" => self.authorization_base = true,
                _ => {}
            }
            if self.first_code.is_none() {
                self.first_code = Some(code);
            }
        }
    }
}

pub(crate) fn trimmed(t: BText<'_>) -> Option<Cow<'_, str>> {
    match t.0? {
        Cow::Borrowed(b) => {
            let b = b.trim();
            (!b.is_empty()).then_some(Cow::Borrowed(b))
        }
        Cow::Owned(o) => {
            let b = o.trim();
            (!b.is_empty()).then(|| Cow::Owned(b.to_owned()))
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Concept<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Concept<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CodeableConcept")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Concept<'a>, A::Error> {
                let mut c = Concept::default();
                let mut seen = 0u32;
                while let Some(Key(k)) = m.next_key::<Key>()? {
                    if k == "coding" {
                        once(&mut seen, 0, "coding")?;
                        m.next_value_seed(many(&mut |k: RawCoding<'a>| c.add(k)))?;
                    } else {
                        m.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// One Task input, as the classification needs it.
#[derive(Default)]
pub(crate) struct Input<'a> {
    pub(crate) kind: Concept<'a>,
    pub(crate) reference: Option<Cow<'a, str>>,
    pub(crate) value_string: BText<'a>,
    pub(crate) value_uri: BText<'a>,
    pub(crate) value_url: BText<'a>,
    pub(crate) value_boolean: Option<bool>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Input<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Input<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Task input")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Input<'a>, A::Error> {
                let mut x = Input::default();
                let mut seen = 0u32;
                while let Some(Key(k)) = m.next_key::<Key>()? {
                    match k.as_ref() {
                        "type" => {
                            once(&mut seen, 0, "type")?;
                            x.kind = m.next_value::<BObj<Concept>>()?.0.unwrap_or_default();
                        }
                        "valueReference" => {
                            once(&mut seen, 1, "valueReference")?;
                            x.reference = m
                                .next_value::<BObj<RawReference>>()?
                                .0
                                .and_then(|r| trimmed(r.reference));
                        }
                        "valueString" => {
                            once(&mut seen, 2, "valueString")?;
                            x.value_string = m.next_value()?;
                        }
                        "valueUri" => {
                            once(&mut seen, 3, "valueUri")?;
                            x.value_uri = m.next_value()?;
                        }
                        "valueUrl" => {
                            once(&mut seen, 4, "valueUrl")?;
                            x.value_url = m.next_value()?;
                        }
                        "valueBoolean" => {
                            once(&mut seen, 5, "valueBoolean")?;
                            x.value_boolean = m.next_value::<BFlag>()?.0;
                        }
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(x)
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Reads a Task straight into a `TaskInfo`, interning as it goes. The value is `None` for
/// another resourceType.
pub(crate) struct TaskSeed<'i>(pub &'i Interner);

impl<'de> de::DeserializeSeed<'de> for TaskSeed<'_> {
    type Value = Option<(TaskInfo, Vec<TaskReq>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TaskSeed<'_> {
    type Value = Option<(TaskInfo, Vec<TaskReq>)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Task")
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut m: A,
    ) -> Result<Option<(TaskInfo, Vec<TaskReq>)>, A::Error> {
        let i = self.0;
        let mut task = TaskInfo::default();
        let mut reqs: Vec<TaskReq> = Vec::new();
        let mut seen = 0u32;
        let mut resource_type: BText = BText::default();
        let mut id: BText = BText::default();
        let mut identifier: Option<Sym> = None;
        let mut group: Option<Sym> = None;
        let mut status: BText = BText::default();
        let mut intent: BText = BText::default();
        let mut code: Concept = Concept::default();
        let mut based_on: Option<String> = None;
        let mut for_: Option<RawReference> = None;
        let mut authored_on: BText = BText::default();
        let mut requester: Option<RawRequester> = None;
        let mut owner: Option<RawReference> = None;
        let mut restriction: Option<RawRestriction> = None;
        while let Some(Key(k)) = m.next_key::<Key>()? {
            match k.as_ref() {
                "resourceType" => {
                    once(&mut seen, 0, "resourceType")?;
                    resource_type = m.next_value()?;
                }
                "id" => {
                    once(&mut seen, 1, "id")?;
                    id = m.next_value()?;
                }
                "identifier" => {
                    once(&mut seen, 2, "identifier")?;
                    m.next_value_seed(many(&mut |x: RawIdentifier| {
                        if identifier.is_none() {
                            identifier = x.key(i);
                        }
                    }))?;
                }
                "groupIdentifier" => {
                    once(&mut seen, 3, "groupIdentifier")?;
                    m.next_value_seed(many(&mut |x: RawIdentifier| {
                        if group.is_none() {
                            group = x.key(i);
                        }
                    }))?;
                }
                "status" => {
                    once(&mut seen, 4, "status")?;
                    status = m.next_value()?;
                }
                "intent" => {
                    once(&mut seen, 5, "intent")?;
                    intent = m.next_value()?;
                }
                "code" => {
                    once(&mut seen, 6, "code")?;
                    code = m.next_value::<BObj<Concept>>()?.0.unwrap_or_default();
                }
                "basedOn" => {
                    once(&mut seen, 7, "basedOn")?;
                    m.next_value_seed(many(&mut |x: RawReference| {
                        if based_on.is_none()
                            && let Some(r) = x.reference.get()
                        {
                            based_on = workflow_task_id(r);
                        }
                    }))?;
                }
                "for" => {
                    once(&mut seen, 8, "for")?;
                    for_ = m.next_value::<BObj<RawReference>>()?.0;
                }
                "authoredOn" => {
                    once(&mut seen, 9, "authoredOn")?;
                    authored_on = m.next_value()?;
                }
                "requester" => {
                    once(&mut seen, 10, "requester")?;
                    requester = m.next_value::<BObj<RawRequester>>()?.0;
                }
                "owner" => {
                    once(&mut seen, 11, "owner")?;
                    owner = m.next_value::<BObj<RawReference>>()?.0;
                }
                "restriction" => {
                    once(&mut seen, 12, "restriction")?;
                    restriction = m.next_value::<BObj<RawRestriction>>()?.0;
                }
                "input" => {
                    once(&mut seen, 13, "input")?;
                    m.next_value_seed(many(&mut |x: Input| {
                        classify_input(x, &mut task, &mut reqs, i)
                    }))?;
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(TaskParts {
            task,
            reqs,
            resource_type,
            id,
            identifier,
            group,
            status,
            intent,
            code,
            based_on,
            for_,
            authored_on,
            requester,
            owner,
            restriction,
        }
        .finish(i))
    }
}

/// What a Task reader collected, before it becomes a `TaskInfo` (shared by the serde reader and
/// the scanner of `scan.rs`).
#[derive(Default)]
pub(crate) struct TaskParts<'a> {
    pub task: TaskInfo,
    pub reqs: Vec<TaskReq>,
    pub resource_type: BText<'a>,
    pub id: BText<'a>,
    pub identifier: Option<Sym>,
    pub group: Option<Sym>,
    pub status: BText<'a>,
    pub intent: BText<'a>,
    pub code: Concept<'a>,
    pub based_on: Option<String>,
    pub for_: Option<RawReference<'a>>,
    pub authored_on: BText<'a>,
    pub requester: Option<RawRequester<'a>>,
    pub owner: Option<RawReference<'a>>,
    pub restriction: Option<RawRestriction<'a>>,
}

impl TaskParts<'_> {
    /// The compact Task; `None` for another resourceType.
    pub fn finish(self, i: &Interner) -> Option<(TaskInfo, Vec<TaskReq>)> {
        let TaskParts {
            mut task,
            reqs,
            resource_type,
            id,
            identifier,
            group,
            status,
            intent,
            code,
            based_on,
            for_,
            authored_on,
            requester,
            owner,
            restriction,
        } = self;
        if let Some(rt) = resource_type.get()
            && rt != "Task"
        {
            return None;
        }
        let code = match code.pull_notification {
            Some(system) => Some((system, Cow::Borrowed(PULL_NOTIFICATION))),
            None => code.first.and_then(|(s, c)| c.map(|c| (s, c))),
        };
        let patient_bsn = for_
            .as_ref()
            .and_then(|r| r.identifier.get())
            .filter(|x| x.system.get() == Some(BSN_SYSTEM))
            .and_then(|x| x.value.get());
        let (sender_org, sender_agent) = match &requester {
            Some(req) => {
                let agent = req
                    .agent
                    .get()
                    .and_then(|a| a.identifier.get())
                    .and_then(|x| x.key(i));
                let org = req
                    .on_behalf_of
                    .get()
                    .and_then(|a| a.identifier.get())
                    .and_then(|x| x.key(i));
                let r4 = req.identifier.get().and_then(|x| x.key(i));
                let agent = agent.or(r4);
                (org.or(agent), agent)
            }
            None => (None, None),
        };
        let receiver_org = owner
            .as_ref()
            .and_then(|o| o.identifier.get())
            .and_then(|x| x.key(i));
        let end = restriction
            .as_ref()
            .and_then(|r| r.period.get())
            .and_then(|p| p.end.get());
        let expires = end.and_then(|e| parse_fhir_datetime(e, true));
        let status = status.get();
        let intent = intent.get();
        let pull_code = matches!(&code, Some((_, c)) if c == PULL_NOTIFICATION);
        let mut problems = 0u8;
        for (bit, bad) in [
            identifier.is_none(),
            group.is_none(),
            status != Some("requested"),
            intent != Some("proposal"),
            !pull_code,
        ]
        .into_iter()
        .enumerate()
        {
            if bad {
                problems |= 1 << bit;
            }
        }
        task.nonstandard_code_system = match &code {
            Some((system, c)) if c == PULL_NOTIFICATION => {
                system.as_deref().unwrap_or("") != TASK_CODE_SYSTEM
            }
            _ => false,
        };
        task.shape = Shape::intern(
            i,
            resource_type.get(),
            status,
            intent,
            code.as_ref().map(|(s, c)| (s.as_deref(), c.as_ref())),
        );
        task.id = i.intern_opt(id.get());
        task.identifier = identifier.unwrap_or(Sym::NONE);
        task.group = group.unwrap_or(Sym::NONE);
        task.based_on = i.intern_opt(based_on.as_deref());
        task.patient_bsn = i.intern_opt(patient_bsn);
        task.sender_org = sender_org.unwrap_or(Sym::NONE);
        task.sender_agent = sender_agent.unwrap_or(Sym::NONE);
        task.receiver_org = receiver_org.unwrap_or(Sym::NONE);
        task.authored_on = authored_on
            .get()
            .and_then(|a| parse_fhir_datetime(a, false))
            .into();
        task.expires = expires.into();
        task.expires_unreadable = end.is_some() && expires.is_none();
        task.problems = problems;
        task.workflow_active = matches!(
            status,
            None | Some("requested" | "received" | "accepted" | "in-progress")
        );
        Some((task, reqs))
    }
}

/// `Task/abc`, `https://host/fhir/Task/abc`, `Task/abc/_history/2` → `abc` (as `fhir::task`).
pub(crate) fn workflow_task_id(reference: &str) -> Option<String> {
    let normalised = request::normalise(reference, None);
    let rest = normalised.strip_prefix("Task/")?;
    let id = rest.split(['/', '?']).next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

pub(crate) fn classify_input(
    input: Input,
    task: &mut TaskInfo,
    reqs: &mut Vec<TaskReq>,
    i: &Interner,
) {
    let kind = &input.kind;
    let code = kind.first_code.as_deref();
    if let Some(reference) = input.reference.as_deref() {
        reqs.push(TaskReq {
            kind: RequestKind::Read,
            raw: i.intern(reference),
            code: i.intern_opt(code),
        });
        return;
    }
    if let Some(flag) = input.value_boolean {
        if kind.get_workflow_task {
            task.get_workflow_task = Some(flag || task.get_workflow_task.unwrap_or(false));
        }
        return;
    }
    let text = input
        .value_string
        .get()
        .or(input.value_uri.get())
        .or(input.value_url.get());
    let Some(text) = text else { return };
    if kind.authorization_base {
        task.has_authorization_base = true;
    } else if kind.get_workflow_task {
        if let Ok(flag) = text.parse::<bool>() {
            task.get_workflow_task = Some(flag);
        }
    } else {
        let raw = i.intern(text);
        if let Some(kind) = shape(i, raw, text) {
            reqs.push(TaskReq {
                kind,
                raw,
                code: i.intern_opt(code),
            });
        }
    }
}

thread_local! {
    /// `request_shape` of texts already seen, by (interner, symbol): the same searches recur.
    static SHAPES: std::cell::RefCell<super::intern::SymMap<(u32, Sym), u8>> =
        std::cell::RefCell::new(super::intern::SymMap::default());
}

/// `request_shape(text)`, remembered per interned text.
fn shape(i: &Interner, raw: Sym, text: &str) -> Option<RequestKind> {
    let key = (i.id(), raw);
    let known = SHAPES.with(|m| m.borrow().get(&key).copied());
    let code = match known {
        Some(c) => c,
        None => {
            let c = match request_shape(text) {
                None => 0,
                Some(RequestKind::Read) => 1,
                Some(RequestKind::Search) => 2,
                Some(RequestKind::WorkflowTask) => 3,
            };
            SHAPES.with(|m| {
                let mut m = m.borrow_mut();
                if m.len() > 100_000 {
                    m.clear();
                }
                m.insert(key, c);
            });
            c
        }
    };
    match code {
        1 => Some(RequestKind::Read),
        2 => Some(RequestKind::Search),
        3 => Some(RequestKind::WorkflowTask),
        _ => None,
    }
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
