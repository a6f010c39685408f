//! The scanner's reading of a Task: its parts (identifier, reference, coding, requester,
//! restriction, inputs) as the derived readers of `ingest/task.rs` read them, and the `Task` field
//! of a log line, which a received copy of a sent body skips (`KnownBodies`).

use super::{Bail, Cur, R, last_object_end, once};
use crate::ingest::compact::TaskField;
use crate::ingest::intern::Interner;
use crate::ingest::known::{KnownBodies, body_hash};
use crate::ingest::task::{
    Concept, Input, RawCoding, RawIdentifier, RawPeriod, RawReference, RawRequester,
    RawRestriction, TaskInfo, TaskParts, TaskReq, classify_input, workflow_task_id,
};

impl<'a> Cur<'a> {
    fn identifier(&mut self) -> R<RawIdentifier<'a>> {
        let mut x = RawIdentifier::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "system" => {
                once(&mut seen, 0)?;
                x.system = c.text()?;
                Ok(())
            }
            "value" => {
                once(&mut seen, 1)?;
                x.value = c.text()?;
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn reference(&mut self) -> R<RawReference<'a>> {
        let mut x = RawReference::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "reference" => {
                once(&mut seen, 0)?;
                x.reference = c.text()?;
                Ok(())
            }
            "identifier" => {
                once(&mut seen, 1)?;
                x.identifier = crate::ingest::task::BObj(c.obj(Cur::identifier)?);
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn coding(&mut self) -> R<RawCoding<'a>> {
        let mut x = RawCoding::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "system" => {
                once(&mut seen, 0)?;
                x.system = c.text()?;
                Ok(())
            }
            "code" => {
                once(&mut seen, 1)?;
                x.code = c.text()?;
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn concept(&mut self) -> R<Concept<'a>> {
        let mut x = Concept::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "coding" => {
                once(&mut seen, 0)?;
                c.many(|c| {
                    let k = c.coding()?;
                    x.add(k);
                    Ok(())
                })
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn requester(&mut self) -> R<RawRequester<'a>> {
        let mut x = RawRequester::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "agent" => {
                once(&mut seen, 0)?;
                x.agent = crate::ingest::task::BObj(c.obj(Cur::reference)?);
                Ok(())
            }
            "onBehalfOf" => {
                once(&mut seen, 1)?;
                x.on_behalf_of = crate::ingest::task::BObj(c.obj(Cur::reference)?);
                Ok(())
            }
            "identifier" => {
                once(&mut seen, 2)?;
                x.identifier = crate::ingest::task::BObj(c.obj(Cur::identifier)?);
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn restriction(&mut self) -> R<RawRestriction<'a>> {
        let mut x = RawRestriction::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "period" => {
                once(&mut seen, 0)?;
                x.period = crate::ingest::task::BObj(c.obj(|c| {
                    let mut p = RawPeriod::default();
                    let mut seen = 0;
                    c.object(|c, k| match k {
                        "end" => {
                            once(&mut seen, 0)?;
                            p.end = c.text()?;
                            Ok(())
                        }
                        _ => c.skip(),
                    })?;
                    Ok(p)
                })?);
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn input(&mut self) -> R<Input<'a>> {
        let mut x = Input::default();
        let mut seen = 0;
        self.object(|c, k| match k {
            "type" => {
                once(&mut seen, 0)?;
                x.kind = c.obj(Cur::concept)?.unwrap_or_default();
                Ok(())
            }
            "valueReference" => {
                once(&mut seen, 1)?;
                x.reference = c
                    .obj(Cur::reference)?
                    .and_then(|r| crate::ingest::task::trimmed(r.reference));
                Ok(())
            }
            "valueString" => {
                once(&mut seen, 2)?;
                x.value_string = c.text()?;
                Ok(())
            }
            "valueUri" => {
                once(&mut seen, 3)?;
                x.value_uri = c.text()?;
                Ok(())
            }
            "valueUrl" => {
                once(&mut seen, 4)?;
                x.value_url = c.text()?;
                Ok(())
            }
            "valueBoolean" => {
                once(&mut seen, 5)?;
                x.value_boolean = c.flag()?;
                Ok(())
            }
            _ => c.skip(),
        })?;
        Ok(x)
    }

    fn task(&mut self, i: &Interner) -> R<Option<(TaskInfo, Vec<TaskReq>)>> {
        let mut p = TaskParts::default();
        let mut seen = 0;
        self.object(|c, k| {
            match k {
                "resourceType" => {
                    once(&mut seen, 0)?;
                    p.resource_type = c.text()?;
                }
                "id" => {
                    once(&mut seen, 1)?;
                    p.id = c.text()?;
                }
                "identifier" => {
                    once(&mut seen, 2)?;
                    c.many(|c| {
                        let x = c.identifier()?;
                        if p.identifier.is_none() {
                            p.identifier = x.key(i);
                        }
                        Ok(())
                    })?;
                }
                "groupIdentifier" => {
                    once(&mut seen, 3)?;
                    c.many(|c| {
                        let x = c.identifier()?;
                        if p.group.is_none() {
                            p.group = x.key(i);
                        }
                        Ok(())
                    })?;
                }
                "status" => {
                    once(&mut seen, 4)?;
                    p.status = c.text()?;
                }
                "intent" => {
                    once(&mut seen, 5)?;
                    p.intent = c.text()?;
                }
                "code" => {
                    once(&mut seen, 6)?;
                    p.code = c.obj(Cur::concept)?.unwrap_or_default();
                }
                "basedOn" => {
                    once(&mut seen, 7)?;
                    c.many(|c| {
                        let x = c.reference()?;
                        if p.based_on.is_none()
                            && let Some(r) = x.reference.get()
                        {
                            p.based_on = workflow_task_id(r);
                        }
                        Ok(())
                    })?;
                }
                "for" => {
                    once(&mut seen, 8)?;
                    p.for_ = c.obj(Cur::reference)?;
                }
                "authoredOn" => {
                    once(&mut seen, 9)?;
                    p.authored_on = c.text()?;
                }
                "requester" => {
                    once(&mut seen, 10)?;
                    p.requester = c.obj(Cur::requester)?;
                }
                "owner" => {
                    once(&mut seen, 11)?;
                    p.owner = c.obj(Cur::reference)?;
                }
                "restriction" => {
                    once(&mut seen, 12)?;
                    p.restriction = c.obj(Cur::restriction)?;
                }
                "input" => {
                    once(&mut seen, 13)?;
                    c.many(|c| {
                        let x = c.input()?;
                        classify_input(x, &mut p.task, &mut p.reqs, i);
                        Ok(())
                    })?;
                }
                _ => c.skip()?,
            }
            Ok(())
        })?;
        Ok(p.finish(i))
    }

    /// A `task` or `body` value. On the sending side a Task body is registered in `known`; on
    /// the receiving side a body registered there is only checked, not read.
    pub(super) fn task_field(
        &mut self,
        i: &Interner,
        known: Option<(&KnownBodies, bool)>,
    ) -> R<TaskField> {
        match self.peek()? {
            b'{' => {
                let start = self.i;
                if let Some((k, false)) = known {
                    // A receiver usually logs the sender's very bytes as the line's last field:
                    // when the span up to the line's end is a body registered (and so validated)
                    // on the sending side, it is that body, and needs no walking through.
                    if let Some(end) = last_object_end(self.b)
                        && end > start
                    {
                        let h = body_hash(self.s.get(start..end).ok_or(Bail)?);
                        if let Some(id) = k.get(h) {
                            self.i = end;
                            return Ok(TaskField::Known(id, h as u64));
                        }
                    }
                    self.skip()?;
                    let h = body_hash(self.s.get(start..self.i).ok_or(Bail)?);
                    if let Some(id) = k.get(h) {
                        return Ok(TaskField::Known(id, h as u64));
                    }
                    self.i = start;
                }
                let t = self.task(i)?;
                let h = body_hash(self.s.get(start..self.i).ok_or(Bail)?);
                if let (Some((k, true)), Some((t, _))) = (known, &t)
                    && t.identifier.is_some()
                {
                    k.insert(h, t.identifier);
                }
                Ok(TaskField::Object(t.map(|t| Box::new((t, h as u64)))))
            }
            b'n' => self.literal(b"null").map(|_| TaskField::Null),
            _ => self.skip().map(|_| TaskField::Other),
        }
    }
}
