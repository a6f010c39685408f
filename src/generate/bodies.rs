//! The text of synthetic log lines: Notification Tasks shaped like the real examples in
//! `../shared/fhir-examples/` (the Nuts demo's STU3 Task, the BgZ referral's Task with `basedOn` and
//! a Workflow Task, release 1.2 and 1.4 input codes, BgZ-section-coded searches, identifiers as an
//! array or an object), Workflow Task bodies, and the event lines around them. JSON is written
//! by hand (every value here is plain ASCII or fixed text without quotes or backslashes), which
//! is what makes generating gigabytes quick.

use std::fmt::Write;

pub const URA: &str = "http://fhir.nl/fhir/NamingSystem/ura";
pub const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
pub const TASK_CODE: &str = "http://fhir.nl/fhir/NamingSystem/TaskCode";
pub const TASK_CODE_TYPO: &str = "http://fhir.nl/fhir/NamingSystem/TaskCodes";
pub const TASK_PARAMETER: &str = "http://fhir.nl/fhir/NamingSystem/TaskParameter";
pub const RFC3986: &str = "urn:ietf:rfc:3986";
pub const RFC4122: &str = "https://tools.ietf.org/html/rfc4122";
pub(super) const LOINC: &str = "http://loinc.org";
pub(super) const SNOMED: &str = "http://snomed.info/sct";

/// A care organisation: URA number, name, and (for senders) its FHIR host.
#[derive(Debug)]
pub struct Org {
    pub ura: &'static str,
    pub name: &'static str,
    pub host: &'static str,
}

impl Org {
    /// `system|value`, as the contract writes organisations.
    pub fn key(&self) -> String {
        format!("{URA}|{}", self.ura)
    }

    pub fn base(&self) -> String {
        format!("https://fhir.{}.example/fhir", self.host)
    }
}

/// Sending organisations that the sent log covers.
pub const SENDERS: [Org; 10] = [
    Org {
        ura: "32109876",
        name: "Ziekenhuis Amstelrade",
        host: "amstelrade",
    },
    Org {
        ura: "20481632",
        name: "Huisartsenpraktijk De Linde",
        host: "delinde",
    },
    Org {
        ura: "41872305",
        name: "Zorggroep Waterland",
        host: "waterland",
    },
    Org {
        ura: "15550321",
        name: "Ziekenhuis Rijnoever",
        host: "rijnoever",
    },
    Org {
        ura: "27730418",
        name: "GGZ De Brug",
        host: "debrug",
    },
    Org {
        ura: "36610284",
        name: "Huisartsenpost Kennemerland",
        host: "hapkennemerland",
    },
    Org {
        ura: "44210937",
        name: "Verpleeghuis Het Baken",
        host: "hetbaken",
    },
    Org {
        ura: "50918273",
        name: "Ziekenhuis Zuiderpoort",
        host: "zuiderpoort",
    },
    Org {
        ura: "61028374",
        name: "Wijkverpleging Oost",
        host: "wijkoost",
    },
    Org {
        ura: "72839405",
        name: "Fysiotherapie Centrum",
        host: "fysiocentrum",
    },
];

/// A sender that appears only in the received log (the sent log does not cover it).
pub const UNCOVERED: Org = Org {
    ura: "58320917",
    name: "Apotheek Stadsplein",
    host: "stadsplein",
};

/// A laboratory that only pushes, and only appears in the received push log.
pub const LAB: Org = Org {
    ura: "84409126",
    name: "Laboratorium Noord",
    host: "labnoord",
};

pub const RECEIVERS: [Org; 6] = [
    Org {
        ura: "67012345",
        name: "Revalidatiecentrum Het Anker",
        host: "hetanker",
    },
    Org {
        ura: "73920481",
        name: "Ziekenhuis Oosterheem",
        host: "oosterheem",
    },
    Org {
        ura: "81234560",
        name: "Huisartsenpraktijk Molenwijk",
        host: "molenwijk",
    },
    Org {
        ura: "90817263",
        name: "Thuiszorg West",
        host: "thuiszorgwest",
    },
    Org {
        ura: "13579246",
        name: "Hospice De Linde",
        host: "hospicedelinde",
    },
    Org {
        ura: "24681357",
        name: "Apotheek Centrum",
        host: "apotheekcentrum",
    },
];

