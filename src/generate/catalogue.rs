//! What synthetic Tasks ask for: the BgZ sections with their LOINC/SNOMED codes and searches,
//! other searches, and the resource types that are read.

use super::bodies::{LOINC, SNOMED};

/// A BgZ section: type coding (system, code, display), Dutch text, the search as a sender writes it
/// in a Task, and how a receiver's client may write the same search (equal after normalisation).
pub struct Section {
    pub system: &'static str,
    pub code: &'static str,
    pub display: &'static str,
    pub text: &'static str,
    pub search: &'static str,
    pub pulled_as: &'static str,
}

pub const SECTIONS: [Section; 16] = [
    Section {
        system: LOINC,
        code: "79191-3",
        display: "Patient demographics panel",
        text: "Demografie en identificatie",
        search: "Patient?_include=Patient%3Ageneral-practitioner",
        pulled_as: "Patient?_include=Patient:general-practitioner",
    },
    Section {
        system: LOINC,
        code: "48768-6",
        display: "Payment sources Document",
        text: "Financiële informatie",
        search: "Coverage?_include=Coverage%3Apayor%3AOrganization&_include=Coverage%3Apayor%3APatient",
        pulled_as: "Coverage?_include=Coverage:payor:Organization&_include=Coverage:payor:Patient",
    },
    Section {
        system: SNOMED,
        code: "11291000146105",
        display: "Treatment instructions",
        text: "Behandelaanwijzing",
        search: "Consent?category=http%3A%2F%2Fsnomed.info%2Fsct%7C11291000146105",
        pulled_as: "Consent?category=http://snomed.info/sct%7C11291000146105",
    },
    Section {
        system: SNOMED,
        code: "11341000146107",
        display: "Living will and advance directive record",
        text: "Wilsverklaring",
        search: "Consent?category=http%3A%2F%2Fsnomed.info%2Fsct%7C11341000146107",
        pulled_as: "Consent?category=http%3A%2F%2Fsnomed.info%2Fsct%7C11341000146107",
    },
    Section {
        system: LOINC,
        code: "47420-5",
        display: "Functional status assessment note",
        text: "Functionele status",
        search: "Observation/$lastn?category=http%3A%2F%2Fsnomed.info%2Fsct%7C118228005%2Chttp%3A%2F%2Fsnomed.info%2Fsct%7C384821006",
        pulled_as: "Observation/%24lastn?category=http%3A%2F%2Fsnomed.info%2Fsct%7C118228005,http%3A%2F%2Fsnomed.info%2Fsct%7C384821006",
    },
    Section {
        system: LOINC,
        code: "11450-4",
        display: "Problem list - Reported",
        text: "Probleem",
        search: "Condition",
        pulled_as: "Condition",
    },
    Section {
        system: SNOMED,
        code: "228273003",
        display: "Finding relating to alcohol drinking behavior",
        text: "Alcoholgebruik",
        search: "Observation?code=http%3A%2F%2Fsnomed.info%2Fsct%7C228273003",
        pulled_as: "Observation?code=http://snomed.info/sct|228273003",
    },
    Section {
        system: SNOMED,
        code: "365980008",
        display: "Tobacco use and exposure - finding",
        text: "Tabaksgebruik",
        search: "Observation?code=http%3A%2F%2Fsnomed.info%2Fsct%7C365980008",
        pulled_as: "Observation?code=http%3A%2F%2Fsnomed.info%2Fsct%7C365980008",
    },
    Section {
        system: LOINC,
        code: "75310-3",
        display: "Health concerns Document",
        text: "Alert",
        search: "Flag",
        pulled_as: "Flag",
    },
    Section {
        system: LOINC,
        code: "48765-2",
        display: "Allergies and adverse reactions Document",
        text: "Allergieën",
        search: "AllergyIntolerance",
        pulled_as: "AllergyIntolerance",
    },
    Section {
        system: SNOMED,
        code: "422979000",
        display: "Known medication use",
        text: "Medicatiegebruik",
        search: "MedicationStatement?category=urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3|6&_include=MedicationStatement:medication",
        pulled_as: "MedicationStatement?category=urn%3Aoid%3A2.16.840.1.113883.2.4.3.11.60.20.77.5.3%7C6&_include=MedicationStatement%3Amedication",
    },
    Section {
        system: SNOMED,
        code: "16076005",
        display: "Known medication agreements",
        text: "Medicatieafspraak",
        search: "MedicationRequest?category=http%3A%2F%2Fsnomed.info%2Fsct%7C16076005&_include=MedicationRequest:medication",
        pulled_as: "MedicationRequest?category=http://snomed.info/sct%7C16076005&_include=MedicationRequest:medication",
    },
    Section {
        system: LOINC,
        code: "11369-6",
        display: "History of Immunization Narrative",
        text: "Vaccinaties",
        search: "Immunization?status=completed",
        pulled_as: "Immunization?status=completed",
    },
    Section {
        system: LOINC,
        code: "85354-9",
        display: "Blood pressure",
        text: "Bloeddruk",
        search: "Observation/$lastn?code=http%3A%2F%2Floinc.org%7C85354-9",
        pulled_as: "Observation/$lastn?code=http%3a%2f%2floinc.org%7c85354-9",
    },
    Section {
        system: LOINC,
        code: "29463-7",
        display: "Body weight",
        text: "Lichaamsgewicht",
        search: "Observation/$lastn?code=http%3A%2F%2Floinc.org%7C29463-7",
        pulled_as: "Observation/$lastn?code=http://loinc.org%7C29463-7",
    },
    Section {
        system: LOINC,
        code: "77599-9",
        display: "Additional documentation",
        text: "Correspondentie",
        search: "DocumentReference?status=current",
        pulled_as: "DocumentReference?status=current",
    },
];

