"""Tests shared by the server stores' test modules (PostgreSQL, MySQL).

The query and filter-operator tests of the SQLite store run again on a server store: a module calls
``globals().update(query_tests())`` and defines a module-scoped ``filled`` fixture (on the module's
event loop) that yields from [`filled_cache`][] on its store; only the store differs. The
``check_*`` coroutines are test bodies that take the module's backend.
"""

from __future__ import annotations

__all__ = (
    "check_a_failing_event_is_undone_alone",
    "check_a_statement_the_server_refuses_is_undone_with_its_event",
    "check_each_event_of_a_batch_reports_the_entity_as_it_left_it",
    "check_every_kind_reports_insert_update_remove",
    "check_max_age_expires_old_messages",
    "check_max_per_channel_expires_like_hikaris_message_limit",
    "check_message_creates_share_round_trips",
    "count_round_trips",
    "filled_cache",
    "query_tests",
)

import contextlib
import datetime
import types
import typing

import pytest

import hikaripersist as persist
from hikaripersist._internal import engine, offline, server
from tests import test_queries, test_query_operators
from tests.conftest import make_bot, session
from tests.test_change_events import ChangeLog, Stage, check_every_kind_reports_insert_update_remove
from tests.test_retention import check_max_per_channel_expires_like_hikaris_message_limit
from tests.test_writer import message_ids, running

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

    import hikari

    BackendFactory = Callable[..., persist.Backend]
    """Makes the module's backend on its store, with backend options as keywords."""

_TESTS: typing.Final[tuple[types.FunctionType, ...]] = (
    test_queries.test_every_field_filters_like_python_would,
    test_queries.test_list_fields_match_membership,
    test_queries.test_unknown_fields_and_values_are_refused_at_the_call,
    test_queries.test_values_are_bound_parameters,
    test_query_operators.test_limit_and_count_are_pushed_into_the_query,
    test_query_operators.test_membership_and_null_checks,
    test_query_operators.test_not_equal,
    test_query_operators.test_order_and_limit_are_applied_by_the_database,
    test_query_operators.test_ranges_on_an_indexed_time_column,
    test_query_operators.test_ranges_on_json_fields,
    test_query_operators.test_relationship_shortcuts,
    test_query_operators.test_text_prefix_and_contains_are_case_sensitive,
)


def _copy(test: types.FunctionType) -> types.FunctionType:
    # A copy of its own: marking it must not mark the SQLite module's test (marks live on the function).
    copy = types.FunctionType(test.__code__, test.__globals__, test.__name__, test.__defaults__, test.__closure__)
    copy.__dict__.update(test.__dict__)
    copy.__kwdefaults__ = test.__kwdefaults__
    copy.__qualname__ = test.__qualname__
    copy.__doc__ = test.__doc__
    copy.__annotations__ = test.__annotations__
    return copy


def query_tests() -> dict[str, types.FunctionType]:
    """The tests by name, each a fresh copy that runs on the module's event loop (that of ``filled``)."""
    return {test.__name__: pytest.mark.asyncio(loop_scope="module")(_copy(test)) for test in _TESTS}


@contextlib.asynccontextmanager
async def filled_cache(backend: persist.Backend) -> AsyncGenerator[tuple[hikari.GatewayBot, persist.Cache], None]:
    """A cache on ``backend`` holding the session the tests query, and the bot that wrote it."""
    bot = make_bot()
    async with persist.Cache(bot, backend) as cache:
        # Smaller than the SQLite run: every statement is a round trip to the server.
        await offline.replay(bot, session(seed=5, members=(400, 120, 30), messages_per_channel=6))
        await cache.flush()
        yield bot, cache


