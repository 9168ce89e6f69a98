"""The ledger's closed vocabularies: how complaints arrive, what decisions and findings may say, who sits on panels
and holds roles. Kept apart from the aggregate and the policy model so that the command line can offer them as
choices without importing either (start-up time)."""

from __future__ import annotations

CHANNELS = ("phone", "email", "letter", "web", "portal", "social-media", "in-person")

OUTCOMES = ("upheld", "partly-upheld", "not-upheld")

# The home's tenure, as the Regulator's TSM return splits CH01 and CH02: low-cost rental accommodation, low-cost home
# ownership, and anything else (leaseholders, market rent, …), which counts in the all-tenure figures only.
TENURES = ("lcra", "lcho", "other")
TENURE_WORDS = {"lcra": "LCRA (low-cost rental)", "lcho": "LCHO (low-cost home ownership)",
                "other": "other (not low-cost rental or home ownership)"}
DEFAULT_TENURE = "lcra"  # a profile without `default_tenure`: most of a social landlord's homes are low-cost rental

FINDINGS = (
    "no-maladministration",
    "service-failure",
    "maladministration",
    "severe-maladministration",
    "reasonable-redress",
    "outside-jurisdiction",
)

PANEL_ROLES = (
    "chief-executive",
    "director",
    "head-of-service",
    "board-member",
    "resident-representative",
    "independent",
)

STAFF_ROLES = ("officer", "manager", "head-of-service", "director", "board-member", "resident-representative",
               "analyst")

REFUSAL_REASONS = (
    "out-of-time",
    "legal-action",
    "not-our-responsibility",
    "already-considered",
    "excluded-category",
    "unreasonable",
)

FEEDBACK_KINDS = ("compliment", "comment", "suggestion")
