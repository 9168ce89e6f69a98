"""Read models rebuilt from the event log: one module per read model.

`all_projections()` lists them for the runner (complaints_ledger.adapters.projection_store).
"""

from __future__ import annotations


def all_projections() -> list:
    from .case_index import CaseIndex
    from .case_status import CaseStatus
    from .committee import Committee
    from .deadlines import Deadlines

    return [CaseStatus(), Deadlines(), Committee(), CaseIndex()]