async def check_a_failing_event_is_undone_alone(backend: persist.Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch goes without savepoints until an event fails; then it is written again, one savepoint per event."""
    original = engine.Engine._on_message_create  # pyright: ignore[reportPrivateUsage]

    def fail_on_boom(self: engine.Engine, event: hikari.MessageCreateEvent) -> None:
        original(self, event)  # writes first: the batch's second attempt must undo it
        if event.message.content == "boom":
            msg = "cannot store this one"
            raise RuntimeError(msg)

    monkeypatch.setattr(engine.Engine, "_on_message_create", fail_on_boom)
    async with running(typing.cast("persist.SQLiteBackend", backend)) as (_, cache, world):
        writer = typing.cast("typing.Any", backend)._writer
        records = [world.message_create("boom" if i == 5 else f"fine {i}", author=i) for i in range(10)]
        ids = message_ids(records)
        await world.feed(records, yield_every=0)
        await cache.flush()
        assert {int(m.id) async for m in cache.messages.where(content=persist.startswith("fine"))} == {
            i for i in ids if i != ids[5]
        }
        assert await cache.messages.get(id=ids[5]) is None
        assert (await cache.stats()).events_failed == 1
        # The next batch starts with savepoints; a batch without failures ends that.
        assert writer.isolate
        after = world.message_create("after")
        await world.feed([after])
        await cache.flush()
        assert await cache.messages.get(id=message_ids([after])[0]) is not None
        assert not writer.isolate


async def check_a_statement_the_server_refuses_is_undone_with_its_event(
    backend: persist.Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write the server refuses fails its own event, even when it was sent later with other events' writes."""
    original = engine.Engine._on_message_create  # pyright: ignore[reportPrivateUsage]

    def refused_on_boom(self: engine.Engine, event: hikari.MessageCreateEvent) -> None:
        original(self, event)
        if event.message.content == "boom":
            # Text where the server wants a number: only the server finds out.
            db = self._db  # pyright: ignore[reportPrivateUsage]
            db.execute("UPDATE messages SET ref_count = ? WHERE id = ?", ("not a number", int(event.message.id)))

    monkeypatch.setattr(engine.Engine, "_on_message_create", refused_on_boom)
    async with running(typing.cast("persist.SQLiteBackend", backend)) as (_, cache, world):
        records = [world.message_create("boom" if i in (3, 7) else f"fine {i}", author=i) for i in range(10)]
        ids = message_ids(records)
        await world.feed(records, yield_every=0)
        await cache.flush()
        assert {int(m.id) async for m in cache.messages.where(content=persist.startswith("fine"))} == {
            i for n, i in enumerate(ids) if n not in (3, 7)
        }
        assert await cache.messages.get(id=ids[3]) is None
        assert await cache.messages.get(id=ids[7]) is None
        assert (await cache.stats()).events_failed == 2
        authors = {int(m.author.id) async for m in cache.messages.where(content=persist.startswith("fine"))}
        members = world.members
        expected = {int(members[i % len(members)]["user"]["id"]) for i in range(10) if i not in (3, 7)}
        assert authors == expected, (authors, expected)


async def check_message_creates_share_round_trips(
    backend: persist.Backend, count_round_trips: Callable[[], int]
) -> None:
    """Writes go to the server together: a batch of message creates costs far fewer round trips than statements."""
    async with running(typing.cast("persist.SQLiteBackend", backend)) as (_, cache, world):
        warm = [world.message_create(f"warm {i}", author=i) for i in range(5)]
        await world.feed(warm, yield_every=0)
        await cache.flush()
        before = count_round_trips()
        records = [world.message_create(f"m {i}", author=i % 5) for i in range(40)]
        await world.feed(records, yield_every=0)
        await cache.flush()
        trips = count_round_trips() - before
        # One by one, each message create is about nine statements (user, mentions, reference
        # check, message, member check and reference count): each its own round trip.
        assert trips <= 4 * len(records), trips
        assert len([m async for m in cache.messages.where(content=persist.startswith("m "))]) == len(records)


def count_round_trips(monkeypatch: pytest.MonkeyPatch, connection_type: type) -> Callable[[], int]:
    """Count the calls of ``connection_type`` (a server backend's engine connection) that reach the server."""
    trips = 0
    for method in ("run_command", "run_execute", "run_script", "execute_rows"):
        original = getattr(connection_type, method)

        def counted(self: object, *args: object, _original: typing.Any = original) -> object:
            nonlocal trips
            trips += 1
            return _original(self, *args)

        monkeypatch.setattr(connection_type, method, counted)
    return lambda: trips


async def check_max_age_expires_old_messages(make_backend: BackendFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``max_age`` expires old messages a step per batch until only recent ones are left."""
    monkeypatch.setattr(server, "RETENTION_STEP", 40)
    now = datetime.datetime.now(datetime.timezone.utc)
    old, recent = now - datetime.timedelta(days=30), now - datetime.timedelta(minutes=5)
    async with running(typing.cast("persist.SQLiteBackend", make_backend())) as (bot, cache, _):
        stage = Stage(bot)
        records = [stage.message_create(f"old {i}", author=i) for i in range(100)]
        for record in records:
            record[2]["timestamp"] = old.isoformat()
        fresh = [stage.message_create(f"recent {i}", author=i) for i in range(5)]
        for record in fresh:
            record[2]["timestamp"] = recent.isoformat()
        await stage.feed([*records, *fresh])
        await cache.flush()
    fresh_ids = {int(r[2]["id"]) for r in fresh}

    rule = persist.Rule(message=persist.MessageRule(max_age=datetime.timedelta(days=1)))
    async with persist.Cache(make_bot(), make_backend(), rule=rule) as cache:
        # Each flush writes at least one batch, and each batch expires up to RETENTION_STEP.
        for _ in range(100):
            await cache.flush()
            if {int(m.id) async for m in cache.messages.all()} == fresh_ids:
                break
        assert {int(m.id) async for m in cache.messages.all()} == fresh_ids


async def check_each_event_of_a_batch_reports_the_entity_as_it_left_it(make_backend: BackendFactory) -> None:
    """Five updates of one member in one batch: five change events, each with that update's nickname."""
    async with running(typing.cast("persist.SQLiteBackend", make_backend(batch_size=1000, flush_interval=60))) as (
        bot,
        cache,
        world,
    ):
        log = ChangeLog(bot, cache, persist.PersistMemberUpdateEvent)
        member = world.members[-1]
        key = (int(world.guild_id), int(member["user"]["id"]))
        assert await cache.members.get(guild_id=key[0], member_id=key[1]) is not None
        index = len(world.members) - 1
        await world.feed([world.member_update(index, f"nick {i}") for i in range(5)], yield_every=0)
        await cache.flush()
        await log.wait_for(persist.PersistMemberUpdateEvent, key, count=5)
        nicks = [typing.cast("persist.PersistMemberUpdateEvent", s.event).member.nickname for s in log.seen]
        assert nicks == [f"nick {i}" for i in range(5)]