// The BgZ sections, searches and read types are in `catalogue` (re-exported here).
pub use super::catalogue::*;

/// A request a Task names: how the Task writes it, how the receiver logs its pull, and the kind.
#[derive(Clone, Debug)]
pub struct Req {
    pub task_text: String,
    pub pulled_as: String,
    pub read: bool,
    /// The BgZ section (index into `SECTIONS`) when the input is section-coded.
    pub section: Option<usize>,
    /// Release 1.2 input codes instead of 1.4.
    pub release_12: bool,
}

impl Req {
    pub fn interaction(&self) -> &'static str {
        if self.read { "read" } else { "search" }
    }
}

/// How `restriction.period.end` is written.
#[derive(Clone, Copy, Debug)]
pub enum End {
    /// A full dateTime (UTC microseconds), written in Dutch local time.
    At(i64),
    /// A date without time (the end of that UTC day), given as the instant of that day's start.
    Date(i64),
}

/// A Notification Task to write.
#[derive(Clone, Debug)]
pub struct NotificationTask {
    pub id_system: &'static str,
    pub id_value: String,
    pub identifier_object: bool,
    pub group_value: Option<String>,
    pub status: &'static str,
    pub intent: &'static str,
    pub code_system: &'static str,
    pub based_on: Option<String>,
    pub bsn: Option<String>,
    pub patient_ref: String,
    pub authored: i64,
    pub end: End,
    pub sender: &'static Org,
    pub receiver: &'static Org,
    pub auth_base: String,
    pub get_workflow_task: bool,
    pub requests: Vec<Req>,
}

impl NotificationTask {
    /// `system|value` of the identifier: the key of the notification.
    pub fn key(&self) -> String {
        format!("{}|urn:uuid:{}", self.id_system, self.id_value)
    }

    /// The JSON text of the Task.
    pub fn json(&self) -> String {
        let mut s = String::with_capacity(1600);
        s.push_str("{\"resourceType\":\"Task\",\"meta\":{\"profile\":[\"http://fhir.nl/fhir/StructureDefinition/TA-NotifiedPull-NotificationTask\"]},");
        let ident = format!(
            "{{\"system\":\"{}\",\"value\":\"urn:uuid:{}\"}}",
            self.id_system, self.id_value
        );
        if self.identifier_object {
            let _ = write!(s, "\"identifier\":{ident},");
        } else {
            let _ = write!(s, "\"identifier\":[{ident}],");
        }
        if let Some(wf) = &self.based_on {
            let _ = write!(s, "\"basedOn\":[{{\"reference\":\"Task/{wf}\"}}],");
        }
        if let Some(g) = &self.group_value {
            let _ = write!(
                s,
                "\"groupIdentifier\":{{\"system\":\"{RFC3986}\",\"value\":\"urn:uuid:{g}\"}},"
            );
        }
        let _ = write!(
            s,
            "\"status\":\"{}\",\"intent\":\"{}\",\"code\":{{\"coding\":[{{\"system\":\"{}\",\"code\":\"pull-notification\"}}]}},",
            self.status, self.intent, self.code_system
        );
        match &self.bsn {
            Some(b) => {
                let _ = write!(
                    s,
                    "\"for\":{{\"identifier\":{{\"system\":\"{BSN_SYSTEM}\",\"value\":\"{b}\"}}}},"
                );
            }
            None => {
                let _ = write!(s, "\"for\":{{\"reference\":\"{}\"}},", self.patient_ref);
            }
        }
        let _ = write!(s, "\"authoredOn\":\"{}\",", local_seconds(self.authored));
        let _ = write!(
            s,
            "\"requester\":{{\"agent\":{{\"identifier\":{{\"system\":\"{RFC3986}\",\"value\":\"{}\"}}}},\"onBehalfOf\":{{\"identifier\":{{\"system\":\"{URA}\",\"value\":\"{}\"}},\"display\":\"{}\"}}}},",
            self.sender.base(),
            self.sender.ura,
            self.sender.name
        );
        let _ = write!(
            s,
            "\"owner\":{{\"identifier\":{{\"system\":\"{URA}\",\"value\":\"{}\"}},\"display\":\"{}\"}},",
            self.receiver.ura, self.receiver.name
        );
        let end = match self.end {
            End::At(t) => local_seconds(t),
            End::Date(t) => date(t),
        };
        let _ = write!(s, "\"restriction\":{{\"period\":{{\"end\":\"{end}\"}}}},");
        s.push_str("\"input\":[");
        let _ = write!(
            s,
            "{{\"type\":{{\"coding\":[{{\"system\":\"{TASK_PARAMETER}\",\"code\":\"authorization-base\"}}]}},\"valueString\":\"{}\"}}",
            self.auth_base
        );
        if self.get_workflow_task {
            let _ = write!(
                s,
                ",{{\"type\":{{\"coding\":[{{\"system\":\"{TASK_PARAMETER}\",\"code\":\"get-workflow-task\"}}]}},\"valueBoolean\":true}}"
            );
        }
        for r in &self.requests {
            s.push(',');
            input(&mut s, r);
        }
        s.push_str("]}");
        s
    }
}

