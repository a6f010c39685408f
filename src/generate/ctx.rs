//! Drawing the parts of one story: organisations, identifiers, Tasks, BSN routes, times.

use super::*;

impl Ctx {
    pub(super) fn sender(&mut self) -> &'static Org {
        self.rng.pick(&SENDERS)
    }

    pub(super) fn receiver(&mut self) -> &'static Org {
        self.rng.pick(&RECEIVERS)
    }

    pub(super) fn shape(&mut self) -> Shape {
        match self.rng.below(10) {
            0..=5 => Shape::Nuts14,
            6..=7 => Shape::Nuts12,
            _ => Shape::Sections,
        }
    }

    pub(super) fn route(&mut self) -> BsnRoute {
        match self.rng.below(20) {
            0..=9 => BsnRoute::TaskFlag,
            10..=13 => BsnRoute::TaskAndAssertion,
            14..=16 => BsnRoute::AssertionValue,
            _ => BsnRoute::AssertionFlag,
        }
    }

    /// An expiry that has not passed at as-of for anything authored in the last few days.
    pub(super) fn live_end(&mut self, authored: i64) -> End {
        match self.rng.below(3) {
            0 => End::At(authored + 14 * DAY),
            1 => End::At(authored + 365 * DAY),
            _ => End::Date(authored + 14 * DAY),
        }
    }

    /// Any of the expiries seen in practice (7 days, 14 days, 12 months).
    pub(super) fn any_end(&mut self, authored: i64) -> End {
        match self.rng.below(4) {
            0 => End::At(authored + 7 * DAY),
            1 => End::At(authored + 14 * DAY),
            2 => End::Date(authored + 14 * DAY),
            _ => End::At(authored + 365 * DAY),
        }
    }

    pub(super) fn read(&mut self, sender: &Org, release_12: bool) -> Req {
        let (ty, name) = *self.rng.pick(&bodies::READ_TYPES);
        let id = format!("{}-{name}-{}", sender.host, self.rng.range(10_000, 99_999));
        let task_text = format!("{ty}/{id}");
        let pulled_as = match self.rng.below(4) {
            0 => format!("{}/{task_text}", sender.base()),
            1 => format!("/{task_text}"),
            _ => task_text.clone(),
        };
        Req {
            task_text,
            pulled_as,
            read: true,
            section: None,
            release_12,
        }
    }

    pub(super) fn search(&mut self, i: usize, release_12: bool) -> Req {
        let (task, pulled) = bodies::SEARCHES[i];
        Req {
            task_text: task.to_owned(),
            pulled_as: if self.rng.chance(0.5) { pulled } else { task }.to_owned(),
            read: false,
            section: None,
            release_12,
        }
    }

    pub(super) fn section(&mut self, i: usize) -> Req {
        let s = &bodies::SECTIONS[i];
        Req {
            task_text: s.search.to_owned(),
            pulled_as: if self.rng.chance(0.5) {
                s.pulled_as
            } else {
                s.search
            }
            .to_owned(),
            read: false,
            section: Some(i),
            release_12: false,
        }
    }

    /// `k` distinct indices below `n`.
    pub(super) fn distinct(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.rng.below((n - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }

    pub(super) fn requests(&mut self, shape: Shape, sender: &Org, bsn: Option<&str>) -> Vec<Req> {
        match shape {
            Shape::Sections => {
                let k = self.rng.range(2, 5) as usize;
                self.distinct(bodies::SECTIONS.len(), k)
                    .into_iter()
                    .map(|i| self.section(i))
                    .collect()
            }
            Shape::Nuts14 | Shape::Nuts12 => {
                let r12 = shape == Shape::Nuts12;
                let searches = self.rng.range(1, 3) as usize;
                let reads = self.rng.range(0, 3) as usize;
                let mut out: Vec<Req> = self
                    .distinct(bodies::SEARCHES.len(), searches)
                    .into_iter()
                    .map(|i| self.search(i, r12))
                    .collect();
                for _ in 0..reads {
                    out.push(self.read(sender, r12));
                }
                // A patient search by BSN, as the TA's examples do (redacted in every output).
                if let Some(b) = bsn
                    && self.rng.chance(0.1)
                {
                    out.push(Req {
                        task_text: format!("Patient?identifier={}|{b}", bodies::BSN_SYSTEM),
                        pulled_as: format!(
                            "Patient?identifier=http%3A%2F%2Ffhir.nl%2Ffhir%2FNamingSystem%2Fbsn%7C{b}"
                        ),
                        read: false,
                        section: None,
                        release_12: r12,
                    });
                }
                out
            }
        }
    }

    /// A Notification Task from `sender`, authored at `authored`, with the BSN by `route`.
    pub(super) fn note(
        &mut self,
        sender: &'static Org,
        authored: i64,
        end: End,
        route: BsnRoute,
        group: Option<String>,
    ) -> Note {
        let shape = self.shape();
        let bsn = self.rng.bsn();
        let in_task = matches!(route, BsnRoute::TaskFlag | BsnRoute::TaskAndAssertion);
        let requests = self.requests(shape, sender, in_task.then_some(bsn.as_str()));
        let (id_system, identifier_object) = if shape == Shape::Sections {
            (bodies::RFC4122, self.rng.chance(0.7))
        } else {
            (bodies::RFC3986, false)
        };
        let receiver = self.receiver();
        let task = NotificationTask {
            id_system,
            id_value: self.rng.uuid(),
            identifier_object,
            group_value: Some(group.unwrap_or_else(|| self.rng.uuid())),
            status: "requested",
            intent: "proposal",
            code_system: bodies::TASK_CODE,
            based_on: None,
            bsn: in_task.then(|| bsn.clone()),
            patient_ref: format!(
                "Patient/{}-p-{}",
                sender.host,
                self.rng.range(10_000, 99_999)
            ),
            authored,
            end,
            sender,
            receiver,
            auth_base: self.rng.auth_base(),
            get_workflow_task: false,
            requests,
        };
        let (assertion, assertion_bsn) = match route {
            BsnRoute::TaskFlag | BsnRoute::AssertionFlag => (Some(true), None),
            BsnRoute::TaskAndAssertion | BsnRoute::AssertionValue => (Some(true), Some(bsn)),
        };
        Note {
            task,
            assertion,
            assertion_bsn,
        }
    }

    /// A notification in a referral: `basedOn` a Workflow Task whose `for` carries the BSN.
    pub(super) fn referral(&mut self, sender: &'static Org, authored: i64) -> (Note, WorkflowTask) {
        let mut note = self.note(sender, authored, End::At(0), BsnRoute::AssertionFlag, None);
        let bsn = self.rng.bsn();
        let wf_id = format!("bgz-verwijzing-{}", &self.rng.uuid()[..8]);
        let days = if self.rng.chance(0.5) { 7 } else { 14 };
        note.task.end = End::At(authored + days * DAY);
        note.task.id_system = bodies::RFC4122;
        note.task.based_on = Some(wf_id.clone());
        note.task.get_workflow_task = true;
        note.task.requests.clear();
        note.task.bsn = None;
        // The assertion: no BSN, or the same BSN with its value logged.
        match self.rng.below(3) {
            0 => (note.assertion, note.assertion_bsn) = (Some(false), None),
            1 => (note.assertion, note.assertion_bsn) = (Some(true), Some(bsn.clone())),
            _ => (note.assertion, note.assertion_bsn) = (None, None),
        }
        let k = self.rng.range(3, 7) as usize;
        let sections = self
            .distinct(bodies::SECTIONS.len(), k)
            .into_iter()
            .map(|i| self.section(i))
            .collect();
        // The same order of draws as the fields below have always had.
        let identifier = self.rng.uuid();
        let &status = self.rng.pick(&["requested", "accepted", "in-progress"]);
        let wf = WorkflowTask {
            id: wf_id,
            identifier,
            status,
            bsn: Some(bsn),
            patient_ref: note.task.patient_ref.clone(),
            authored: authored - self.rng.range(MIN, 30 * MIN),
            end: authored + 14 * DAY,
            sender,
            receiver: note.task.receiver,
            auth_base: self.rng.auth_base(),
            sections,
        };
        (note, wf)
    }

    pub(super) fn duration(&mut self) -> u32 {
        self.rng.range(40, 900) as u32
    }
}
