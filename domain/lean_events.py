"""A leaner call of an aggregate's `@event` methods: the same event class, the same attributes, the same `apply`.

Calling an `@event` method goes through the library's BoundCommandMethodDecorator: a new object per call, then
`_coerce_args_to_kwargs` (positional arguments and defaults turned into keywords, copying the dict twice) and
`filter_kwargs_for_method_params` (a third copy), before `trigger_event` builds the event and applies it. Our verbs
call their `@event` methods with keywords only, so all of that is spent finding out what is already known: a bulk
import or simulation plays about six such calls per case, and it was a tenth of playing a case. `lean_commands`
replaces each such method on the class by a plain function that fills the defaults it knows, keeps the names the
event class takes and builds the event itself (`_direct`: what `trigger_event` and `mutate` do for an event class
with nothing of its own to apply, a quarter of their cost), else calls the library's `trigger_event`. Anything it
was not written for (a positional argument, a name the method does not take, one missing) goes the library's way,
which raises as it always did. The events are the library's event classes with the same attributes in the same
order, so they are stored as the same JSON (tests/unit/test_lean_events.py holds both ways equal).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, TypeVar

from eventsourcing.domain import (AggregateEvent, CanMutateAggregate, CommandMethodDecorator, DecoratedFuncCaller,
                                  DomainEvent, _annotations_mention_id, _create_id_param_names, _created_event_classes,
                                  _init_mentions_id, decorated_func_callers)
from eventsourcing.utils import get_topic

A = TypeVar("A", bound=type)
T = TypeVar("T")


def lean_commands(cls: A) -> A:
    """Give each `@event` method defined on `cls` (not `__init__`, which creates the aggregate) the lean call."""
    for name, value in list(vars(cls).items()):
        if isinstance(value, CommandMethodDecorator) and name != "__init__" and value in decorated_func_callers:
            setattr(cls, name, _lean(value, decorated_func_callers[value]))
    return cls


def _lean(decorator: CommandMethodDecorator, event_cls: type) -> Callable[..., None]:
    params = [p for n, p in inspect.signature(decorator.decorated_func).parameters.items() if n != "self"]
    names = frozenset(p.name for p in params)
    defaults = {p.name: p.default for p in params if p.default is not p.empty}
    taken = set(inspect.signature(event_cls).parameters)
    keep = None if names <= taken else tuple(n for n in (p.name for p in params) if n in taken)
    count = len(names)
    slow = decorator.__get__  # the library's bound decorator: its trigger, and its errors
    fire = _direct(decorator.decorated_func, event_cls)

    def trigger(self: Any, *args: Any, **kwargs: Any) -> None:
        if args or not names.issuperset(kwargs):
            return slow(self, type(self))(*args, **kwargs)
        if len(kwargs) < count:
            for n, v in defaults.items():
                kwargs.setdefault(n, v)
            if len(kwargs) < count:
                return slow(self, type(self))(**kwargs)
        if keep is not None:
            kwargs = {n: kwargs[n] for n in keep}
        if fire is None or not fire(self, kwargs):
            self.trigger_event(event_cls, **kwargs)
        return None

    trigger.__name__ = decorator.decorated_func.__name__
    trigger.__qualname__ = decorator.decorated_func.__qualname__
    trigger.__doc__ = decorator.decorated_func.__doc__
    trigger.__wrapped_command__ = decorator  # type: ignore[attr-defined]
    return trigger


def _direct(func: Callable[..., None], event_cls: type) -> Callable[[Any, dict[str, Any]], bool] | None:
    """What the library's `trigger_event` does for this event class, without its generic steps: the event made with
    its attributes in the dataclass's field order (so it is stored as the same JSON, key for key), the decorated
    method called with them, then the aggregate's version, modified time and pending events set as `mutate` sets
    them. None (the library's way, always) for an event class with anything this does not repeat: an `apply` or
    `__post_init__` of its own, an explicit topic, a field with a default factory. Returns False (do it the
    library's way) when an attribute is missing and has no default, so the library raises as it always did."""
    if getattr(event_cls, "TOPIC", None) or not _plain_apply(event_cls):
        return None
    fields = dataclasses.fields(event_cls)
    if [f.name for f in fields[:3]] != ["originator_id", "originator_version", "timestamp"] or any(
            f.default_factory is not dataclasses.MISSING for f in fields):
        return None
    own = [(f.name, f.default) for f in fields[3:]]
    applied = tuple(n for n in inspect.signature(func).parameters if n != "self")
    if not set(applied) <= {n for n, _ in own}:
        return None
    now = event_cls.create_timestamp
    new = object.__new__
    missing = dataclasses.MISSING

    def fire(aggregate: Any, kwargs: dict[str, Any]) -> bool:
        event = new(event_cls)
        state = event.__dict__
        state["originator_id"] = aggregate.id
        state["originator_version"] = version = aggregate.version + 1
        state["timestamp"] = timestamp = now()
        for name, default in own:
            value = kwargs.get(name, default)
            if value is missing:
                return False
            state[name] = value
        func(aggregate, **{n: state[n] for n in applied})
        aggregate.version = version
        aggregate.modified_on = timestamp
        aggregate._pending_events.append(event)
        return True

    return fire


def _plain_apply(event_cls: type) -> bool:
    """Whether applying the event is only calling its decorated method: no `apply` or `__post_init__` of its own
    below the library's (which would need calling too)."""
    library = {DecoratedFuncCaller, CanMutateAggregate, DomainEvent, AggregateEvent}
    for klass in event_cls.__mro__:
        if klass in library or klass.__module__.startswith("eventsourcing."):
            continue
        if "apply" in vars(klass) or "__post_init__" in vars(klass) or "mutate" in vars(klass):
            return False
    return True


def created(cls: type[T], **kwargs: Any) -> T:
    """`cls(**kwargs)` for an aggregate whose `__init__` is its one `@event`: the same "created" event, without the
    library's coercion of the arguments (a case's receipt passes all nineteen by name, and coercing them cost as
    much as building the event), made directly where `_direct_create` can (as `_direct` does for the other events:
    the library's `_create` and `mutate` filter the arguments by signature three times more). Anything else (a
    parameter left out, one too many) goes the library's way."""
    spec = _creations.get(cls)
    if spec is None:
        events = _created_event_classes.get(cls, [])
        names = frozenset(n for n in inspect.signature(cls.__init__).parameters if n != "self")
        event_cls = events[0] if len(events) == 1 and cls not in _annotations_mention_id else None
        spec = _creations[cls] = (names, event_cls, _direct_create(cls, event_cls, names) if event_cls else None)
    names, event_cls, direct = spec
    if event_cls is None or len(kwargs) != len(names) or not names.issuperset(kwargs):
        return cls(**kwargs)
    if direct is not None:
        return direct(kwargs)
    return cls._create(event_class=event_cls, **kwargs)  # type: ignore[attr-defined]


def _direct_create(cls: type, event_cls: type, names: frozenset[str]) -> Callable[[dict[str, Any]], Any] | None:
    """What the library's `_create` and the created event's `mutate` do, for an aggregate made from its arguments
    alone: its id from `create_id`, the event's attributes in the dataclass's field order (so it is stored as the
    same JSON, key for key), the aggregate's base attributes, then its decorated `__init__` called with them. None
    (the library's way) for anything else: an explicit topic, an event class with an `apply` or `__post_init__` of
    its own or a field this does not fill, an `__init__` that takes the id, a `create_id` taking other names."""
    init = vars(cls).get("__init__")
    if (getattr(cls, "TOPIC", None) or getattr(event_cls, "TOPIC", None) or not _plain_apply(event_cls)
            or not isinstance(init, CommandMethodDecorator) or cls in _init_mentions_id):
        return None
    fields = [f.name for f in dataclasses.fields(event_cls)]
    own = fields[4:]
    if fields[:4] != ["originator_id", "originator_version", "timestamp", "originator_topic"] or set(own) != names:
        return None
    id_names = tuple(_create_id_param_names.get(cls, ()))
    if not set(id_names) <= names:
        return None
    func, create_id, topic, now = init.decorated_func, cls.create_id, get_topic(cls), event_cls.create_timestamp
    version = cls.INITIAL_VERSION  # type: ignore[attr-defined]
    new = object.__new__

    def make(kwargs: dict[str, Any]) -> Any:
        originator_id = create_id(**{n: kwargs[n] for n in id_names})
        event = new(event_cls)
        state = event.__dict__
        state["originator_id"] = originator_id
        state["originator_version"] = version
        state["timestamp"] = timestamp = now()
        state["originator_topic"] = topic
        for name in own:
            state[name] = kwargs[name]
        aggregate = new(cls)
        aggregate.__base_init__(originator_id, version, timestamp)
        func(aggregate, **kwargs)
        aggregate._pending_events.append(event)
        return aggregate

    return make


_creations: dict[type, tuple[frozenset[str], type | None, Callable[[dict[str, Any]], Any] | None]] = {}