/// One Task input for a request: a section-coded search, a 1.2/1.4 search, or a read.
fn input(s: &mut String, r: &Req) {
    if let Some(i) = r.section {
        let sec = &SECTIONS[i];
        let _ = write!(
            s,
            "{{\"type\":{{\"coding\":[{{\"system\":\"{}\",\"code\":\"{}\",\"display\":\"{}\"}}],\"text\":\"{}\"}},\"valueString\":\"{}\"}}",
            sec.system, sec.code, sec.display, sec.text, r.task_text
        );
    } else if r.read {
        let code = if r.release_12 {
            "read-resource"
        } else {
            "read-available-resource"
        };
        let _ = write!(
            s,
            "{{\"type\":{{\"coding\":[{{\"system\":\"{TASK_PARAMETER}\",\"code\":\"{code}\"}}]}},\"valueReference\":{{\"reference\":\"{}\"}}}}",
            r.task_text
        );
    } else {
        let code = if r.release_12 {
            "search-resource"
        } else {
            "query-available-resources"
        };
        let _ = write!(
            s,
            "{{\"type\":{{\"coding\":[{{\"system\":\"{TASK_PARAMETER}\",\"code\":\"{code}\"}}]}},\"valueString\":\"{}\"}}",
            r.task_text
        );
    }
}

/// A Workflow Task (a BgZ referral) at the sender, as a `get-workflow-task` pull returns it.
#[derive(Clone, Debug)]
pub struct WorkflowTask {
    pub id: String,
    pub identifier: String,
    pub status: &'static str,
    pub bsn: Option<String>,
    pub patient_ref: String,
    pub authored: i64,
    pub end: i64,
    pub sender: &'static Org,
    pub receiver: &'static Org,
    pub auth_base: String,
    pub sections: Vec<Req>,
}

