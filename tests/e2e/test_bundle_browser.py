"""The inquiry bundle for a demo case taken to the Ombudsman (extended, escalated, compensated, referred), written
by the real `complaints` script, opened in headless Chromium and printed to PDF. The page must state each deadline
met or late as `show` judges it, the extension with its reason, and the chain head `verify` recomputes; policy.toml
must read back to the profile the case was received under."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

from complaints_ledger.domain.policy import Policy

from .test_report_browser import complaints, find_browser, render


def test_a_demo_inquiry_bundle_opens_in_chromium_prints_to_pdf_and_states_each_deadline(tmp_path: Path):
    browser = find_browser()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "COMPLAINTS_ACTOR": "tester"}
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    told = complaints("demo", "--db", db, env=env)
    found = re.search(r"bundle (CMP-\d{4}-\d{6}) --output", told.stdout + told.stderr)
    assert found, "the demo summary names no case for an inquiry bundle"
    ref = found.group(1)
    history = [json.loads(line)["event"] for line in
               complaints("--db", db, "history", ref, "--format", "json", env=env).stdout.splitlines()]
    assert {"Extended", "Escalated", "CompensationApproved", "ReferredToOmbudsman"} <= set(history)

    out = tmp_path / "bundle"
    complaints("--db", db, "bundle", ref, "--output", str(out), env=env)
    assert sorted(p.name for p in out.iterdir()) == ["case.html", "case.json", "integrity.json", "policy.toml"]

    dom = render(browser, out / "case.html", tmp_path / "profile")
    text = " ".join(re.sub(r"<[^>]+>", " ", dom).split())
    shown = json.loads(complaints("--db", db, "show", ref, "--format", "json", env=env).stdout)
    rows = re.findall(r"<tr><td>(\d+)</td><td>([a-z0-9-]+)</td>.*?"
                      r'<td class="(met|late|pending|overdue)">', dom, flags=re.S)
    assert [(int(s), m, st) for s, m, st in rows] == [(d["stage"], d["milestone"], d["status"])
                                                      for d in shown["deadlines"]]
    assert "Waiting for a contractor" in text and "Referred to the Housing Ombudsman" in text

    integrity = json.loads((out / "integrity.json").read_text())
    verified = json.loads(complaints("--db", db, "verify", ref, "--format", "json", env=env).stdout)
    assert integrity["verified"] and verified["ok"]
    assert integrity["head"]["hash"] in text and integrity["head"]["version"] == len(history)

    policy_text = (out / "policy.toml").read_text()
    assert Policy.from_dict(tomllib.loads(policy_text)).content_hash == shown["policy_hash"]
    assert shown["policy_hash"] in policy_text

    pdf = tmp_path / "case.pdf"
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
                           f"--print-to-pdf={pdf}", (out / "case.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10_000
