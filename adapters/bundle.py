"""The inquiry bundle for one case (`complaints bundle REF --output DIR`): what the Housing Ombudsman asks for, from
the ledger alone.

- case.html: the chronology a person reads (every event with its business date, when it was recorded and by whom),
  each stage's deadlines met or late in working days, extensions with their reasons, decisions and remedies,
  compensation, learning. Self-contained, and it prints cleanly.
- case.json: the same, for machines.
- policy.toml: the profile the case was received under, exactly (its content hash is in the file and the case).
- integrity.json: every event's hash and link, the case's chain head, whether it verifies now, and how to check it
  independently.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..domain.complaint import AUTHORITY_EVENTS, complaint_id, event_words
from ..domain.ledger import event_view
from ..domain.values import LOCAL, fmt_pounds, json_default
from ..domain.vocabulary import TENURE_WORDS
from . import audit, policy_files

FILES = ("case.html", "case.json", "policy.toml", "integrity.json")


def build(ledger: Any, ref: str, as_of: date) -> dict[str, Any]:
    """Everything the bundle states, as plain data (case.json)."""
    view = ledger.show(ref, as_of=as_of)
    ref = view["ref"]  # as the ledger writes it (the user may type it in lower case)
    events = ledger.case_events(ref)
    policy = ledger.policy_by_hash(view["policy_hash"])
    chronology = []
    roles = ledger.roles_at([(e.actor, e.timestamp) for e in events])
    for e, held in zip(events, roles):
        entry = event_view(e)
        entry["description"] = describe(entry)
        entry["actor_roles"] = held  # as the staff directory stood when it was recorded (None: not in it)
        entry["authenticated"] = authenticated(entry)
        chronology.append(entry)
    extensions = []
    for s in view["stages"]:
        for x in s["extensions"]:
            extensions.append({"stage": s["stage"], "working_days": x["working_days"], "reason": x["reason"],
                               "agreed": x.get("agreed"), "recorded_on": x["occurred_on"],
                               "ombudsman_details_given": x.get("ombudsman_details_given")})
    compensation_steps = [c for c in chronology if c["event"].startswith("Compensation")]
    corrections = [c for c in chronology if c["event"] == "Corrected"]
    return {
        "ref": view["ref"],
        "as_of": as_of,
        "case": view,
        "policy": {"name": policy.name, "version": policy.version, "title": policy.title,
                   "content_hash": policy.content_hash},
        "chronology": chronology,
        "deadlines": view["deadlines"],
        "timescales": view["timescales"],  # each response against the landlord's deadline and the Code's
        "extensions": extensions,
        "decisions": [{"stage": s["stage"], "name": s["name"], "outcome": s["outcome"],
                       "responded_on": s["responded_on"], "summary": s["response_summary"],
                       "remedies": s["remedies"]} for s in view["stages"] if s["outcome"]],
        "compensation": {"totals": view["compensation"], "steps": compensation_steps},
        "learning": view["learning"],
        "ombudsman": view["ombudsman"],  # evidence requests and orders, each with due and done dates, late or not
        "corrections": corrections,
        "integrity": integrity(ledger, ref),
    }


def authenticated(entry: dict[str, Any]) -> bool | None:
    """For a decision needing authority: whether the database vouched for who took it (a login, not a typed name;
    stored before this was recorded counts as typed). None for every other event."""
    if entry["event"] not in AUTHORITY_EVENTS:
        return None
    return entry["details"].get("authenticated") is True


def integrity(ledger: Any, ref: str) -> dict[str, Any]:
    originator_id = complaint_id(ref)
    links = audit.case_links(ledger.recorder, originator_id)
    found = audit.verify(ledger.recorder, originator_id)
    head = links[-1] if links else None
    return {
        "ref": ref,
        "aggregate_id": str(originator_id),
        "verified": not found.breaks,
        "breaks": [b.line() for b in found.breaks],
        "head": {"version": head["version"], "hash": head["hash"]} if head else None,
        "events": links,
        "how_to_verify": [
            f"Run `complaints verify {ref}` against the ledger: it recomputes this chain and checks the recorded head.",
            "Or by hand: each event's hash is SHA-256 over the aggregate id's 16 bytes, the version as 8 bytes "
            "big-endian, the event topic in UTF-8, one zero byte, and the event's stored bytes; each event's stored "
            "bytes begin with the 4 bytes 00 43 4C 31 and then the hash of the event before it (32 zero bytes for "
            "the first). The head here must equal the hash of the last event.",
            "To show the case has not changed since a digest was taken, run `complaints verify --against FILE`.",
        ],
    }


def describe(entry: dict[str, Any]) -> str:
    """One line a reader understands, for the chronology."""
    d, name = entry["details"], entry["event"]
    stage = f"stage {d['stage']}" if d.get("stage") else ""
    money = {k: fmt_pounds(Decimal(str(v))) for k, v in d.items() if k in ("amount", "offset", "compensation")
             and v is not None}
    texts = {
        "Received": f"Complaint received by {d.get('channel')}: {d.get('summary')}"
                    + (f" (imported from the landlord's earlier system: {d['source']})" if d.get("source") else ""),
        "Acknowledged": f"Acknowledged ({stage})",
        "Contacted": f"Contacted the complainant ({stage})" + (f": {d['summary']}" if d.get("summary") else ""),
        "Extended": (f"Response deadline ({stage}) extended by {d.get('working_days')} working days: "
                     f"{d.get('reason')}" + ("; agreed with the complainant" if d.get("agreed") else "")),
        "Responded": f"Stage 1 response: {d.get('outcome')}" + (f" — {d['summary']}" if d.get("summary") else ""),
        "Reviewed": f"{stage.capitalize()} review: {d.get('outcome')}" + (f" — {d['summary']}" if d.get("summary")
                                                                          else ""),
        "Escalated": f"Escalated to stage {d.get('to_stage')}" + (f": {d['reason']}" if d.get("reason") else ""),
        "Reopened": f"Case reopened ({stage}, closed on {d.get('closed_on')})",
        "LateEscalationAccepted": (f"Escalation accepted after the appeal window ({stage}; it closed on "
                                   f"{d.get('window_closed_on')}): {d.get('reason')}"),
        "Refused": f"Refused ({d.get('reason')}): {d.get('explanation')}",
        "ReferredToOmbudsman": "Referred to the Housing Ombudsman",
        "OmbudsmanDetermined": f"Ombudsman's determination: {d.get('finding')}"
                               + (f", compensation {money['compensation']}" if money.get("compensation") else ""),
        "OmbudsmanEvidenceRequested": f"The Housing Ombudsman requested evidence (request {d.get('number')}), due "
                                      f"{_day(d.get('due_on'))}",
        "OmbudsmanEvidenceSent": f"Evidence sent to the Housing Ombudsman (request {d.get('number')})",
        "OmbudsmanOrdered": f"Ombudsman's order {d.get('number')}, due {_day(d.get('due_on'))}: {d.get('text')}",
        "OmbudsmanOrderComplied": f"Complied with the Ombudsman's order {d.get('number')}"
                                  + (f": {d['evidence']}" if d.get("evidence") else ""),
        "CompensationRequested": f"Compensation requested: {money.get('amount', '')}",
        "CompensationApproved": f"Compensation approved: {money.get('amount', '')}",
        "CompensationDeclined": "Compensation declined" + (f": {d['reason']}" if d.get("reason") else ""),
        "CompensationPaid": f"Compensation paid: {money.get('amount', '')}"
                            + (f" (offset {money['offset']})" if money.get("offset") and d.get("offset") else ""),
        "LearningRecorded": f"Learning: {d.get('text')}",
        "NoteAdded": f"Note: {d.get('text')}",
        "Closed": "Case closed",
        "DeviationApproved": f"Deviation from the procedure, approved by {d.get('approved_by')}: {d.get('reason')}",
        "Corrected": _correction(d) if name == "Corrected" else "",
    }
    if name in texts:
        return texts[name]
    shown = {k: v for k, v in d.items() if v not in (None, "", [], False)}
    return name + (": " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in shown.items()) if shown else "")


def _correction(d: dict[str, Any]) -> str:
    """'Corrected the received date from 2 March 2026 to 27 February 2026: keyed from the wrong letter'."""
    if d.get("field"):
        what = f"the {d['field'].replace('-', ' ')}"
        old, new = d.get("old_personal") or d.get("old"), d.get("new_personal") or d.get("new")
        if d["field"].endswith("-date"):
            old, new = _day(old) or old, _day(new) or new
    else:
        what = f"the date of event {d.get('event_version')} ({event_words(d.get('step') or '')})"
        old, new = _day(d.get("old")), _day(d.get("new"))
    return f"Corrected {what} from {old or '(not recorded)'} to {new}: {d.get('reason')}"


def write(ledger: Any, ref: str, as_of: date, folder: Path) -> list[Path]:
    """Write the four files into `folder` (created if missing); returns their paths."""
    data = build(ledger, ref, as_of)
    ref = data["ref"]
    policy = ledger.policy_by_hash(data["policy"]["content_hash"])
    texts = [render_html(data), _json(data) + "\n",
             f"# The profile {ref} was received under: {policy.name} {policy.version}\n"
             f"# content hash {policy.content_hash} (SHA-256 of its canonical form)\n" + policy_files.dumps(policy.data),
             _json(data["integrity"]) + "\n"]  # all made before anything is written
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in FILES]
    for path, text in zip(paths, texts):
        path.write_text(text, encoding="utf-8")
    return paths


def render_html(data: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    # Strict: a figure the bundle lacks fails a test rather than printing blank in an inquiry bundle.
    env = Environment(loader=PackageLoader("complaints_ledger.adapters", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True,
                      undefined=StrictUndefined)
    env.filters["day"] = _day
    env.globals["tenure_words"] = TENURE_WORDS
    env.filters["local"] = lambda t: t.astimezone(LOCAL).strftime("%d %b %Y %H:%M") if t else ""
    env.filters["pounds"] = lambda v: fmt_pounds(Decimal(str(v))) if v is not None else ""
    return env.get_template("bundle.html.j2").render(b=data)


def _day(d: date | str | None) -> str:
    if not d:
        return ""
    d = date.fromisoformat(d) if isinstance(d, str) else d
    return f"{d.day} {d:%B %Y}"


def _json(value: Any) -> str:
    return json.dumps(value, default=json_default, ensure_ascii=False, indent=1)