impl WorkflowTask {
    pub fn json(&self) -> String {
        let mut s = String::with_capacity(4096);
        let _ = write!(
            s,
            "{{\"resourceType\":\"Task\",\"id\":\"{}\",\"meta\":{{\"profile\":[\"http://nictiz.nl/fhir/StructureDefinition/BgZ-verwijzing-Task\"]}},",
            self.id
        );
        let _ = write!(
            s,
            "\"identifier\":[{{\"system\":\"{RFC3986}\",\"value\":\"urn:uuid:{}\"}}],\"status\":\"{}\",\"intent\":\"order\",",
            self.identifier, self.status
        );
        s.push_str("\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"3457005\",\"display\":\"Patient referral\"}],\"text\":\"Verwijzing\"},");
        match &self.bsn {
            Some(b) => {
                let _ = write!(
                    s,
                    "\"for\":{{\"identifier\":{{\"system\":\"{BSN_SYSTEM}\",\"value\":\"{b}\"}},\"reference\":\"{}\"}},",
                    self.patient_ref
                );
            }
            None => {
                let _ = write!(s, "\"for\":{{\"reference\":\"{}\"}},", self.patient_ref);
            }
        }
        let _ = write!(
            s,
            "\"authoredOn\":\"{}\",\"requester\":{{\"agent\":{{\"reference\":\"Practitioner/{}-behandelaar\"}},\"onBehalfOf\":{{\"identifier\":{{\"system\":\"{URA}\",\"value\":\"{}\"}}}}}},",
            local_seconds(self.authored),
            self.sender.host,
            self.sender.ura
        );
        let _ = write!(
            s,
            "\"owner\":{{\"identifier\":{{\"system\":\"{URA}\",\"value\":\"{}\"}}}},\"restriction\":{{\"period\":{{\"end\":\"{}\"}}}},",
            self.receiver.ura,
            local_seconds(self.end)
        );
        let _ = write!(
            s,
            "\"input\":[{{\"type\":{{\"coding\":[{{\"system\":\"{TASK_PARAMETER}\",\"code\":\"authorization-base\"}}]}},\"valueString\":\"{}\"}}",
            self.auth_base
        );
        for r in &self.sections {
            s.push(',');
            input(&mut s, r);
        }
        s.push_str("]}");
        s
    }
}

/// The body of a cancel (Twiin-02): the identifier and `status: cancelled`, as in the tanp draft.
pub fn cancel_body(id_system: &str, id_value: &str) -> String {
    format!(
        "{{\"resourceType\":\"Task\",\"identifier\":[{{\"system\":\"{id_system}\",\"value\":\"urn:uuid:{id_value}\"}}],\"status\":\"cancelled\",\"intent\":\"proposal\"}}"
    )
}

// The event lines that carry these bodies are in `event_lines` (re-exported here).
pub use super::event_lines::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::request::normalise;

    #[test]
    fn pulled_forms_normalise_like_the_task_text() {
        for s in &SECTIONS {
            assert_eq!(
                normalise(s.search, None),
                normalise(s.pulled_as, None),
                "{}",
                s.search
            );
        }
        for (task, pulled) in SEARCHES {
            assert_eq!(normalise(task, None), normalise(pulled, None), "{task}");
        }
    }

    #[test]
    fn bodies_are_json_and_read_as_tasks() {
        let t = NotificationTask {
            id_system: RFC4122,
            id_value: "6128cfe7-0e89-4d37-ba90-e4ca3b3fcbbe".into(),
            identifier_object: true,
            group_value: Some("484639e6-e647-464c-8722-6e8a73cda4e0".into()),
            status: "requested",
            intent: "proposal",
            code_system: TASK_CODE,
            based_on: Some("wf-1".into()),
            bsn: Some("172642863".into()),
            patient_ref: "Patient/1".into(),
            authored: 1_700_000_000_000_000,
            end: End::Date(1_700_000_000_000_000),
            sender: &SENDERS[0],
            receiver: &RECEIVERS[0],
            auth_base: "ZGFhNDFjY2M".into(),
            get_workflow_task: true,
            requests: vec![Req {
                task_text: SECTIONS[11].search.into(),
                pulled_as: SECTIONS[11].pulled_as.into(),
                read: false,
                section: Some(11),
                release_12: false,
            }],
        };
        let parsed = crate::fhir::task::parse_task(&t.json()).unwrap();
        assert_eq!(parsed.identifier.as_deref(), Some(t.key().as_str()));
        assert_eq!(parsed.based_on.as_deref(), Some("wf-1"));
        assert_eq!(parsed.get_workflow_task, Some(true));
        assert!(parsed.malformations().is_empty());
        assert_eq!(parsed.requests.len(), 1);
        serde_json::from_str::<serde_json::Value>(&cancel_body(RFC3986, "x")).unwrap();
    }
}
