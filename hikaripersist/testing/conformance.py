"""The backend conformance suite: what every [`Backend`][hikaripersist.backend.Backend] must do.

Subclass [`BackendConformance`][hikaripersist.testing.conformance.BackendConformance] in a test
module and give it a ``make_backend`` fixture; pytest then runs every check against your backend,
through a real (offline) `hikari.GatewayBot` and a real [`Cache`][hikaripersist.cache.Cache],
comparing what your store returns with hikari's own in-memory cache fed the same events:

```py
import pytest
from hikaripersist.testing import BackendConformance


class TestMyBackend(BackendConformance):
    @pytest.fixture
    def make_backend(self, tmp_path):
        # Each call: a new backend object on the same, initially empty, store of this test.
        return lambda: MyBackend(tmp_path / "store")
```

It needs ``pytest`` and ``pytest-asyncio`` (``pip install "hikari-persist[testing]"``). Every
backend of hikari-persist runs this suite in its CI.
"""

from __future__ import annotations

__all__: typing.Sequence[str] = ("BackendConformance", "BackendFactory")

import asyncio
import functools
import typing

import hikari
import pytest

from hikaripersist import filters as persist_filters
from hikaripersist import rules as rules_
from hikaripersist._internal import gateway_session, offline, schema
from hikaripersist.backend import BackendError
from hikaripersist.cache import Cache
from hikaripersist.events import BulkMemberEvent, MemberInsertEvent, MemberRemoveEvent
from hikaripersist.readonly import ReadOnlyCache
from hikaripersist.testing._reference import compare_with_hikari, hikari_counts

if typing.TYPE_CHECKING:
    from collections.abc import Sequence

    from hikaripersist.backend import Backend

BackendFactory = typing.Callable[[], "Backend"]
"""Returns a new, unopened backend object on the test's store (the same store at every call)."""

_TIMEOUT: typing.Final = 60.0


@functools.cache
def _session(seed: int) -> tuple[gateway_session.GatewayRecord, ...]:
    # Every event kind, two synthetic guilds (one above the large threshold), churn, bad payloads.
    return tuple(gateway_session.generate_session(seed=seed, guilds=2, members=(320, 40), messages_per_channel=6))


def _bot(*, max_messages: int = 1_000_000) -> hikari.GatewayBot:
    return offline.make_offline_bot(cache_settings=hikari.impl.CacheSettings(max_messages=max_messages))


async def _replay(bot: hikari.GatewayBot, cache: Cache, records: Sequence[gateway_session.GatewayRecord]) -> None:
    await offline.replay(bot, records)
    await asyncio.wait_for(cache.flush(), _TIMEOUT)


