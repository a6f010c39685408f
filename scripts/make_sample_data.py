#!/usr/bin/env python3
"""Write the bundled sample data of pullrecon under sample-data/.

Python 3.11, standard library only, deterministic: identifiers are uuid5 of fixed names, all times
are fixed, there is no randomness, and the gzip file is written with mtime=0. Rerunning gives
byte-identical files.

The data is a set of small *stories*, each written below as the events of both logs plus, next to
it, the findings that a correct implementation of docs/SEMANTICS.md must produce for it (written by
hand, not computed). The run these expectations hold for:

    pullrecon reconcile --sent sample-data/sent --received sample-data/received --out OUT \
        --as-of 2026-11-20T05:00:00Z --grace 15m --lookback 30d      (push SLA 24h, the default)

The script checks its own consistency with asserts (valid test BSNs, request strings of findings
already in canonical form, pulls that are meant to match a Task input do so after normalisation),
but it does not reconcile: expected-findings.json is exactly the list written in the stories.

Layout written (relative to the repository root):
    sample-data/sent/notified-pull-2026-11-19.ndjson        sender: notify, cancel
    sample-data/sent/push-2026-11-19.csv                    sender: push
    sample-data/received/notified-pull-2026-11-19.ndjson.gz receiver: notify, cancel (gzip)
    sample-data/received/pulls-2026-11-19.ndjson            receiver: get-workflow-task, search, read
    sample-data/received/push-2026-11-19.csv                receiver: push, push-processed
    sample-data/expected-findings.json                      every expected finding, sorted
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import re
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "sample-data"

# ---------------------------------------------------------------------------------------------
# Run parameters the expectations hold for
# ---------------------------------------------------------------------------------------------
UTC = timezone.utc
CET = timezone(timedelta(hours=1))  # Europe/Amsterdam in November
AS_OF = datetime(2026, 11, 20, 5, 0, 0, tzinfo=UTC)
GRACE = timedelta(minutes=15)
LOOKBACK = timedelta(days=30)
PUSH_SLA = timedelta(hours=24)

# ---------------------------------------------------------------------------------------------
# Systems
# ---------------------------------------------------------------------------------------------
URA = "http://fhir.nl/fhir/NamingSystem/ura"
BSN = "http://fhir.nl/fhir/NamingSystem/bsn"
TASKCODE = "http://fhir.nl/fhir/NamingSystem/TaskCode"
TASKCODE_TYPO = "http://fhir.nl/fhir/NamingSystem/TaskCodes"
TANP_DRAFT = "https://www.twiin.nl/tanp/CodeSystem/tanp-codes"
TASKPARAM = "http://fhir.nl/fhir/NamingSystem/TaskParameter"
TASKPARAM_PLACEHOLDER = "http://xxx.nl/fhir/CodeSystem/TaskParameterType"
RFC3986 = "urn:ietf:rfc:3986"
RFC4122 = "https://tools.ietf.org/html/rfc4122"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"

NS = uuid.UUID("7b0d6a52-3c1e-4f0a-9b7e-20261119a001")


def uid(*parts: str) -> str:
    return str(uuid.uuid5(NS, "/".join(parts)))


# ---------------------------------------------------------------------------------------------
# Organisations. A, B, C send and appear in the sent log; D sends but appears only in the received
# log (the sent log does not cover it); E only pushes and only appears in the received push log.
# ---------------------------------------------------------------------------------------------
class Org:
    def __init__(self, ura: str, name: str, host: str | None):
        self.ura = ura
        self.name = name
        self.base = f"https://fhir.{host}.example/fhir" if host else None

    @property
    def ident(self) -> dict:
        return {"system": URA, "value": self.ura}

    @property
    def key(self) -> str:
        return f"{URA}|{self.ura}"


A = Org("32109876", "Ziekenhuis Amstelrade", "amstelrade")
B = Org("20481632", "Huisartsenpraktijk De Linde", "delinde")
C = Org("41872305", "Zorggroep Waterland (VVT)", "waterland")
D = Org("58320917", "Apotheek Stadsplein", "stadsplein")
E = Org("84409126", "Laboratorium Noord", None)
R1 = Org("67012345", "Revalidatiecentrum Het Anker", None)
R2 = Org("73920481", "Ziekenhuis Oosterheem", None)

# ---------------------------------------------------------------------------------------------
# BSNs: test numbers that pass the elfproef, plus deliberately invalid ones
# ---------------------------------------------------------------------------------------------


def elfproef(s: str) -> bool:
    if not re.fullmatch(r"[0-9]{9}", s):
        return False
    d = [int(c) for c in s]
    total = sum(w * x for w, x in zip(range(9, 1, -1), d[:8])) - d[8]
    return total % 11 == 0


def _valid_bsns(n: int) -> list[str]:
    out = ["172642863"]  # the test BSN of the fhir-examples
    cand = 999911000
    while len(out) < n:
        s = str(cand)
        if elfproef(s):
            out.append(s)
        cand += 1
    return out


P = _valid_bsns(31)  # P[1..30] are used below
for _b in P:
    assert elfproef(_b), _b
assert len(set(P)) == len(P)
BSN_INVALID = "123456789"  # 9 digits, fails the elfproef
BSN_LEADING_ZERO = "012345672"  # valid ...
BSN_TRUNCATED = "12345672"  # ... but logged as a number: 8 digits, invalid
assert not elfproef(BSN_INVALID)
assert elfproef(BSN_LEADING_ZERO)
assert not elfproef(BSN_TRUNCATED)


# ---------------------------------------------------------------------------------------------
# Time helpers
# ---------------------------------------------------------------------------------------------
def T(s: str) -> datetime:
    dt = datetime.fromisoformat(s)
    assert dt.tzinfo is not None, s
    return dt


def fmt_z(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_cet(dt: datetime) -> str:
    """The receiver's Task log writes local time with an offset."""
    dt = dt.astimezone(CET)
    ms = f".{dt.microsecond // 1000:03d}" if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ms + "+01:00"


CEST = timezone(timedelta(hours=2))
DST_END_2026 = datetime(2026, 10, 25, 1, 0, 0, tzinfo=UTC)


def local(dt_utc: str) -> str:
    """authoredOn as a Dutch system writes it: local time with offset, no fraction."""
    dt = T(dt_utc)
    if dt < DST_END_2026:
        return dt.astimezone(CEST).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    return dt.astimezone(CET).strftime("%Y-%m-%dT%H:%M:%S+01:00")


# ---------------------------------------------------------------------------------------------
# Request normalisation, as docs/SEMANTICS.md describes it. Used only for self-checks: a pull that
# is meant to match a Task input must normalise to the same string, and the request of every
# expected finding is written in (and asserted to be in) this canonical form.
# ---------------------------------------------------------------------------------------------
_SAFE = ":/,$@!*'();"


def _enc(s: str) -> str:
    return urllib.parse.quote(urllib.parse.unquote(s), safe=_SAFE)


def canon(req: str, base: str | None = None) -> str:
    r = req
    if base and r.startswith(base):
        r = r[len(base):]
    elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", r):
        rest = r.split("://", 1)[1]
        segs = rest.split("/")[1:]  # drop the host
        while segs and not segs[0][:1].isupper():
            segs.pop(0)
        r = "/".join(segs)
    r = r.lstrip("/")
    path, _, query = r.partition("?")
    out = "/".join(_enc(seg) for seg in path.split("/"))
    if query:
        parts = []
        for p in query.split("&"):
            name, eq, value = p.partition("=")
            parts.append(_enc(name) + (eq and "=" + _enc(value)))
        out += "?" + "&".join(parts)
    return out


def is_canonical(req: str) -> bool:
    return canon(req) == req