/// Searches written as Task inputs (release 1.2 `search-resource` / 1.4
/// `query-available-resources`), with an equivalent form a receiver may log.
pub const SEARCHES: [(&str, &str); 12] = [
    (
        "Condition?clinical-status=active",
        "Condition?clinical-status=active",
    ),
    (
        "MedicationStatement?status=active&_include=MedicationStatement:medication",
        "MedicationStatement?status=active&_include=MedicationStatement%3Amedication",
    ),
    (
        "Observation?code=http%3A%2F%2Floinc.org%7C85354-9",
        "Observation?code=http://loinc.org|85354-9",
    ),
    (
        "Observation?category=laboratory&date=ge2026-10-01",
        "Observation?category=laboratory&date=ge2026-10-01",
    ),
    (
        "AllergyIntolerance?clinical-status=active",
        "AllergyIntolerance?clinical-status=active",
    ),
    (
        "Immunization?status=completed",
        "Immunization?status=completed",
    ),
    (
        "Procedure?category=http://snomed.info/sct%7C387713003",
        "Procedure?category=http%3A%2F%2Fsnomed.info%2Fsct%7C387713003",
    ),
    (
        "MedicationRequest?status=active",
        "MedicationRequest?status=active",
    ),
    ("CarePlan?status=active", "CarePlan?status=active"),
    (
        "Encounter?date=ge2026-10-01&_sort=-date",
        "Encounter?date=ge2026-10-01&_sort=-date",
    ),
    (
        "Observation?code=http://loinc.org%7C29463-7&_sort=-date&_count=3",
        "Observation?code=http%3a%2f%2floinc.org%7c29463-7&_sort=-date&_count=3",
    ),
    (
        "DocumentReference?status=current",
        "DocumentReference?status=current",
    ),
];

/// Kinds of resources read by reference, with a name part for their ids.
pub const READ_TYPES: [(&str, &str); 5] = [
    ("DocumentReference", "brief"),
    ("Patient", "p"),
    ("Practitioner", "zorgverlener"),
    ("Observation", "obs"),
    ("Binary", "pdf"),
];
