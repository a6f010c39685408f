//! The serde Task reader: a `DeserializeSeed` that reads a Task straight into a `TaskInfo`,
//! interning as it goes, for the lines the scanner hands back (escapes, unusual shapes).

use super::parts::{
    Concept, Input, RawCoding, RawIdentifier, RawReference, RawRequester, RawRestriction,
    TaskParts, classify_input, trimmed, workflow_task_id,
};
use super::{BFlag, BObj, BText, TaskInfo, TaskReq};
use crate::ingest::intern::{Interner, Sym};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

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