class BackendConformance:
    """Checks a backend against the [`Backend`][hikaripersist.backend.Backend] contract.

    Subclasses provide the ``make_backend`` fixture, a
    [`BackendFactory`][hikaripersist.testing.conformance.BackendFactory].
    Set ``supports_read_only = False`` for a backend whose
    [`open_read_only`][hikaripersist.backend.Backend.open_read_only] is the default (it then opens
    normally) to skip the read-only checks that require a missing store to be refused.
    """

    supports_read_only: typing.ClassVar[bool] = True

    @pytest.fixture
    def make_backend(self) -> BackendFactory:
        """Override: return a factory of backend objects on one fresh store for the test."""
        msg = f"{type(self).__name__} must define a `make_backend` fixture"
        raise NotImplementedError(msg)

    # -- lifetime ----------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_open_and_close_are_idempotent(self, make_backend: BackendFactory) -> None:
        backend = make_backend()
        assert not backend.is_open
        await backend.open()
        await backend.open()
        assert backend.is_open
        assert await backend.schema_version() == schema.SCHEMA_VERSION
        assert backend.batch_size >= 1
        assert backend.flush_interval >= 0
        assert isinstance(backend.name, str)
        assert backend.name
        await backend.close()
        await backend.close()
        assert not backend.is_open

    @pytest.mark.asyncio
    async def test_an_empty_batch_writes_nothing(self, make_backend: BackendFactory) -> None:
        backend = make_backend()
        await backend.open()
        try:
            result = await backend.write([], rule=None)
            assert list(result.errors) == []
        finally:
            await backend.close()

    @pytest.mark.asyncio
    async def test_the_cache_opens_and_closes_it_with_the_bot(self, make_backend: BackendFactory) -> None:
        bot = _bot()
        backend = make_backend()
        Cache(bot, backend)
        await offline.start_offline(bot)
        assert backend.is_open
        await offline.stop_offline(bot)
        assert not backend.is_open

    # -- fidelity ----------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_a_replayed_session_equals_hikaris_cache_and_survives_reopening(
        self, make_backend: BackendFactory
    ) -> None:
        bot = _bot()
        records = _session(11)
        async with Cache(bot, make_backend()) as cache:
            await _replay(bot, cache, records)
            counts = await compare_with_hikari(cache, bot)
        assert counts["members"] > 300
        assert all(counts[kind] > 0 for kind in ("guilds", "channels", "roles", "users", "messages"))

        # A new bot, a new backend object on the same store: everything is still there.
        reopened = _bot()
        async with Cache(reopened, make_backend()) as cache:
            theirs = hikari_counts(bot.cache)
            for kind, expected in theirs.items():
                assert await getattr(cache, kind).count() == expected, kind
            await compare_with_hikari(cache, bot, app=reopened)

    @pytest.mark.asyncio
    async def test_a_flood_past_the_budgets_lands_whole_through_the_spill_file(
        self, make_backend: BackendFactory
    ) -> None:
        # Every record handed over before the writer gets a turn, with budgets of 20 events / 200
        # entities: most events wait in the spill file and reach the backend read back from it.
        bot = _bot()
        records = _session(12)
        async with Cache(bot, make_backend(), max_pending=20, max_pending_entities=200) as cache:
            await offline.replay(bot, records, yield_every=0)
            await asyncio.wait_for(cache.flush(), _TIMEOUT)
            stats = await cache.stats()
            assert stats.events_spilled > len(records) // 2
            assert stats.queue_spilled == 0
            await compare_with_hikari(cache, bot)

    @pytest.mark.asyncio
    async def test_message_retention_keeps_the_newest_of_each_channel(self, make_backend: BackendFactory) -> None:
        limit = 2
        bot = _bot()  # hikari keeps every message: what we keep must be the newest part of it
        rule = rules_.Rule(message=rules_.MessageRule(max_per_channel=limit))
        async with Cache(bot, make_backend(), rule=rule) as cache:
            await _replay(bot, cache, _session(12))
            theirs: dict[int, set[int]] = {}
            for message in bot.cache.get_messages_view().values():
                theirs.setdefault(int(message.channel_id), set()).add(int(message.id))
            ours: dict[int, set[int]] = {}
            async for message in cache.messages.all():
                ours.setdefault(int(message.channel_id), set()).add(int(message.id))
            assert sum(map(len, ours.values())) < sum(map(len, theirs.values()))
            for channel_id, ids in theirs.items():
                assert ours.get(channel_id, set()) <= ids
                assert max(ids) in ours.get(channel_id, set()), f"the newest message of {channel_id} was expired"

    @pytest.mark.asyncio
    async def test_rules_decide_what_is_stored(self, make_backend: BackendFactory) -> None:
        bot = _bot()
        rule = rules_.Rule(presence=rules_.PresenceRule(enabled=False), member=rules_.MemberRule(predicate=_human))
        async with Cache(bot, make_backend(), rule=rule) as cache:
            await _replay(bot, cache, _session(13))
            assert len(bot.cache.get_presences_view()) > 0
            assert await cache.presences.count() == 0
            assert await cache.members.count() > 0
            assert not await cache.members.all().any(lambda member: member.is_bot)

    # -- queries -----------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_queries_filter_order_and_limit_in_the_store(self, make_backend: BackendFactory) -> None:
        bot = _bot()
        async with Cache(bot, make_backend()) as cache:
            await _replay(bot, cache, _session(14))
            for guild_id in bot.cache.get_guilds_view():
                members = bot.cache.get_members_view_for_guild(guild_id)
                assert await cache.members.count(guild_id=guild_id) == len(members)
                oldest = sorted(members.values(), key=lambda m: (m.joined_at, int(m.id)))[:5]
                first = await cache.members.where(guild_id=guild_id, order_by="joined_at", limit=5).collect()
                assert [int(m.id) for m in first] == [int(m.id) for m in oldest]
                nicked = {int(u) for u, m in members.items() if m.nickname is not None}
                where = cache.members.where(guild_id=guild_id, nickname=persist_filters.not_null())
                assert {int(m.id) async for m in where} == nicked
            for channel in bot.cache.get_guild_channels_view().values():
                stored = await cache.channels.get(id=channel.id)
                assert stored is not None
                assert stored.name == channel.name
                assert type(stored) is type(channel)
            assert await cache.channels.get(id=1) is None

    @pytest.mark.asyncio
    async def test_change_events_follow_commits(self, make_backend: BackendFactory) -> None:
        bot = _bot()
        # The member keys the change events describe, replayed in order: must end as what is stored.
        described: set[tuple[int, int]] = set()
        marker = asyncio.Event()

        async def on_insert(event: MemberInsertEvent) -> None:
            described.add((int(event.member.guild_id), int(event.member.id)))

        async def on_bulk(event: BulkMemberEvent) -> None:
            described.update((int(event.guild_id), int(user_id)) for user_id in event.user_ids)

        async def on_remove(event: MemberRemoveEvent) -> None:
            described.discard((int(event.guild_id), int(event.user_id)))

        async def on_marker(event: hikari.GuildMessageCreateEvent) -> None:
            if event.content == "conformance marker":
                marker.set()

        bot.event_manager.subscribe(MemberInsertEvent, on_insert)
        bot.event_manager.subscribe(BulkMemberEvent, on_bulk)
        bot.event_manager.subscribe(MemberRemoveEvent, on_remove)
        async with Cache(bot, make_backend()) as cache:
            cache.subscribe(hikari.GuildMessageCreateEvent, on_marker, confirm=True)
            records = list(_session(15))
            await _replay(bot, cache, records)
            # Change events are dispatched before the batch's confirmations: once a marker message sent
            # last is confirmed, every insert event of the stream was handled.
            await offline.replay(bot, [_marker_message(records)])
            await asyncio.wait_for(marker.wait(), _TIMEOUT)
            stored = {(int(m.guild_id), int(m.id)) async for m in cache.members.all()}
            assert stored
            assert described == stored

    # -- read-only ---------------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_a_read_only_cache_sees_what_the_writer_committed(self, make_backend: BackendFactory) -> None:
        bot = _bot()
        async with Cache(bot, make_backend()) as cache:
            records = _session(16)
            await _replay(bot, cache, records)
            async with ReadOnlyCache(make_backend(), app=bot) as reader:
                await compare_with_hikari(reader, bot)
                marker = _marker_message(records)
                await _replay(bot, cache, [marker])
                assert await reader.messages.get(id=int(marker[2]["id"])) is not None

    @pytest.mark.asyncio
    async def test_a_read_only_cache_never_creates_a_store(self, make_backend: BackendFactory) -> None:
        if not self.supports_read_only:
            pytest.skip("this backend has no read-only mode")
        with pytest.raises(BackendError):
            await ReadOnlyCache(make_backend()).open()
        # ...and the refusal left nothing behind: a writer still starts from an empty store.
        async with Cache(_bot(), make_backend()) as cache:
            assert await cache.guilds.count() == 0


def _human(member: hikari.Member) -> bool:
    return not member.is_bot


def _marker_message(records: Sequence[gateway_session.GatewayRecord]) -> gateway_session.GatewayRecord:
    """A MESSAGE_CREATE copied from the session's last one, with new ids and a marker content."""
    name, shard, payload = next(r for r in reversed(records) if r[0] == "MESSAGE_CREATE" and "guild_id" in r[2])
    message = dict(payload)
    message["id"] = str(int(message["id"]) + 1_000_000)
    message["content"] = "conformance marker"
    return name, shard, message
