"""The event store the ledger uses: eventsourcing-sqlalchemy's, with each stored event chained to its
predecessor (see audit_chain.py). Imported only when a ledger is opened (PERSISTENCE_MODULE names ChainedFactory).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

from .audit_chain import MARK, ZERO, chain_table, event_hash, install_append_only, split_state
from .personal_data import KeyStore, PersonalDataMapper, subject_lookup


class ChainedRecorder(SQLAlchemyApplicationRecorder):
    """The library's application recorder, with each event chained to its predecessor and heads recorded."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.chain = chain_table(sa.MetaData(), self.events_table_name)
        self.vault = KeyStore(self.datastore.engine, self.events_table_name) if self.datastore.engine else None

    def create_table(self) -> None:
        super().create_table()
        engine = self.datastore.engine
        self.chain.create(engine, checkfirst=True)
        if self.vault is not None:
            self.vault.create_table()
        install_append_only(engine, [self.events_table_name, self.chain.name])

    def _insert_stored_events(self, session: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        chained, heads = [], {}
        for e in stored_events:
            head = heads.get(e.originator_id)
            prev = head[1] if head else self._stored_hash(session, e.originator_id, e.originator_version - 1)
            state = MARK + prev + e.state
            heads[e.originator_id] = (e.originator_version, event_hash(e.originator_id, e.originator_version,
                                                                       e.topic, state))
            chained.append(replace(e, state=state))
        ids = super()._insert_stored_events(session, chained, **kwargs)
        session.execute(self.chain.insert(), [
            {"originator_id": _id_bytes(originator_id), "originator_version": version, "hash": digest}
            for originator_id, (version, digest) in heads.items()])
        if self.vault is not None:
            keys = self.vault.pending_keys()
            if keys:  # new data subjects' keys commit with the events that first use them
                session.execute(self.vault.table.insert(), keys)
        return ids

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Any:
        ids = super().insert_events(stored_events, **kwargs)
        if self.vault is not None:
            self.vault.committed()
        return ids

    def _stored_hash(self, session: Any, originator_id: UUID, version: int) -> bytes:
        if version < 1:
            return ZERO
        record = self.events_record_cls
        row = session.execute(sa.select(record.topic, record.state).where(
            record.originator_id == originator_id, record.originator_version == version)).first()
        # A missing predecessor is itself a break in the chain, which `verify` reports.
        return ZERO if row is None else event_hash(originator_id, version, row.topic, bytes(row.state))

    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        return [replace(e, state=split_state(e.state)[1]) for e in super().select_events(*args, **kwargs)]

    def select_notifications(self, *args: Any, **kwargs: Any) -> Any:
        return [replace(n, state=split_state(n.state)[1]) for n in super().select_notifications(*args, **kwargs)]


def _id_bytes(originator_id: Any) -> bytes:
    return originator_id.bytes if isinstance(originator_id, UUID) else UUID(str(originator_id)).bytes


class ChainedFactory(SQLAlchemyFactory):
    """eventsourcing-sqlalchemy, with the chained application recorder (PERSISTENCE_MODULE points here)."""

    application_recorder_class = ChainedRecorder

    def mapper(self, transcoder: Any = None, mapper_class: Any = None) -> Any:
        if mapper_class is not None:
            return super().mapper(transcoder, mapper_class)
        self._mapper = PersonalDataMapper(transcoder=transcoder or self.transcoder(), cipher=self.cipher(),
                                          compressor=self.compressor())
        return self._mapper

    def application_recorder(self) -> Any:
        recorder = super().application_recorder()
        mapper = getattr(self, "_mapper", None)
        if mapper is not None:
            mapper.vault = recorder.vault
            mapper.subject_of = subject_lookup(recorder, mapper.transcoder)
        return recorder