# ---------------------------------------------------------------------------------------------
# Task inputs
# ---------------------------------------------------------------------------------------------
def _type(system: str, code: str, display: str | None = None, text: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    t = {"coding": [coding]}
    if text:
        t["text"] = text
    return t


def auth_base(label: str, system: str = TASKPARAM) -> dict:
    """authorization-base: an opaque credential. Two shapes seen: base64 of a uuid, a JWT-ish blob."""
    h = hashlib.sha256(("authorization-base/" + label).encode()).digest()
    if h[0] % 2:
        v = base64.b64encode(uid("authz", label).encode()).decode().rstrip("=")
    else:
        v = "eyJhbGciOiJFUzI1NiJ9." + base64.urlsafe_b64encode(h + h[:9]).decode().rstrip("=")
    # never looks like a request: base64 of a uuid starts with M, N, O, Y or Z, the JWT-ish one with
    # "eyJ"; no STU3 resource type starts with one of those letters and a possible second one
    assert v[0] in "MNOYZe" and not re.match(r"Me|Na|Nu|Ob|Op|Or", v), v
    return {"type": _type(system, "authorization-base"), "valueString": v}


def get_wf(system: str = TASKPARAM) -> dict:
    return {"type": _type(system, "get-workflow-task"), "valueBoolean": True}


def read(ref: str, release: str = "1.4", system: str = TASKPARAM) -> dict:
    code = {"1.2": "read-resource", "1.4": "read-available-resource"}[release]
    return {"type": _type(system, code), "valueReference": {"reference": ref}}


def search(q: str, release: str = "1.4", system: str = TASKPARAM) -> dict:
    code = {"1.2": "search-resource", "1.4": "query-available-resources"}[release]
    return {"type": _type(system, code), "valueString": q}


# BgZ sections (as in the Workflow Task examples): (system, code, display, Dutch text, search)
BGZ = {
    "patient": (LOINC, "79191-3", "Patient demographics panel", "Demografie en identificatie",
                "Patient?_include=Patient%3Ageneral-practitioner"),
    "coverage": (LOINC, "48768-6", "Payment sources Document", "Financiële informatie",
                 "Coverage?_include=Coverage%3Apayor%3AOrganization&_include=Coverage%3Apayor%3APatient"),
    "treatment": (SNOMED, "11291000146105", "Treatment instructions", "Behandelaanwijzing",
                  "Consent?category=http%3A%2F%2Fsnomed.info%2Fsct%7C11291000146105"),
    "livingwill": (SNOMED, "11341000146107", "Living will and advance directive record", "Wilsverklaring",
                   "Consent?category=http%3A%2F%2Fsnomed.info%2Fsct%7C11341000146107"),
    "functional": (LOINC, "47420-5", "Functional status assessment note", "Functionele status",
                   "Observation/$lastn?category=http%3A%2F%2Fsnomed.info%2Fsct%7C118228005%2Chttp%3A%2F%2Fsnomed.info%2Fsct%7C384821006"),
    "problems": (LOINC, "11450-4", "Problem list - Reported", "Probleem", "Condition"),
    "alcohol": (SNOMED, "228273003", "Finding relating to alcohol drinking behavior", "Alcoholgebruik",
                "Observation?code=http%3A%2F%2Fsnomed.info%2Fsct%7C228273003"),
    "tobacco": (SNOMED, "365980008", "Tobacco use and exposure - finding", "Tabaksgebruik",
                "Observation?code=http%3A%2F%2Fsnomed.info%2Fsct%7C365980008"),
    "alerts": (LOINC, "75310-3", "Health concerns Document", "Alert", "Flag"),
    "allergies": (LOINC, "48765-2", "Allergies and adverse reactions Document", "Allergieën",
                  "AllergyIntolerance"),
    "meduse": (SNOMED, "422979000", "Known medication use", "Medicatiegebruik",
               "MedicationStatement?category=urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3|6&_include=MedicationStatement:medication"),
    "medagree": (SNOMED, "16076005", "Known medication agreements", "Medicatieafspraak",
                 "MedicationRequest?category=http%3A%2F%2Fsnomed.info%2Fsct%7C16076005&_include=MedicationRequest:medication"),
    "devices": (LOINC, "46264-8", "History of medical device use", "Medische hulpmiddelen",
                "DeviceUseStatement?_include=DeviceUseStatement%3Adevice"),
    "vaccinations": (LOINC, "11369-6", "History of Immunization Narrative", "Vaccinaties",
                     "Immunization?status=completed"),
    "bloodpressure": (LOINC, "85354-9", "Blood pressure", "Bloeddruk",
                      "Observation/$lastn?code=http%3A%2F%2Floinc.org%7C85354-9"),
    "weight": (LOINC, "29463-7", "Body weight", "Lichaamsgewicht",
               "Observation/$lastn?code=http%3A%2F%2Floinc.org%7C29463-7"),
    "lab": (SNOMED, "15220000", "Laboratory test", "LaboratoriumUitslag",
            "Observation/$lastn?category=http%3A%2F%2Fsnomed.info%2Fsct%7C275711006&_include=Observation:specimen"),
    "procedures": (LOINC, "47519-4", "History of Procedures Document", "Verrichtingen",
                   "Procedure?category=http%3A%2F%2Fsnomed.info%2Fsct%7C387713003"),
    "encounters": (LOINC, "46240-8", "History of Hospitalizations+Outpatient visits Narrative", "Contacten",
                   "Encounter?class=http%3A%2F%2Fhl7.org%2Ffhir%2Fv3%2FActCode%7CIMP,http%3A%2F%2Fhl7.org%2Ffhir%2Fv3%2FActCode%7CACUTE,http%3A%2F%2Fhl7.org%2Ffhir%2Fv3%2FActCode%7CNONAC"),
    "documents": (LOINC, "77599-9", "Additional documentation", "Correspondentie",
                  "DocumentReference?status=current"),
}


def section(name: str, q: str | None = None) -> dict:
    """A BgZ-section-coded search input (LOINC/SNOMED type code, valueString search)."""
    system, code, display, text, default_q = BGZ[name]
    return {"type": _type(system, code, display, text), "valueString": q or default_q}


def q_of(name: str) -> str:
    return BGZ[name][4]


# ---------------------------------------------------------------------------------------------
# Notification Tasks, Workflow Tasks
# ---------------------------------------------------------------------------------------------
class Notif:
    """One Notification Task. `label` is unique; identifiers are derived from it."""

    def __init__(self, label: str, sender: Org, receiver: Org, authored: str | None, end: str,
                 inputs: list[dict], *, group: str | None = None, bsn: str | None = None,
                 patient_ref: str | None = None, based_on: str | None = None,
                 id_system: str = RFC3986, identifier_object: bool = False, r4: bool = False,
                 code_system: str | None = TASKCODE, code: str = "pull-notification",
                 intent: str = "proposal", status: str = "requested"):
        self.label = label
        self.sender = sender
        self.receiver = receiver
        self.ident = {"system": id_system, "value": "urn:uuid:" + uid(label, "identifier")}
        g = group or label
        self.group = {"system": id_system, "value": "urn:uuid:" + uid(g, "group")}
        self.key = f"{self.ident['system']}|{self.ident['value']}"
        self.group_key = f"{self.group['system']}|{self.group['value']}"
        self.base = sender.base
        body: dict = {"resourceType": "Task"}
        body["identifier"] = dict(self.ident) if identifier_object else [dict(self.ident)]
        if based_on:
            body["basedOn"] = [{"reference": f"Task/{based_on}"}]
        body["groupIdentifier"] = dict(self.group)
        body["status"] = status
        body["intent"] = intent
        if code_system is not None:
            body["code"] = {"coding": [{"system": code_system, "code": code}]}
        if bsn is not None:
            body["for"] = {"identifier": {"system": BSN, "value": bsn}}
        elif patient_ref is not None:
            body["for"] = {"reference": patient_ref}
        if authored is not None:
            body["authoredOn"] = local(authored)
        if r4:
            # early TA draft (R4-shaped): requester.identifier names the sending organisation
            body["requester"] = {"identifier": sender.ident}
        else:
            body["requester"] = {
                "agent": {"identifier": {"system": RFC3986, "value": sender.base}},
                "onBehalfOf": {"identifier": sender.ident},
            }
        body["owner"] = {"identifier": receiver.ident}
        body["restriction"] = {"period": {"end": end}}
        body["input"] = inputs
        self.task = body

    def cancel_body(self) -> dict:
        return cancel_body(self.ident)


def cancel_body(ident: dict) -> dict:
    return {"resourceType": "Task", "identifier": [dict(ident)], "status": "cancelled",
            "intent": "proposal"}


def workflow_task(wf_id: str, sender: Org, receiver: Org, authored: str, end: str, status: str,
                  bsn: str | None, patient_ref: str, sections: list[dict], label: str) -> dict:
    body = {
        "resourceType": "Task",
        "id": wf_id,
        "meta": {"profile": ["http://nictiz.nl/fhir/StructureDefinition/BgZ-verwijzing-Task"]},
        "identifier": [{"system": RFC3986, "value": "urn:uuid:" + uid(label, "wf-identifier")}],
        "status": status,
        "intent": "order",
        "code": {"coding": [{"system": SNOMED, "code": "3457005", "display": "Patient referral"}],
                 "text": "Verwijzing"},
        "for": ({"identifier": {"system": BSN, "value": bsn}, "reference": patient_ref}
                if bsn else {"reference": patient_ref}),
        "authoredOn": local(authored),
        "requester": {
            "agent": {"reference": f"Practitioner/{label.lower()}-behandelaar"},
            "onBehalfOf": {"identifier": sender.ident},
        },
        "owner": {"identifier": receiver.ident},
        "restriction": {"period": {"end": end}},
        "input": [auth_base(label + "/wf")] + sections,
    }
    return body


# ---------------------------------------------------------------------------------------------
# Event collection
# ---------------------------------------------------------------------------------------------
SENT: list[tuple[datetime, int, dict]] = []
RECV: list[tuple[datetime, int, dict]] = []
RECV_REPLAYED_TAIL: list[dict] = []  # identical lines a log shipper delivered twice
PULLS: list[tuple[datetime, int, dict]] = []
SENT_PUSH: list[tuple[datetime, int, dict]] = []
RECV_PUSH: list[tuple[datetime, int, dict]] = []
EXPECTED: list[dict] = []
NOTIFS: list[Notif] = []
_seq = [0]


def _add(lst, dt: datetime, ev: dict):
    _seq[0] += 1
    lst.append((dt, _seq[0], ev))
    return ev


def sent_notify(n: Notif, ts: str, status: int | None, *, error: str | None = None,
                bsn_in_assertion: bool = False, assertion_bsn: str | None = None):
    dt = T(ts)
    ev = {"ts": fmt_z(dt), "interaction": "notify", "status": status}
    if error:
        ev["error"] = error
    ev["task"] = n.task
    ev["sender_base"] = n.sender.base
    ev["bsn_in_assertion"] = bsn_in_assertion
    if assertion_bsn is not None:
        assert bsn_in_assertion
        ev["assertion_bsn"] = assertion_bsn
    return _add(SENT, dt, ev)


def recv_notify(n: Notif, ts: str, status: int | None = 201):
    dt = T(ts)
    return _add(RECV, dt, {"ts": fmt_cet(dt), "interaction": "notify", "status": status, "task": n.task})


def sent_cancel(ident: dict, ts: str, status: int | None, error: str | None = None):
    dt = T(ts)
    ev = {"ts": fmt_z(dt), "interaction": "cancel", "status": status}
    if error:
        ev["error"] = error
    ev["task"] = cancel_body(ident)
    return _add(SENT, dt, ev)


def recv_cancel(ident: dict, ts: str, status: int | None = 200, error: str | None = None):
    dt = T(ts)
    ev = {"ts": fmt_cet(dt), "interaction": "cancel", "status": status}
    if error:
        ev["error"] = error
    ev["task"] = cancel_body(ident)
    return _add(RECV, dt, ev)


def pull(n: Notif, ts: str, interaction: str, request: str, status: int | None, *,
         error: str | None = None, body: dict | None = None, same_as: str | None = None,
         differs_from: str | None = None):
    """A receiver pull. `same_as`: the Task input it is meant to match (asserted after
    normalisation); `differs_from`: a Task input it must NOT match."""
    if same_as is not None:
        assert canon(request, n.base) == canon(same_as), (request, same_as)
    if differs_from is not None:
        assert canon(request, n.base) != canon(differs_from), (request, differs_from)
    dt = T(ts)
    ev = {"ts": fmt_z(dt), "interaction": interaction, "status": status}
    if error:
        ev["error"] = error
    ev["notification"] = n.key
    ev["request"] = request
    if status is not None:
        h = hashlib.sha256(f"{n.key}/{request}/{ts}".encode()).digest()
        ev["duration_ms"] = 40 + int.from_bytes(h[:2], "big") % 900
    if body is not None:
        ev["body"] = body
    return _add(PULLS, dt, ev)


def ok(n: Notif, ts: str, request: str, *, same_as: str | None = None, interaction: str | None = None):
    """A 200 pull; interaction guessed from the request form."""
    if interaction is None:
        path = request.split("?", 1)[0]
        if "?" in request or "/$" in path or re.fullmatch(r"(https?://.*/)?[A-Z][A-Za-z]+", path):
            interaction = "search"
        else:
            interaction = "read"
    return pull(n, ts, interaction, request, 200, same_as=same_as if same_as is not None else request)


def push(side: str, ts: str, interaction: str, message: str, sender: Org, receiver: Org,
         status: int | None = 201, error: str | None = None, outcome: str | None = None):
    dt = T(ts)
    row = {"ts": fmt_z(dt), "interaction": interaction,
           "status": "" if status is None else str(status), "error": error or "",
           "message": message, "sender": sender.key, "receiver": receiver.key,
           "outcome": outcome or ""}
    _add(SENT_PUSH if side == "sent" else RECV_PUSH, dt, row)


SEVERITY = {
    "notification-undelivered": "error", "notification-lost": "error", "update-missed": "error",
    "notification-unknown-to-sender": "warning", "notification-duplicate": "warning",
    "notification-malformed": "error", "cancellation-undelivered": "error",
    "cancellation-unmatched": "warning", "pulled-after-cancellation": "error",
    "workflow-task-reference-missing": "error", "pull-failed": "error", "pull-missing": "error",
    "pull-expired": "warning", "bsn-unavailable": "error", "bsn-invalid": "error",
    "bsn-mismatch": "error", "push-undelivered": "error", "push-unprocessed": "warning",
    "push-unknown-to-sender": "warning", "task-code-system-nonstandard": "info",
}


def expect(category: str, *, notification: str | None = None, message: str | None = None,
           request: str | None = None, replayable: bool = False):
    assert category in SEVERITY, category
    assert (notification is None) != (message is None)
    if request is not None:
        assert is_canonical(request), request
    EXPECTED.append({"category": category, "severity": SEVERITY[category],
                     "notification": notification, "message": message, "request": request,
                     "replayable": replayable})


def N(*args, **kw) -> Notif:
    n = Notif(*args, **kw)
    NOTIFS.append(n)
    return n


# =============================================================================================
# STORIES. Times are UTC unless an offset is written. as_of = 2026-11-20T05:00:00Z,
# as_of - grace = 04:45:00Z, as_of - lookback = 2026-10-21T05:00:00Z.
# =============================================================================================

# --- S01 healthy, release 1.4 codes, BSN in the Task and (without value) in the assertion ------
# 12-month expiry. One search carries the BSN (must be redacted in outputs as [bsn]); it is pulled
# percent-encoded. Its groupIdentifier is also what F10's faulty cancel names.
S01_PATIENT_Q = f"Patient?identifier={BSN}|{P[1]}"
s01 = N("S01", A, R1, "2026-11-19T07:58:00Z", "2027-11-19T08:58:00+01:00", [
    auth_base("S01"),
    search(S01_PATIENT_Q),
    search("Condition?clinical-status=active"),
    search("MedicationStatement?status=active&_include=MedicationStatement:medication"),
    read("DocumentReference/amstelrade-ontslagbrief-41187"),
], bsn=P[1])
sent_notify(s01, "2026-11-19T08:00:00Z", 201, bsn_in_assertion=True)
recv_notify(s01, "2026-11-19T08:00:00.612Z")
ok(s01, "2026-11-19T08:00:04.100Z",
   "Patient?identifier=http%3A%2F%2Ffhir.nl%2Ffhir%2FNamingSystem%2Fbsn%7C" + P[1], same_as=S01_PATIENT_Q)
ok(s01, "2026-11-19T08:00:04.950Z", "Condition?clinical-status=active")
ok(s01, "2026-11-19T08:00:05.730Z", "MedicationStatement?status=active&_include=MedicationStatement:medication")
ok(s01, "2026-11-19T08:00:06.210Z", "DocumentReference/amstelrade-ontslagbrief-41187")
# expected: none

# --- S02 healthy, release 1.2 codes; pulls differ from the Task text only in encoding or by the
# absolute sender base; the receiver's log shipper delivered the notify line twice (identical
# lines count once: no notification-duplicate); date-only end (14 days) --------------------------
S02_BP = "Observation?code=http://loinc.org|85354-9"
S02_COND = "Condition?clinical-status=active&category=http%3A%2F%2Fsnomed.info%2Fsct%7C439401001"
s02 = N("S02", B, R2, "2026-11-19T08:40:00Z", "2026-12-03", [
    auth_base("S02"),
    search(S02_BP, "1.2"),
    search(S02_COND, "1.2"),
    read("Patient/delinde-7f3a9c", "1.2"),
    read("Practitioner/delinde-h-vos", "1.2"),
], bsn=P[2])
sent_notify(s02, "2026-11-19T08:41:10Z", 201, bsn_in_assertion=True, assertion_bsn=P[2])
RECV_REPLAYED_TAIL.append(recv_notify(s02, "2026-11-19T08:41:10.377Z"))
ok(s02, "2026-11-19T08:41:15.020Z", "Observation?code=http%3A%2F%2Floinc.org%7C85354-9", same_as=S02_BP)
ok(s02, "2026-11-19T08:41:15.880Z",
   "https://fhir.delinde.example/fhir/Condition?clinical-status=active&category=http://snomed.info/sct%7c439401001",
   same_as=S02_COND)
ok(s02, "2026-11-19T08:41:16.400Z", "/Patient/delinde-7f3a9c", same_as="Patient/delinde-7f3a9c")
ok(s02, "2026-11-19T08:41:16.990Z", "https://fhir.delinde.example/fhir/Practitioner/delinde-h-vos",
   same_as="Practitioner/delinde-h-vos")
# expected: none

# --- S03 healthy BgZ referral with a Workflow Task; BSN in the assertion (with value) and in the
# Workflow Task `for` (same BSN); the Notification Task has no `for`. 7-day expiry ----------------
S03_WF = "bgz-verwijzing-" + uid("S03", "wf")[:8]
S03_SECTIONS = ["patient", "coverage", "treatment", "livingwill", "functional", "problems", "alerts",
                "allergies", "meduse", "medagree", "vaccinations", "bloodpressure", "lab", "documents"]
s03 = N("S03", A, R2, "2026-11-19T09:05:00Z", "2026-11-26T10:05:00+01:00", [
    auth_base("S03"), get_wf()], based_on=S03_WF)
s03_wf = workflow_task(S03_WF, A, R2, "2026-11-19T09:04:00Z", "2026-11-26T10:05:00+01:00", "requested",
                       P[3], "Patient/amstelrade-p-90411", [section(s) for s in S03_SECTIONS], "S03")
sent_notify(s03, "2026-11-19T09:05:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[3])
recv_notify(s03, "2026-11-19T09:05:02.540Z")
pull(s03, "2026-11-19T09:05:07.000Z", "get-workflow-task", f"Task/{S03_WF}", 200, body=s03_wf,
     same_as=f"Task/{S03_WF}")
_s03_variants = {  # how the receiver's client wrote some of them
    "patient": "Patient?_include=Patient:general-practitioner",
    "coverage": "Coverage?_include=Coverage:payor:Organization&_include=Coverage:payor:Patient",
    "treatment": "Consent?category=http://snomed.info/sct%7C11291000146105",
    "meduse": "MedicationStatement?category=urn%3Aoid%3A2.16.840.1.113883.2.4.3.11.60.20.77.5.3%7C6&_include=MedicationStatement%3Amedication",
    "bloodpressure": "https://fhir.amstelrade.example/fhir/Observation/$lastn?code=http%3a%2f%2floinc.org%7c85354-9",
}
for i, s in enumerate(S03_SECTIONS):
    ok(s03, f"2026-11-19T09:05:{8 + i * 3:02d}.250Z", _s03_variants.get(s, q_of(s)), same_as=q_of(s))
# expected: none

# --- S04 healthy, shaped like the bgz-referral appendix: identifier as an object (rfc4122 system),
# Task.code with the `.../TaskCodes` typo, get-workflow-task typed with that typo too, a
# placeholder parameter system on authorization-base; BSN only via the Workflow Task ------------
S04_WF = "bgz-verwijzing-" + uid("S04", "wf")[:8]
s04 = N("S04", C, R1, "2026-11-19T09:30:00Z", "2026-12-03T10:30:00+01:00", [
    auth_base("S04", TASKPARAM_PLACEHOLDER), get_wf(TASKCODE_TYPO)],
    based_on=S04_WF, id_system=RFC4122, identifier_object=True, code_system=TASKCODE_TYPO)
s04_wf = workflow_task(S04_WF, C, R1, "2026-11-19T09:29:00Z", "2026-12-03T10:30:00+01:00", "in-progress",
                       P[4], "Patient/waterland-c-1187",
                       [section("patient"), section("problems"), section("allergies"), section("functional")],
                       "S04")
sent_notify(s04, "2026-11-19T09:30:05Z", 201, bsn_in_assertion=False)
recv_notify(s04, "2026-11-19T09:30:05.801Z")
pull(s04, "2026-11-19T09:30:11.000Z", "get-workflow-task", f"Task/{S04_WF}", 200, body=s04_wf)
ok(s04, "2026-11-19T09:30:12.100Z", q_of("patient"))
ok(s04, "2026-11-19T09:30:12.800Z", q_of("problems"))
ok(s04, "2026-11-19T09:30:13.300Z", q_of("allergies"))
ok(s04, "2026-11-19T09:30:14.050Z",
   "Observation/%24lastn?category=http%3A%2F%2Fsnomed.info%2Fsct%7C118228005,http%3A%2F%2Fsnomed.info%2Fsct%7C384821006",
   same_as=q_of("functional"))
expect("task-code-system-nonstandard", notification=s04.key)

# --- S05 healthy although the sender saw a timeout: the sender's notify got no answer, but the
# receiver did log it (and pulled). Not undelivered: the receiver logged the notify ---------------
s05 = N("S05", B, R1, "2026-11-19T10:49:50Z", "2026-11-26T11:49:50+01:00", [
    auth_base("S05"),
    search("Observation?code=http://loinc.org%7C2345-7&date=ge2026-11-01"),
    search("MedicationRequest?status=active"),
    read("Patient/delinde-22d0e1"),
])
sent_notify(s05, "2026-11-19T10:50:00Z", None, error="timeout after 30s",
            bsn_in_assertion=True, assertion_bsn=P[5])
recv_notify(s05, "2026-11-19T10:50:27.114Z")
ok(s05, "2026-11-19T10:50:31.000Z", "Observation?code=http://loinc.org%7C2345-7&date=ge2026-11-01")
ok(s05, "2026-11-19T10:50:31.700Z", "MedicationRequest?status=active")
ok(s05, "2026-11-19T10:50:32.300Z", "Patient/delinde-22d0e1")
# expected: none

# --- S06 healthy, from pharmacy D, which appears only in the received log: the sent log does not
# cover D, so this is NOT notification-unknown-to-sender. No authoredOn. ------------------------
s06 = N("S06", D, R2, None, "2026-12-03T12:20:00+01:00", [
    auth_base("S06"),
    section("meduse"),
    section("medagree"),
    search("MedicationDispense?category=http%3A%2F%2Fsnomed.info%2Fsct%7C422037009&_include=MedicationDispense:medication"),
], bsn=P[6])
recv_notify(s06, "2026-11-19T11:20:00.250Z")
ok(s06, "2026-11-19T11:20:04.000Z",
   "MedicationStatement?category=urn:oid:2.16.840.1.113883.2.4.3.11.60.20.77.5.3%7C6&_include=MedicationStatement:medication",
   same_as=q_of("meduse"))
ok(s06, "2026-11-19T11:20:04.800Z", q_of("medagree"))
ok(s06, "2026-11-19T11:20:05.500Z",
   "MedicationDispense?category=http://snomed.info/sct%7C422037009&_include=MedicationDispense:medication",
   same_as="MedicationDispense?category=http%3A%2F%2Fsnomed.info%2Fsct%7C422037009&_include=MedicationDispense:medication")
# expected: none

# --- G1 a group with two updates (discharge summary draft -> revised -> final). All three
# delivered; only the current (newest) one is pulled completely. The outstanding requests of the
# superseded ones (G1a: 2 never pulled, G1b: one 503 and one never pulled) are no finding ---------
g1a = N("G1a", A, R1, "2026-11-19T07:30:00Z", "2026-11-26T08:30:00+01:00", [
    auth_base("G1a"),
    search("Condition?clinical-status=active"),
    search("Observation?category=laboratory&date=ge2026-11-12"),
    read("DocumentReference/amstelrade-ontslag-concept-5521"),
], group="G1", bsn=P[7])
g1b = N("G1b", A, R1, "2026-11-19T09:15:00Z", "2026-11-26T10:15:00+01:00", [
    auth_base("G1b"),
    search("Condition?clinical-status=active"),
    search("Observation?category=laboratory&date=ge2026-11-12"),
    read("DocumentReference/amstelrade-ontslag-concept-5522"),
    search("AllergyIntolerance?clinical-status=active"),
], group="G1", bsn=P[7])
g1c = N("G1c", A, R1, "2026-11-19T11:40:00Z", "2026-11-26T12:40:00+01:00", [
    auth_base("G1c"),
    search("Condition?clinical-status=active"),
    search("Observation?category=laboratory&date=ge2026-11-12"),
    read("DocumentReference/amstelrade-ontslagbrief-5530"),
    search("AllergyIntolerance?clinical-status=active"),
    search("MedicationRequest?status=active&_include=MedicationRequest:medication"),
], group="G1", bsn=P[7])
sent_notify(g1a, "2026-11-19T07:30:10Z", 201, bsn_in_assertion=True)
recv_notify(g1a, "2026-11-19T07:30:10.480Z")
ok(g1a, "2026-11-19T07:30:15.000Z", "Condition?clinical-status=active")
sent_notify(g1b, "2026-11-19T09:15:08Z", 201, bsn_in_assertion=True)
recv_notify(g1b, "2026-11-19T09:15:08.390Z")
ok(g1b, "2026-11-19T09:15:12.000Z", "Condition?clinical-status=active")
pull(g1b, "2026-11-19T09:15:12.600Z", "search", "Observation?category=laboratory&date=ge2026-11-12", 503,
     error="Service Unavailable")
ok(g1b, "2026-11-19T09:15:13.100Z", "DocumentReference/amstelrade-ontslag-concept-5522")
sent_notify(g1c, "2026-11-19T11:40:09Z", 201, bsn_in_assertion=True)
recv_notify(g1c, "2026-11-19T11:40:09.902Z")
ok(g1c, "2026-11-19T11:40:14.000Z", "Condition?clinical-status=active")
pull(g1c, "2026-11-19T11:40:14.500Z", "search", "Observation?category=laboratory&date=ge2026-11-12", 503,
     error="Service Unavailable")
ok(g1c, "2026-11-19T11:40:15.000Z", "DocumentReference/amstelrade-ontslagbrief-5530")
ok(g1c, "2026-11-19T11:40:15.600Z", "AllergyIntolerance?clinical-status=active")
ok(g1c, "2026-11-19T11:40:16.200Z", "MedicationRequest?status=active&_include=MedicationRequest:medication")
ok(g1c, "2026-11-19T11:45:14.500Z", "Observation?category=laboratory&date=ge2026-11-12")  # retry succeeded
# expected: none

# --- G2 group order is by authoredOn, not by send time: G2a (authored 10:00) sat in the sender's
# queue and went out at 10:40, after its update G2b (authored 10:20, sent 10:25). G2b is current
# and fully pulled; the receiver rightly ignored the late, older G2a. No finding. ---------------
G2_WEIGHT = "Observation?code=http://loinc.org%7C29463-7"
G2_HEIGHT = "Observation?code=http://loinc.org%7C8302-2"
g2a = N("G2a", B, R2, "2026-11-19T10:00:00Z", "2026-11-26T11:00:00+01:00", [
    auth_base("G2a"), search(G2_WEIGHT, "1.2"), read("Patient/delinde-90b7aa", "1.2")],
    group="G2", bsn=P[8])
g2b = N("G2b", B, R2, "2026-11-19T10:20:00Z", "2026-11-26T11:20:00+01:00", [
    auth_base("G2b"), search(G2_WEIGHT, "1.2"), search(G2_HEIGHT, "1.2"), read("Patient/delinde-90b7aa", "1.2")],
    group="G2", bsn=P[8])
sent_notify(g2b, "2026-11-19T10:25:00Z", 201, bsn_in_assertion=False)
recv_notify(g2b, "2026-11-19T10:25:00.700Z")
ok(g2b, "2026-11-19T10:25:04.000Z", G2_WEIGHT)
ok(g2b, "2026-11-19T10:25:04.600Z", G2_HEIGHT)
ok(g2b, "2026-11-19T10:25:05.100Z", "Patient/delinde-90b7aa")
sent_notify(g2a, "2026-11-19T10:40:00Z", 201, bsn_in_assertion=False)
recv_notify(g2a, "2026-11-19T10:40:00.650Z")
# expected: none

# --- G3 update-missed (current): G3a delivered and pulled; its update G3b got a 201 at the sender
# but the receiver never logged it. G3b is current, uncancelled, unexpired: replayable ---------------
g3a = N("G3a", C, R1, "2026-11-19T13:00:00Z", "2026-11-26T14:00:00+01:00", [
    auth_base("G3a"),
    search("Observation?code=http://snomed.info/sct%7C225552003"),
    search("CarePlan?status=active"),
], group="G3", bsn=P[9])
g3b = N("G3b", C, R1, "2026-11-19T14:10:00Z", "2026-11-26T15:10:00+01:00", [
    auth_base("G3b"),
    search("Observation?code=http://snomed.info/sct%7C225552003"),
    search("CarePlan?status=active"),
    read("DocumentReference/waterland-overdracht-3310"),
], group="G3", bsn=P[9])
sent_notify(g3a, "2026-11-19T13:00:04Z", 201, bsn_in_assertion=False)
recv_notify(g3a, "2026-11-19T13:00:04.300Z")
ok(g3a, "2026-11-19T13:00:09.000Z", "Observation?code=http://snomed.info/sct%7C225552003")
ok(g3a, "2026-11-19T13:00:09.700Z", "CarePlan?status=active")
sent_notify(g3b, "2026-11-19T14:10:03Z", 201, bsn_in_assertion=False)
expect("update-missed", notification=g3b.key, replayable=True)

# --- G4 update-missed (superseded): G4b got a 503 and was never logged; the sender then sent G4c,
# which was delivered and pulled. G4b is reported, but not replayable (superseded). BSN only in the
# assertion (with value) -------------------------------------------------------------------------
g4a = N("G4a", A, R2, "2026-11-19T08:10:00Z", "2026-11-26T09:10:00+01:00", [
    auth_base("G4a"), section("problems"), section("allergies")], group="G4", patient_ref="Patient/amstelrade-p-33190")
g4b = N("G4b", A, R2, "2026-11-19T09:40:00Z", "2026-11-26T10:40:00+01:00", [
    auth_base("G4b"), section("problems"), section("allergies"), section("vaccinations")],
    group="G4", patient_ref="Patient/amstelrade-p-33190")
g4c = N("G4c", A, R2, "2026-11-19T12:05:00Z", "2026-11-26T13:05:00+01:00", [
    auth_base("G4c"), section("problems"), section("allergies"), section("vaccinations"), section("alerts")],
    group="G4", patient_ref="Patient/amstelrade-p-33190")
sent_notify(g4a, "2026-11-19T08:10:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[10])
recv_notify(g4a, "2026-11-19T08:10:02.220Z")
ok(g4a, "2026-11-19T08:10:06.000Z", q_of("problems"))
ok(g4a, "2026-11-19T08:10:06.500Z", q_of("allergies"))
sent_notify(g4b, "2026-11-19T09:40:03Z", 503, error="Service Unavailable",
            bsn_in_assertion=True, assertion_bsn=P[10])
sent_notify(g4c, "2026-11-19T12:05:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[10])
recv_notify(g4c, "2026-11-19T12:05:02.310Z")
ok(g4c, "2026-11-19T12:05:06.000Z", q_of("problems"))
ok(g4c, "2026-11-19T12:05:06.400Z", q_of("allergies"))
ok(g4c, "2026-11-19T12:05:06.900Z", q_of("vaccinations"))
ok(g4c, "2026-11-19T12:05:07.300Z", q_of("alerts"))
expect("update-missed", notification=g4b.key, replayable=False)

# --- F01 notification-undelivered: two attempts, both 503, receiver logged nothing -------------
f01 = N("F01", B, R1, "2026-11-19T09:10:00Z", "2026-11-26T10:10:00+01:00", [
    auth_base("F01"),
    search("Observation?code=http://loinc.org%7C4548-4&_sort=-date"),
    search("MedicationStatement?status=active"),
])
sent_notify(f01, "2026-11-19T09:10:00Z", 503, error="Service Unavailable",
            bsn_in_assertion=True, assertion_bsn=P[11])
sent_notify(f01, "2026-11-19T09:25:00Z", 503, error="Service Unavailable",
            bsn_in_assertion=True, assertion_bsn=P[11])
expect("notification-undelivered", notification=f01.key, replayable=True)

# --- F02 notification-lost: the sender got a 201, the receiver logged nothing -----------------
f02 = N("F02", A, R2, "2026-11-19T10:05:00Z", "2026-11-26T11:05:00+01:00", [
    auth_base("F02"),
    search("Condition?clinical-status=active"),
    search("Procedure?date=ge2026-11-01"),
    read("DocumentReference/amstelrade-okverslag-77120"),
], bsn=P[12])
sent_notify(f02, "2026-11-19T10:05:02Z", 201, bsn_in_assertion=True)
expect("notification-lost", notification=f02.key, replayable=True)

# --- F03 notification-unknown-to-sender: a legacy system of De Linde (B), still on the early TA
# draft (R4-shaped `requester.identifier`, tanp code system), sends notifications the sent log does
# not record. B is covered by the sent log, so: warning. The tanp code system is not TaskCode: info.
f03 = N("F03", B, R1, "2026-11-19T11:02:00Z", "2026-11-26T12:02:00+01:00", [
    auth_base("F03", TANP_DRAFT),
    read("Observation/delinde-obs-5f1e", "1.2", TANP_DRAFT),
    section("documents"),
], bsn=P[13], r4=True, code_system=TANP_DRAFT)
recv_notify(f03, "2026-11-19T11:02:01.050Z")
ok(f03, "2026-11-19T11:02:05.000Z", "Observation/delinde-obs-5f1e")
ok(f03, "2026-11-19T11:02:05.600Z", "DocumentReference?status=current")
expect("notification-unknown-to-sender", notification=f03.key)
expect("task-code-system-nonstandard", notification=f03.key)

# --- F04 notification-duplicate: the sender's first attempt timed out (the receiver had stored it)
# and the sender retried; the receiver logged two notifies (different lines) -------------------------
f04 = N("F04", C, R2, "2026-11-19T10:12:00Z", "2026-11-26T11:12:00+01:00", [
    auth_base("F04"),
    search("Observation?code=http://snomed.info/sct%7C365980008"),
    search("Condition?clinical-status=active"),
], bsn=P[14])
sent_notify(f04, "2026-11-19T10:12:00Z", None, error="timeout after 30s", bsn_in_assertion=False)
recv_notify(f04, "2026-11-19T10:12:28.440Z")
sent_notify(f04, "2026-11-19T10:12:31Z", 201, bsn_in_assertion=False)
recv_notify(f04, "2026-11-19T10:12:31.520Z")
ok(f04, "2026-11-19T10:12:35.000Z", "Observation?code=http://snomed.info/sct%7C365980008")
ok(f04, "2026-11-19T10:12:35.600Z", "Condition?clinical-status=active")
expect("notification-duplicate", notification=f04.key)

# --- F05 notification-malformed: intent `order` instead of `proposal`. Otherwise fine. ---------
f05 = N("F05", A, R1, "2026-11-19T12:20:00Z", "2026-11-26T13:20:00+01:00", [
    auth_base("F05"),
    search("Immunization?status=completed"),
    read("Patient/amstelrade-p-61200"),
], bsn=P[15], intent="order")
sent_notify(f05, "2026-11-19T12:20:03Z", 201, bsn_in_assertion=False)
recv_notify(f05, "2026-11-19T12:20:03.410Z")
ok(f05, "2026-11-19T12:20:07.000Z", "Immunization?status=completed")
ok(f05, "2026-11-19T12:20:07.500Z", "Patient/amstelrade-p-61200")
expect("notification-malformed", notification=f05.key)

# --- F06 notification-malformed: no `code` at all (as in the bgz-referral appendix). Otherwise fine.
f06 = N("F06", B, R2, "2026-11-19T12:45:00Z", "2026-11-26T13:45:00+01:00", [
    auth_base("F06"),
    search("Observation?code=http://loinc.org%7C85354-9&_count=3", "1.2"),
    search("Condition?clinical-status=active", "1.2"),
], bsn=P[16], code_system=None)
sent_notify(f06, "2026-11-19T12:45:02Z", 201, bsn_in_assertion=True)
recv_notify(f06, "2026-11-19T12:45:02.300Z")
ok(f06, "2026-11-19T12:45:06.000Z", "Observation?code=http://loinc.org%7C85354-9&_count=3")
ok(f06, "2026-11-19T12:45:06.500Z", "Condition?clinical-status=active")
expect("notification-malformed", notification=f06.key)

# --- F07 cancelled cleanly: delivered, partly pulled, cancelled (delivered), nothing pulled after.
# It has no BSN by any route, and one request never succeeded: neither matters once cancelled. --
f07 = N("F07", A, R1, "2026-11-19T11:10:00Z", "2026-11-26T12:10:00+01:00", [
    auth_base("F07"),
    search("Condition?clinical-status=active"),
    search("Observation?category=vital-signs&date=ge2026-11-18"),
    read("DocumentReference/amstelrade-verwijsbrief-20113"),
], patient_ref="Patient/amstelrade-p-70021")
sent_notify(f07, "2026-11-19T11:10:02Z", 201, bsn_in_assertion=False)
recv_notify(f07, "2026-11-19T11:10:02.280Z")
ok(f07, "2026-11-19T11:10:06.000Z", "Condition?clinical-status=active")
ok(f07, "2026-11-19T11:10:06.700Z", "DocumentReference/amstelrade-verwijsbrief-20113")
sent_cancel(f07.ident, "2026-11-19T12:30:00Z", 200)
recv_cancel(f07.ident, "2026-11-19T12:30:00.800Z", 200)
# expected: none

# --- F08 pulled-after-cancellation: cancel delivered at 13:00, the receiver's work queue still
# pulled two requests at 13:04 (one answered 410, one 200): both count ---------------------------
F08_Y = "Observation?code=http://loinc.org%7C72166-2"
F08_Z = "DocumentReference/waterland-zorgplan-8812"
f08 = N("F08", C, R1, "2026-11-19T12:40:00Z", "2026-11-26T13:40:00+01:00", [
    auth_base("F08"),
    search("CarePlan?status=active"),
    search(F08_Y),
    read(F08_Z),
], bsn=P[17])
sent_notify(f08, "2026-11-19T12:40:03Z", 201, bsn_in_assertion=False)
recv_notify(f08, "2026-11-19T12:40:03.350Z")
ok(f08, "2026-11-19T12:40:10.000Z", "CarePlan?status=active")
sent_cancel(f08.ident, "2026-11-19T13:00:00Z", 200)
recv_cancel(f08.ident, "2026-11-19T13:00:00.400Z", 200)
pull(f08, "2026-11-19T13:04:10.000Z", "search", F08_Y, 410, error="Gone: notification cancelled", same_as=F08_Y)
ok(f08, "2026-11-19T13:04:12.000Z", F08_Z)
expect("pulled-after-cancellation", notification=f08.key, request=F08_Y)
expect("pulled-after-cancellation", notification=f08.key, request=F08_Z)

# --- F09 cancellation-undelivered: the sender's cancel got a 502, the receiver logged no cancel.
# Everything was pulled before; nothing after. ----------------------------------------------------
f09 = N("F09", B, R1, "2026-11-19T13:30:00Z", "2026-11-26T14:30:00+01:00", [
    auth_base("F09"),
    search("Observation?code=http://loinc.org%7C85354-9", "1.2"),
    read("Patient/delinde-c1d240", "1.2"),
], bsn=P[18])
sent_notify(f09, "2026-11-19T13:30:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[18])
recv_notify(f09, "2026-11-19T13:30:02.400Z")
ok(f09, "2026-11-19T13:30:06.000Z", "Observation?code=http://loinc.org%7C85354-9")
ok(f09, "2026-11-19T13:30:06.600Z", "Patient/delinde-c1d240")
sent_cancel(f09.ident, "2026-11-19T15:00:00Z", 502, error="Bad Gateway")
expect("cancellation-undelivered", notification=f09.key)

# --- F10 cancellation-unmatched: Amstelrade's cancel names S01's *groupIdentifier* instead of its
# identifier. The receiver answered 404 (and logged the cancel). S01 itself is not cancelled. -----
sent_cancel(s01.group, "2026-11-19T16:20:00Z", 404, error="No Task with this identifier")
recv_cancel(s01.group, "2026-11-19T16:20:00.300Z", 404, error="No Task with this identifier")
expect("cancellation-unmatched", notification=s01.group_key)

# --- F11 a cancel in flight: delivered at 21:00 and partly pulled, no BSN by any route, cancelled
# by the sender at 04:52:30, which the receiver has not logged yet. Cancelled (a sent-log cancel
# counts), so no bsn-unavailable and no pull finding; the cancel is younger than grace, so no
# cancellation-undelivered either -----------------------------------------------------------------
f11 = N("F11", C, R2, "2026-11-19T21:00:00Z", "2026-11-26T22:00:00+01:00", [
    auth_base("F11"),
    search("Condition?clinical-status=active"),
    search("Observation?code=http://snomed.info/sct%7C228273003"),
], patient_ref="Patient/waterland-c-4410")
sent_notify(f11, "2026-11-19T21:00:02Z", 201, bsn_in_assertion=False)
recv_notify(f11, "2026-11-19T21:00:02.330Z")
ok(f11, "2026-11-19T21:00:07.000Z", "Condition?clinical-status=active")
sent_cancel(f11.ident, "2026-11-20T04:52:30Z", 200)
# expected: none

# --- F12 workflow-task-reference-missing: get-workflow-task true, but no basedOn -------------
f12 = N("F12", B, R2, "2026-11-19T14:30:00Z", "2026-11-26T15:30:00+01:00", [
    auth_base("F12"), get_wf()])
sent_notify(f12, "2026-11-19T14:30:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[19])
recv_notify(f12, "2026-11-19T14:30:02.290Z")
expect("workflow-task-reference-missing", notification=f12.key)

# --- F13 pull-failed x3 (503 three times; 404; no answer "timeout" twice), one search fine.
# The end is a date without time, "2026-11-20": the end of that day, so NOT expired at as_of. ----
F13_LAB = "Observation?category=http://snomed.info/sct%7C275711006&_include=Observation:specimen"
F13_DOC = "DocumentReference/amstelrade-brief-88213"
F13_IMG = "ImagingStudy?started=ge2026-11-01"
f13 = N("F13", A, R1, "2026-11-19T15:00:00Z", "2026-11-20", [
    auth_base("F13"),
    search("Observation?category=http%3A%2F%2Fsnomed.info%2Fsct%7C275711006&_include=Observation:specimen"),
    read(F13_DOC),
    search(F13_IMG),
    search("Condition?clinical-status=active"),
], bsn=P[20])
assert canon(f13.task["input"][1]["valueString"]) == F13_LAB
sent_notify(f13, "2026-11-19T15:00:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[20])
recv_notify(f13, "2026-11-19T15:00:02.380Z")
for t in ("15:00:10", "15:05:10", "15:20:10"):
    pull(f13, f"2026-11-19T{t}Z", "search", F13_LAB, 503, error="Service Unavailable",
         same_as=f13.task["input"][1]["valueString"])
pull(f13, "2026-11-19T15:00:11Z", "read", F13_DOC, 404, error="OperationOutcome: resource not found")
for t in ("15:00:12", "15:30:12"):
    pull(f13, f"2026-11-19T{t}Z", "search", F13_IMG, None, error="timeout after 30s")
ok(f13, "2026-11-19T15:00:13Z", "Condition?clinical-status=active")
expect("pull-failed", notification=f13.key, request=F13_LAB, replayable=True)
expect("pull-failed", notification=f13.key, request=F13_DOC, replayable=True)
expect("pull-failed", notification=f13.key, request=F13_IMG, replayable=True)

# --- F14 the Workflow Task could not be fetched (503, then no answer): pull-failed for it, and as
# its body never came, the BSN it would carry is unknown: bsn-unavailable ------------------------
F14_WF = "verwijzing-" + uid("F14", "wf")[:8]
f14 = N("F14", B, R1, "2026-11-19T16:00:00Z", "2026-11-26T17:00:00+01:00", [
    auth_base("F14"), get_wf()], based_on=F14_WF)
sent_notify(f14, "2026-11-19T16:00:02Z", 201, bsn_in_assertion=False)
recv_notify(f14, "2026-11-19T16:00:02.260Z")
pull(f14, "2026-11-19T16:00:06Z", "get-workflow-task", f"Task/{F14_WF}", 503, error="Service Unavailable")
pull(f14, "2026-11-19T16:10:06Z", "get-workflow-task", f"Task/{F14_WF}", None, error="timeout after 30s")
expect("pull-failed", notification=f14.key, request=f"Task/{F14_WF}", replayable=True)
expect("bsn-unavailable", notification=f14.key)

# --- F15 pull-missing x2: the Workflow Task was never fetched, and one search was pulled with its
# parameters in another order (order is kept in normalisation, so that is a different request and
# the expected one was never attempted). The end is a template placeholder: no expiry. ----------
F15_WF = "verwijzing-" + uid("F15", "wf")[:8]
F15_MED = "MedicationRequest?category=http://snomed.info/sct%7C16076005&_include=MedicationRequest:medication"
F15_MED_REORDERED = "MedicationRequest?_include=MedicationRequest:medication&category=http://snomed.info/sct%7C16076005"
f15 = N("F15", C, R1, "2026-11-19T16:40:00Z", "<<Nuts Authorization Credential expiration date>>", [
    auth_base("F15"), get_wf(),
    search(F15_MED),
    search("Condition?clinical-status=active"),
], based_on=F15_WF, bsn=P[21])
sent_notify(f15, "2026-11-19T16:40:02Z", 201, bsn_in_assertion=False)
recv_notify(f15, "2026-11-19T16:40:02.310Z")
pull(f15, "2026-11-19T16:40:06Z", "search", F15_MED_REORDERED, 200, differs_from=F15_MED)
ok(f15, "2026-11-19T16:40:06.600Z", "Condition?clinical-status=active")
expect("pull-missing", notification=f15.key, request=F15_MED, replayable=True)
expect("pull-missing", notification=f15.key, request=f"Task/{F15_WF}", replayable=True)

# --- F17 pull-missing from a Workflow Task that is no longer active: the receiver fetched the
# Workflow Task, saw status `completed` and (rightly) did not pull its inputs. Still reported, but
# not replayable. BSN in both the Notification Task and the Workflow Task (same). ---------------
F17_WF = "verwijzing-" + uid("F17", "wf")[:8]
F17_BP = "Observation/$lastn?code=http://loinc.org%7C85354-9"
F17_W = "Observation/$lastn?code=http://loinc.org%7C29463-7"
f17 = N("F17", B, R1, "2026-11-19T17:10:00Z", "2026-11-26T18:10:00+01:00", [
    auth_base("F17"), get_wf()], based_on=F17_WF, bsn=P[22])
f17_wf = workflow_task(F17_WF, B, R1, "2026-11-19T17:09:00Z", "2026-11-26T18:10:00+01:00", "completed",
                       P[22], "Patient/delinde-5e0f11",
                       [section("bloodpressure", F17_BP), section("weight", F17_W)], "F17")
sent_notify(f17, "2026-11-19T17:10:02Z", 201, bsn_in_assertion=False)
recv_notify(f17, "2026-11-19T17:10:02.270Z")
pull(f17, "2026-11-19T17:10:06Z", "get-workflow-task", f"Task/{F17_WF}", 200, body=f17_wf)
expect("pull-missing", notification=f17.key, request=F17_BP, replayable=False)
expect("pull-missing", notification=f17.key, request=F17_W, replayable=False)

# --- F18 pull-missing where the only pull of the request is AFTER as_of (05:20Z) and must be
# ignored. Inputs are BgZ-section-coded on the Notification Task itself. ------------------------
f18 = N("F18", C, R2, "2026-11-19T22:10:00Z", "2026-11-26T23:10:00+01:00", [
    auth_base("F18"),
    section("problems"),
    section("alerts"),
    section("vaccinations"),
    section("allergies"),
], bsn=P[23])
sent_notify(f18, "2026-11-19T22:10:00Z", 201, bsn_in_assertion=False)
recv_notify(f18, "2026-11-19T22:10:01.120Z")
ok(f18, "2026-11-19T22:10:20Z", "Condition")
ok(f18, "2026-11-19T22:10:30Z", "Flag")
ok(f18, "2026-11-19T22:10:40Z", "Immunization?status=completed")
ok(f18, "2026-11-20T05:20:00Z", "AllergyIntolerance")  # after as_of: ignored
expect("pull-missing", notification=f18.key, request="AllergyIntolerance", replayable=True)

# --- F19 pull-expired x2: a week-old notification (7-day expiry, ended 2026-11-19 09:00Z). One
# request failed (503) and was never retried, one was never attempted. -------------------------
F19_PROC = "Procedure?category=http://snomed.info/sct%7C387713003"
F19_ENC = "Encounter?class=http://hl7.org/fhir/v3/ActCode%7CIMP"
f19 = N("F19", A, R2, "2026-11-12T09:00:00Z", "2026-11-19T10:00:00+01:00", [
    auth_base("F19"),
    search("Condition?clinical-status=active"),
    search(F19_PROC),
    search(F19_ENC),
], patient_ref="Patient/amstelrade-p-11872")
sent_notify(f19, "2026-11-12T09:00:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[24])
recv_notify(f19, "2026-11-12T09:00:02.410Z")
ok(f19, "2026-11-12T09:00:06Z", "Condition?clinical-status=active")
pull(f19, "2026-11-12T09:00:06.600Z", "search", F19_PROC, 503, error="Service Unavailable")
expect("pull-expired", notification=f19.key, request=F19_PROC)
expect("pull-expired", notification=f19.key, request=F19_ENC)

# --- F20 bsn-unavailable: no BSN in the Task, none in the assertion, no Workflow Task --------
f20 = N("F20", C, R2, "2026-11-19T15:45:00Z", "2026-11-26T16:45:00+01:00", [
    auth_base("F20"),
    search("Condition?clinical-status=active"),
    search("MedicationStatement?status=active"),
], patient_ref="Patient/waterland-c-20931")
sent_notify(f20, "2026-11-19T15:45:02Z", 201, bsn_in_assertion=False)
recv_notify(f20, "2026-11-19T15:45:02.200Z")
ok(f20, "2026-11-19T15:45:06Z", "Condition?clinical-status=active")
ok(f20, "2026-11-19T15:45:06.500Z", "MedicationStatement?status=active")
expect("bsn-unavailable", notification=f20.key)

# --- F21 bsn-invalid: 123456789 in the Task `for` (fails the elfproef); the only route ------
f21 = N("F21", B, R1, "2026-11-19T17:40:00Z", "2026-11-26T18:40:00+01:00", [
    auth_base("F21"), search("Condition?clinical-status=active", "1.2")], bsn=BSN_INVALID)
sent_notify(f21, "2026-11-19T17:40:02Z", 201, bsn_in_assertion=False)
recv_notify(f21, "2026-11-19T17:40:02.250Z")
ok(f21, "2026-11-19T17:40:06Z", "Condition?clinical-status=active")
expect("bsn-invalid", notification=f21.key)

# --- F22 bsn-invalid: the sender logged the assertion BSN as a number, dropping the leading zero
# (012345672 -> "12345672", 8 digits); the only route --------------------------------------------
f22 = N("F22", A, R2, "2026-11-19T18:05:00Z", "2026-11-26T19:05:00+01:00", [
    auth_base("F22"), search("AllergyIntolerance?clinical-status=active")],
    patient_ref="Patient/amstelrade-p-00457")
sent_notify(f22, "2026-11-19T18:05:02Z", 201, bsn_in_assertion=True, assertion_bsn=BSN_TRUNCATED)
recv_notify(f22, "2026-11-19T18:05:02.240Z")
ok(f22, "2026-11-19T18:05:06Z", "AllergyIntolerance?clinical-status=active")
expect("bsn-invalid", notification=f22.key)

# --- F23 bsn-mismatch: Task `for` and the assertion carry different (valid) BSNs -----------
f23 = N("F23", C, R1, "2026-11-19T18:30:00Z", "2026-11-26T19:30:00+01:00", [
    auth_base("F23"), search("CarePlan?status=active"), search("Condition?clinical-status=active")],
    bsn=P[25])
sent_notify(f23, "2026-11-19T18:30:02Z", 201, bsn_in_assertion=True, assertion_bsn=P[26])
recv_notify(f23, "2026-11-19T18:30:02.230Z")
ok(f23, "2026-11-19T18:30:06Z", "CarePlan?status=active")
ok(f23, "2026-11-19T18:30:06.500Z", "Condition?clinical-status=active")
expect("bsn-mismatch", notification=f23.key)

# --- F24 bsn-mismatch: Notification Task `for` and Workflow Task `for` differ; all pulled ----
F24_WF = "bgz-verwijzing-" + uid("F24", "wf")[:8]
f24 = N("F24", A, R2, "2026-11-19T19:00:00Z", "2026-11-26T20:00:00+01:00", [
    auth_base("F24"), get_wf()], based_on=F24_WF, bsn=P[27])
f24_wf = workflow_task(F24_WF, A, R2, "2026-11-19T18:59:00Z", "2026-11-26T20:00:00+01:00", "requested",
                       P[28], "Patient/amstelrade-p-50031", [section("patient"), section("problems")], "F24")
sent_notify(f24, "2026-11-19T19:00:02Z", 201, bsn_in_assertion=True)
recv_notify(f24, "2026-11-19T19:00:02.260Z")
pull(f24, "2026-11-19T19:00:06Z", "get-workflow-task", f"Task/{F24_WF}", 200, body=f24_wf)
ok(f24, "2026-11-19T19:00:07Z", q_of("patient"))
ok(f24, "2026-11-19T19:00:07.500Z", q_of("problems"))
expect("bsn-mismatch", notification=f24.key)

# --- F25 in flight: sent at 04:55:10 (201), not yet in the receiver's log: younger than grace,
# not judged. Has a BSN, so no bsn-unavailable either. -------------------------------------------
f25 = N("F25", A, R1, "2026-11-20T04:55:00Z", "2026-11-27T05:55:00+01:00", [
    auth_base("F25"), search("Condition?clinical-status=active")], bsn=P[29])
sent_notify(f25, "2026-11-20T04:55:10Z", 201, bsn_in_assertion=True)
# expected: none

# --- F26 in flight: received at 04:50:01, nothing pulled yet: receipt younger than grace, so no
# pull-missing --------------------------------------------------------------------------------------
f26 = N("F26", B, R2, "2026-11-20T04:49:50Z", "2026-11-27T05:49:50+01:00", [
    auth_base("F26"),
    search("Observation?code=http://loinc.org%7C85354-9", "1.2"),
    read("Patient/delinde-8a1b07", "1.2"),
], bsn=P[30])
sent_notify(f26, "2026-11-20T04:49:58Z", 201, bsn_in_assertion=False)
recv_notify(f26, "2026-11-20T04:50:01.180Z")
# expected: none

# --- F27 before the lookback window (2026-10-01): must be ignored. Were it read, it would be
# notification-lost (the receiver never logged it). ----------------------------------------------
f27 = N("F27", A, R1, "2026-10-01T09:00:00Z", "2026-10-08T10:00:00+02:00", [
    auth_base("F27"), search("Condition?clinical-status=active")], bsn=P[1])
sent_notify(f27, "2026-10-01T09:00:02Z", 201, bsn_in_assertion=False)
NOTIFS.remove(f27)  # not counted as a notification of this run
# expected: none

# =============================================================================================
# PUSH stories. Sent push log covers A, B, C; E (a lab) only appears in the received push log.
# =============================================================================================


def msg(label: str) -> str:
    return "urn:uuid:" + uid("push", label)


# P1 accepted within the SLA
push("sent", "2026-11-19T08:00:00Z", "push", msg("P1"), A, R1)
push("recv", "2026-11-19T08:00:01Z", "push", msg("P1"), A, R1)
push("recv", "2026-11-19T08:45:00Z", "push-processed", msg("P1"), A, R1, status=None, outcome="accepted")
# P2 rejected within the SLA (a rejection is processing: no finding)
push("sent", "2026-11-19T09:30:00Z", "push", msg("P2"), B, R2)
push("recv", "2026-11-19T09:30:01Z", "push", msg("P2"), B, R2)
push("recv", "2026-11-19T10:10:00Z", "push-processed", msg("P2"), B, R2, status=None, outcome="rejected")
# P3 push-undelivered: the sender got a 201 but the receiver never logged it
push("sent", "2026-11-19T12:00:00Z", "push", msg("P3"), C, R1)
expect("push-undelivered", message=msg("P3"))
# P4 push-undelivered: no answer at all
push("sent", "2026-11-19T15:30:00Z", "push", msg("P4"), A, R2, status=None, error="connect timeout")
expect("push-undelivered", message=msg("P4"))
# P5 in flight: sent 04:50 on the 20th, not yet logged by the receiver: younger than grace
push("sent", "2026-11-20T04:50:00Z", "push", msg("P5"), A, R2)
# P6 push-unprocessed: received 2026-11-18 07:30, never processed
push("sent", "2026-11-18T07:30:00Z", "push", msg("P6"), A, R1)
push("recv", "2026-11-18T07:30:02Z", "push", msg("P6"), A, R1)
expect("push-unprocessed", message=msg("P6"))
# P7 push-unprocessed (late): received 2026-11-18 16:00:01, processed 2026-11-19 18:30 (> 24h)
push("sent", "2026-11-18T16:00:00Z", "push", msg("P7"), B, R1)
push("recv", "2026-11-18T16:00:01Z", "push", msg("P7"), B, R1)
push("recv", "2026-11-19T18:30:00Z", "push-processed", msg("P7"), B, R1, status=None, outcome="accepted")
expect("push-unprocessed", message=msg("P7"))
# P8 received 2026-11-19 10:00:01, not processed yet, but the SLA runs until 2026-11-20 10:00:01
push("sent", "2026-11-19T10:00:00Z", "push", msg("P8"), C, R2)
push("recv", "2026-11-19T10:00:01Z", "push", msg("P8"), C, R2)
# P9 processed exactly at receipt + 24h: "at or before t + SLA": no finding
push("sent", "2026-11-18T10:59:59Z", "push", msg("P9"), C, R1)
push("recv", "2026-11-18T11:00:00Z", "push", msg("P9"), C, R1)
push("recv", "2026-11-19T11:00:00Z", "push-processed", msg("P9"), C, R1, status=None, outcome="accepted")
# P10 push-unknown-to-sender: received from B (covered by the sent push log), absent from it
push("recv", "2026-11-19T13:15:00Z", "push", msg("P10"), B, R2)
push("recv", "2026-11-19T13:40:00Z", "push-processed", msg("P10"), B, R2, status=None, outcome="accepted")
expect("push-unknown-to-sender", message=msg("P10"))
# P11 received from lab E, which the sent push log does not cover: no finding
push("recv", "2026-11-19T09:05:00Z", "push", msg("P11"), E, R2)
push("recv", "2026-11-19T09:30:00Z", "push-processed", msg("P11"), E, R2, status=None, outcome="accepted")


# =============================================================================================
# Writing
# =============================================================================================
def _sorted(lst):
    return [ev for _, _, ev in sorted(lst, key=lambda x: (x[0], x[1]))]


def _line(ev: dict) -> str:
    return json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    cols = ["ts", "interaction", "status", "error", "message", "sender", "receiver", "outcome"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _expected_sorted() -> list[dict]:
    def k(f):
        return (f["category"], f["notification"] or "", f["message"] or "", f["request"] or "")
    keys = [k(f) for f in EXPECTED]
    assert len(keys) == len(set(keys)), "duplicate expected finding"
    return sorted(EXPECTED, key=k)


BAD_PULL_LINES = [
    # a timestamp without UTC offset
    '{"ts":"2026-11-19T16:00:00","interaction":"read","status":200,'
    '"notification":"urn:ietf:rfc:3986|urn:uuid:00000000-0000-4000-8000-00000000bad1",'
    '"request":"Patient/bad-1"}\n',
    # a line cut off by a full disk
    '{"ts":"2026-11-19T16:01:00Z","interaction":"search","status":200,"notifica\n',
    # an interaction the contract does not know
    '{"ts":"2026-11-19T16:02:00Z","interaction":"fetch","status":200,'
    '"notification":"urn:ietf:rfc:3986|urn:uuid:00000000-0000-4000-8000-00000000bad3",'
    '"request":"Patient/bad-3"}\n',
]


def main() -> None:
    for sub in ("sent", "received"):
        (OUT / sub).mkdir(parents=True, exist_ok=True)

    sent_text = "".join(_line(ev) for ev in _sorted(SENT))
    (OUT / "sent" / "notified-pull-2026-11-19.ndjson").write_text(sent_text, encoding="utf-8")

    recv_lines = [_line(ev) for ev in _sorted(RECV)]
    recv_lines += [_line(ev) for ev in RECV_REPLAYED_TAIL]  # byte-identical repeats
    raw = "".join(recv_lines).encode("utf-8")
    with open(OUT / "received" / "notified-pull-2026-11-19.ndjson.gz", "wb") as fh:
        with gzip.GzipFile(filename="notified-pull-2026-11-19.ndjson", mode="wb", fileobj=fh,
                           compresslevel=9, mtime=0) as gz:
            gz.write(raw)

    pulls_text = "".join(_line(ev) for ev in _sorted(PULLS))
    # Three lines a real log gets wrong; each must land in the `rejects` table (file, line,
    # reason; never the content) and change no finding.
    pulls_text += "".join(BAD_PULL_LINES)
    (OUT / "received" / "pulls-2026-11-19.ndjson").write_text(pulls_text, encoding="utf-8")

    (OUT / "sent" / "push-2026-11-19.csv").write_text(_csv(_sorted(SENT_PUSH)), encoding="utf-8")
    (OUT / "received" / "push-2026-11-19.csv").write_text(_csv(_sorted(RECV_PUSH)), encoding="utf-8")

    expected = _expected_sorted()
    (OUT / "expected-findings.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    print(f"notifications in the run window: {len(NOTIFS)}")
    print(f"sent notify/cancel lines:        {len(SENT)}")
    print(f"received notify/cancel lines:    {len(recv_lines)}")
    print(f"received pull lines:             {len(PULLS)}")
    print(f"sent push rows:                  {len(SENT_PUSH)}")
    print(f"received push rows:              {len(RECV_PUSH)}")
    print(f"expected findings:               {len(expected)}")


def list_stories() -> None:
    """`--list`: the identifier of each story's notification (and the push message ids)."""
    for n in NOTIFS:
        print(f"{n.label:4s} {n.key}")
    print(f"F10  {s01.group_key}  (cancel target: S01's groupIdentifier)")
    for i in range(1, 12):
        print(f"P{i:<3d} {msg(f'P{i}')}")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--list"]:
        list_stories()
    else:
        main()
