//! The serde one-pass reader of a log line, for lines the scanner declines (escapes, other
//! layouts): the `task` and `body` objects straight into `TaskInfo`, the other fields kept as
//! raw JSON text.

use super::{Line, RawRec, TaskField};
use crate::ingest::intern::Interner;
use serde_json::value::RawValue;

struct LineSeed<'i>(&'i Interner);

struct TaskFieldSeed<'i>(&'i Interner);

impl<'de> serde::de::DeserializeSeed<'de> for TaskFieldSeed<'_> {
    type Value = TaskField;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<TaskField, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TaskFieldSeed<'_> {
    type Value = TaskField;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Task")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<TaskField, A::Error> {
        crate::ingest::task::TaskSeed(self.0)
            .visit_map(m)
            .map(|t| TaskField::Object(t.map(|t| Box::new((t, 0)))))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<TaskField, E> {
        Ok(TaskField::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<TaskField, A::Error> {
        while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(TaskField::Other)
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<TaskField, E> {
        Ok(TaskField::Other)
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<TaskField, E> {
        Ok(TaskField::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<TaskField, E> {
        Ok(TaskField::Other)
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<TaskField, E> {
        Ok(TaskField::Other)
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<TaskField, E> {
        Ok(TaskField::Other)
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for LineSeed<'_> {
    type Value = Line<'de>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Line<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for LineSeed<'_> {
    type Value = Line<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a log record")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Line<'de>, A::Error> {
        let mut line = Line {
            rec: RawRec::default(),
            task: TaskField::Absent,
            body: TaskField::Absent,
        };
        let mut seen = 0u32;
        let mut once = |bit: u32, name: &'static str| -> Result<(), A::Error> {
            if seen & (1 << bit) != 0 {
                return Err(serde::de::Error::duplicate_field(name));
            }
            seen |= 1 << bit;
            Ok(())
        };
        while let Some(k) = m.next_key::<&str>()? {
            let r = &mut line.rec;
            let slot = match k {
                "ts" => (0, &mut r.ts),
                "interaction" => (1, &mut r.interaction),
                "status" => (2, &mut r.status),
                "error" => (3, &mut r.error),
                "notification" => (4, &mut r.notification),
                "request" => (5, &mut r.request),
                "bsn_in_assertion" => (6, &mut r.bsn_in_assertion),
                "assertion_bsn" => (7, &mut r.assertion_bsn),
                "sender_base" => (8, &mut r.sender_base),
                "message" => (9, &mut r.message),
                "outcome" => (10, &mut r.outcome),
                "sender" => (11, &mut r.sender),
                "receiver" => (12, &mut r.receiver),
                "task" => {
                    once(13, "task")?;
                    line.task = m.next_value_seed(TaskFieldSeed(self.0))?;
                    continue;
                }
                "body" => {
                    once(14, "body")?;
                    line.body = m.next_value_seed(TaskFieldSeed(self.0))?;
                    continue;
                }
                _ => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                    continue;
                }
            };
            once(slot.0, "field")?;
            *slot.1 = Some(m.next_value::<&RawValue>()?.get());
        }
        Ok(line)
    }
}

/// The line read by serde, or `Err` when it is not one JSON object of the contract's shape.
pub(super) fn read<'a>(i: &Interner, text_line: &'a str) -> Result<Line<'a>, ()> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text_line);
    let line = LineSeed(i).deserialize(&mut de).map_err(|_| ())?;
    de.end().map_err(|_| ())?;
    Ok(line)
}
