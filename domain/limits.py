"""Every bound the ledger puts on what it is given, in one place (docs/limits.md is the table a user reads).

Each limit is far above anything a complaints team does, and low enough that no value, however it was typed,
pasted or imported, can overflow a date, a database integer or a terminal. Only plain numbers and dates here: the
command line reads these to define its options, and `complaints --help` must stay cheap.
"""

from __future__ import annotations

from datetime import date

# ------------------------------------------------------------------------------------------------ dates
# When something happened (receipt, a step, an issue date, a date in an imported file): from EARLIEST_DATE, when the
# bank-holiday table starts (no deadline before it could be worked out), to the ledger's today.
EARLIEST_DATE = date(1990, 1, 1)
# Dates that ask a question (--as-of, --from, --to, --until, --known-at, --closed-before, --year) may be in the
# future, up to LATEST_DATE.
LATEST_DATE = date(2100, 12, 31)

# ------------------------------------------------------------------------------------------------ money
# One sum of compensation (requested, approved, ordered, paid or offset). Ombudsman orders run to a few thousand
# pounds; a six-figure sum for one resident's complaint is a typing slip, not a payment.
MAX_AMOUNT_POUNDS = 100_000

# ------------------------------------------------------------------------------------------------ text (characters)
NAME_MAX = 200  # complainant, representative, panel member, approved-by, actor, staff name
SHORT_TEXT_MAX = 200  # category, property, subject, relationship, cursor name
CONTACT_MAX = 500  # contact details
TEXT_MAX = 2_000  # summary, reason, explanation, remedy, order
LONG_TEXT_MAX = 10_000  # note, learning
MAX_ITEMS = 50  # remedies or orders with one decision, members of one panel
QUOTE_MAX = 40  # how much of a refused value an error message shows

# ------------------------------------------------------------------------------------------------ numbers
MAX_STAGES = 9  # stages in a policy profile (the shipped ones have 2 or 3); list --stage
MAX_EXTENSION_WORKING_DAYS = 250  # a working year: an extension, and a profile's cap on them
MAX_DUE_WITHIN = 3_650  # list --due-within, in working days (about fourteen years)
MAX_LIMIT = 1_000_000  # breaches --limit, find --limit
FIND_SHOWN = 50  # cases a `find` table shows (a screenful) unless --all or --limit
LIST_SHOWN = 100  # cases a `list` table shows (a few screens: a team's open cases) unless --all or --limit
MAX_POSITION = 2**63 - 1  # a log position (events --after, --limit; dead letter ids): a 64-bit database integer
MAX_CASES = 1_000_000  # simulate --cases
MAX_SEED = 2**32 - 1  # simulate/demo --seed, from 0
MAX_HOMES = 10_000_000  # report annual --homes
MAX_REPORT_YEARS = 10  # report committee --from/--to: a committee report goes month by month
MAX_POLL_SECONDS = 3_600.0  # --poll: above 0, at most an hour
MAX_TIMEOUT_SECONDS = 300.0  # events deliver --timeout: above 0
MAX_BACKOFF_SECONDS = 60.0  # events deliver --backoff: from 0 (retries are capped at 60 s anyway)
MAX_ATTEMPTS = 100  # events deliver --max-attempts
MAX_GIVE_UP_SECONDS = 7 * 86_400  # --give-up-after: from 1 s to a week of the ledger unreachable
# In a policy profile: milestone offsets (working or calendar days), the other periods it sets.
MAX_OFFSET_DAYS = 365
MAX_WINDOW_DAYS = 3_650  # appeal window, deemed acceptance, compensation requests, early resolution
MAX_TIME_LIMIT_MONTHS = 120
MAX_RETENTION_YEARS = 100
MAX_PANEL_AT_LEAST = 20

# ------------------------------------------------------------------------------------------------ files
MAX_JSON_DEPTH = 32  # nesting of one JSON Lines row in an import, or of a digest file
