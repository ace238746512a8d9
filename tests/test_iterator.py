"""Tests for ``hikaripersist.iterator``: CacheIterator steps, wrappers, terminals and pushdown."""

from __future__ import annotations

import asyncio
import contextlib
import operator
import typing
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable

import pytest

from hikaripersist.iterator import CacheIterator, CacheIteratorStep, _PushdownSource

if typing.TYPE_CHECKING:
    from typing_extensions import assert_type
else:  # typing_extensions is not a runtime dependency; the check only matters to pyright.

    def assert_type(value, _type, /):
        return value


T = typing.TypeVar("T")


# -- helpers --------------------------------------------------------------------------------------


class Tracked(typing.Generic[T]):
    """An async iterator source that counts pulls and records whether it was closed."""

    def __init__(self, *items: T) -> None:
        self.items = list(items)
        self.pulled = 0
        self.closed = False

    def __aiter__(self) -> Tracked[T]:
        return self

    async def __anext__(self) -> T:
        if self.closed or self.pulled >= len(self.items):
            raise StopAsyncIteration
        item = self.items[self.pulled]
        self.pulled += 1
        return item

    async def aclose(self) -> None:
        self.closed = True


class FakeQuery(typing.Generic[T]):
    """A source implementing the pushdown protocol, recording how it was used."""

    def __init__(self, *items: T, limit: int | None = None, log: list[str] | None = None) -> None:
        self.items = list(items)
        self.limit = limit
        self.log: list[str] = [] if log is None else log
        self.pulled = 0

    def _visible(self) -> list[T]:
        return self.items if self.limit is None else self.items[: self.limit]

    def with_limit(self, limit: int, /) -> FakeQuery[T]:
        self.log.append(f"with_limit({limit})")
        return FakeQuery(*self.items, limit=limit, log=self.log)

    async def count(self) -> int:
        self.log.append("count")
        return len(self._visible())

    def __aiter__(self) -> AsyncIterator[T]:
        self.log.append("iterate")
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[T]:
        for item in self._visible():
            self.pulled += 1
            yield item


class IgnoresLimit(FakeQuery[T]):
    """A pushdown source whose ``with_limit`` ignores the limit (the iterator must still enforce it)."""

    def with_limit(self, limit: int, /) -> FakeQuery[T]:
        self.log.append(f"with_limit({limit})")
        return FakeQuery(*self.items, log=self.log)


async def agen(*items: T) -> AsyncIterator[T]:
    for item in items:
        yield item


def make(*items: T) -> CacheIterator[T]:
    return CacheIterator(agen(*items))


def empty() -> CacheIterator[int]:
    return CacheIterator(agen())


async def is_even(value: int) -> bool:
    await asyncio.sleep(0)
    return value % 2 == 0


async def double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


class AsyncCallable:
    """A callable object whose ``__call__`` is a coroutine function."""

    async def __call__(self, value: int) -> bool:
        return value > 2


# -- basics ---------------------------------------------------------------------------------------


class TestBasics:
    async def test_async_for(self) -> None:
        assert [item async for item in make(1, 2, 3)] == [1, 2, 3]

    async def test_await_equals_collect(self) -> None:
        assert await make(1, 2, 3) == [1, 2, 3]
        assert await make(1, 2, 3).collect() == [1, 2, 3]

    async def test_is_async_iterator(self) -> None:
        it = make(1, 2)
        assert isinstance(it, AsyncIterator)
        assert aiter(it) is it
        assert await anext(it) == 1
        assert await anext(it) == 2
        with pytest.raises(StopAsyncIteration):
            await anext(it)

    async def test_single_pass(self) -> None:
        it = make(1, 2, 3)
        assert await anext(it) == 1
        assert await it.collect() == [2, 3]  # continues where iteration stopped
        assert await it.collect() == []

    async def test_accepts_async_iterable_and_cache_iterator(self) -> None:
        assert await CacheIterator(Tracked(1, 2)) == [1, 2]
        assert await CacheIterator(make(1, 2).map(str)) == ["1", "2"]

    def test_rejects_non_async_iterable(self) -> None:
        with pytest.raises(TypeError, match="async iterable"):
            CacheIterator([1, 2, 3])  # pyright: ignore[reportArgumentType]

    def test_slots(self) -> None:
        assert not hasattr(make(1), "__dict__")

    async def test_lazy_until_iterated(self) -> None:
        source = Tracked(1, 2, 3)
        it = CacheIterator(source).filter(lambda x: x > 1).map(str)
        assert source.pulled == 0
        assert await it == ["2", "3"]

    async def test_steps_after_start_rejected(self) -> None:
        it = make(1, 2, 3)
        await anext(it)
        with pytest.raises(RuntimeError):
            it.filter(lambda x: x > 1)

    async def test_steps_on_wrapped_parent_rejected(self) -> None:
        it = make(1, 2, 3)
        it.chunk(2)
        with pytest.raises(RuntimeError):
            it.map(str)

    async def test_repr(self) -> None:
        it = make(1).filter(bool).limit(1)
        assert "Filter" in repr(it)
        assert "Limit" in repr(it)
        await it.aclose()


# -- steps ----------------------------------------------------------------------------------------


class TestSteps:
    async def test_steps_return_self(self) -> None:
        it = make(1, 2, 3)
        assert it.filter(lambda x: x > 0) is it
        assert it.take_while(lambda x: x > 0) is it
        assert it.limit(5) is it
        assert it.map(str) is it
        assert it.enumerate() is it
        await it.aclose()

    async def test_filter_sync_async_and_callable_object(self) -> None:
        assert await make(1, 2, 3, 4).filter(lambda x: x % 2 == 0) == [2, 4]
        assert await make(1, 2, 3, 4).filter(is_even) == [2, 4]
        assert await make(1, 2, 3, 4).filter(lambda x: is_even(x)) == [2, 4]  # lambda returning a coroutine
        assert await make(1, 2, 3, 4).filter(AsyncCallable()) == [3, 4]

    async def test_map_sync_and_async(self) -> None:
        assert await make(1, 2).map(str) == ["1", "2"]
        assert await make(1, 2).map(double) == [2, 4]
        assert await make(1, 2).map(lambda x: double(x)) == [2, 4]

    async def test_steps_apply_in_order(self) -> None:
        assert await make(1, 2, 3, 4).filter(lambda x: x % 2 == 0).map(lambda x: x * 10) == [20, 40]
        assert await make(1, 2, 3, 4).map(lambda x: x * 10).filter(lambda x: x > 20) == [30, 40]
        # limit counts what reaches it: before or after a filter differs.
        assert await make(1, 2, 3, 4, 5, 6).filter(lambda x: x % 2 == 0).limit(2) == [2, 4]
        assert await make(1, 2, 3, 4, 5, 6).limit(2).filter(lambda x: x % 2 == 0) == [2]

    async def test_take_while(self) -> None:
        assert await make(1, 2, 5, 3).take_while(lambda x: x < 4) == [1, 2]
        assert await make(1, 2, 3).take_while(lambda x: x < 10) == [1, 2, 3]
        assert await make(5, 1).take_while(lambda x: x < 3) == []
        assert await make(1, 2, 3, 4).take_while(lambda x: asyncio.sleep(0, x < 3)) == [1, 2]

    async def test_take_while_pulls_one_past_and_closes(self) -> None:
        source = Tracked(1, 2, 5, 3, 4)
        assert await CacheIterator(source).take_while(lambda x: x < 4) == [1, 2]
        assert source.pulled == 3  # the failing item is the only lookahead
        assert source.closed

    async def test_limit(self) -> None:
        assert await make(1, 2, 3).limit(2) == [1, 2]
        assert await make(1, 2, 3).limit(10) == [1, 2, 3]
        assert await make(1, 2, 3).limit(0) == []
        assert await empty().limit(3) == []

    async def test_limit_pulls_exactly_n_and_closes(self) -> None:
        source = Tracked(*range(10))
        assert await CacheIterator(source).limit(2) == [0, 1]
        assert source.pulled == 2
        assert source.closed

    async def test_limit_zero_pulls_nothing(self) -> None:
        source = Tracked(1, 2, 3)
        assert await CacheIterator(source).map(str).limit(0) == []
        assert source.pulled == 0
        assert source.closed

    async def test_limit_after_filter_pulls_only_needed(self) -> None:
        source = Tracked(*range(100))
        assert await CacheIterator(source).filter(lambda x: x % 2 == 0).limit(3) == [0, 2, 4]
        assert source.pulled == 5

    def test_negative_limit(self) -> None:
        with pytest.raises(ValueError, match=">= 0"):
            make(1).limit(-1)

    async def test_enumerate(self) -> None:
        assert await make("a", "b").enumerate() == [(0, "a"), (1, "b")]
        assert await make("a", "b").enumerate(start=5) == [(5, "a"), (6, "b")]
        assert await make(1, 2, 3, 4).filter(lambda x: x % 2 == 0).enumerate() == [(0, 2), (1, 4)]

    async def test_add_step_custom_map_and_filter(self) -> None:
        def triple(item: int) -> tuple[int, bool, bool]:
            return item * 3, False, False

        def skip_odd(item: int) -> tuple[int, bool, bool]:
            return item, item % 2 == 1, False

        it = make(1, 2, 3, 4)
        assert it.add_step(skip_odd) is it
        assert await it.add_step(triple) == [6, 12]

    async def test_add_step_stop_semantics(self) -> None:
        def inclusive(item: int) -> tuple[int, bool, bool]:
            return item, False, item == 3

        def exclusive(item: int) -> tuple[int, bool, bool]:
            return item, item == 3, item == 3

        assert await make(1, 2, 3, 4).add_step(inclusive) == [1, 2, 3]
        assert await make(1, 2, 3, 4).add_step(exclusive) == [1, 2]
        # A value passed on with stop=True still goes through the later steps.
        assert await make(1, 2, 3, 4).add_step(inclusive).map(lambda x: x * 10) == [10, 20, 30]
        assert await make(1, 2, 3, 4).add_step(inclusive).filter(lambda x: x != 3) == [1, 2]

    async def test_add_step_stop_closes_source(self) -> None:
        source = Tracked(1, 2, 3, 4)

        def inclusive(item: int) -> tuple[int, bool, bool]:
            return item, False, item == 2

        assert await CacheIterator(source).add_step(inclusive) == [1, 2]
        assert source.pulled == 2
        assert source.closed

    async def test_add_step_async_and_stateful(self) -> None:
        class Running(CacheIteratorStep[int, int]):
            def __init__(self) -> None:
                self.total = 0

            async def __call__(self, item: int, /) -> tuple[int, bool, bool]:
                self.total += item
                return self.total, False, False

        assert await make(1, 2, 3).add_step(Running()) == [1, 3, 6]

    async def test_predicate_error_propagates_and_closes(self) -> None:
        source = Tracked(1, 2, 3)

        def boom(item: int) -> bool:
            raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            await CacheIterator(source).filter(boom)
        assert source.closed


# -- wrappers -------------------------------------------------------------------------------------


class TestWrappers:
    async def test_wrappers_return_new_iterator(self) -> None:
        wrappers: list[Callable[[CacheIterator[int]], CacheIterator[typing.Any]]] = [
            lambda it: it.chunk(2),
            lambda it: it.flat_map(lambda x: [x]),
            lambda it: it.skip_while(lambda x: False),
            lambda it: it.unique(),
            lambda it: it.zip(agen(1)),
        ]
        for wrap in wrappers:
            base = make(1, 2)
            wrapped = wrap(base)
            assert wrapped is not base
            await wrapped.aclose()

    async def test_chunk(self) -> None:
        assert await make(1, 2, 3, 4, 5).chunk(2) == [[1, 2], [3, 4], [5]]
        assert await make(1, 2, 3, 4).chunk(2) == [[1, 2], [3, 4]]
        assert await make(1, 2).chunk(10) == [[1, 2]]
        assert await make(1, 2, 3, 4, 5).limit(4).chunk(2) == [[1, 2], [3, 4]]
        assert await empty().chunk(3) == []

    async def test_chunk_laziness(self) -> None:
        source = Tracked(*range(10))
        assert await CacheIterator(source).chunk(3).first() == [0, 1, 2]
        assert source.pulled == 3
        assert source.closed

    def test_chunk_size_validation(self) -> None:
        with pytest.raises(ValueError, match=">= 1"):
            make(1).chunk(0)

    async def test_flat_map_kinds_of_results(self) -> None:
        assert await make(1, 2).flat_map(lambda x: agen(x, x * 10)) == [1, 10, 2, 20]
        assert await make(1, 2).flat_map(lambda x: [x, -x]) == [1, -1, 2, -2]
        assert await make(1, 2).flat_map(lambda x: make(*range(x))) == [0, 0, 1]

        async def as_list(x: int) -> list[int]:
            return [x] * x

        assert await make(1, 2).flat_map(as_list) == [1, 2, 2]
        assert await make(1, 2).flat_map(lambda x: empty()) == []
        assert await empty().flat_map(lambda x: [x]) == []

    async def test_flat_map_closes_inner_and_outer_early(self) -> None:
        outer = Tracked(1, 2, 3)
        inners: list[Tracked[int]] = []

        def expand(x: int) -> Tracked[int]:
            inner = Tracked(x, x, x)
            inners.append(inner)
            return inner

        assert await CacheIterator(outer).flat_map(expand).limit(2) == [1, 1]
        assert outer.pulled == 1
        assert outer.closed
        assert len(inners) == 1
        assert inners[0].closed

    async def test_skip_while(self) -> None:
        assert await make(1, 2, 5, 1, 2).skip_while(lambda x: x < 4) == [5, 1, 2]
        assert await make(1, 2).skip_while(lambda x: x < 10) == []
        assert await make(5, 6).skip_while(lambda x: x < 3) == [5, 6]
        assert await make(1, 2, 3, 4).skip_while(is_even) == [1, 2, 3, 4]
        assert await make(2, 4, 5, 6).skip_while(is_even) == [5, 6]

    async def test_skip_while_stops_calling_predicate(self) -> None:
        calls: list[int] = []

        def below_three(x: int) -> bool:
            calls.append(x)
            return x < 3

        assert await make(1, 2, 3, 1, 2).skip_while(below_three) == [3, 1, 2]
        assert calls == [1, 2, 3]

    async def test_unique(self) -> None:
        assert await make(3, 1, 3, 2, 1).unique() == [3, 1, 2]
        assert await make("a", "bb", "c").unique(key=len) == ["a", "bb"]
        assert await make(1, 2, 3, 4).unique(key=lambda x: asyncio.sleep(0, x % 2)) == [1, 2]
        assert await empty().unique() == []

    async def test_zip(self) -> None:
        assert await make(1, 2, 3).zip(agen("a", "b", "c")) == [(1, "a"), (2, "b"), (3, "c")]
        assert await make(1, 2).zip(agen("a", "b", "c")) == [(1, "a"), (2, "b")]
        assert await make(1, 2, 3).zip(make("a")) == [(1, "a")]
        assert await empty().zip(agen(1)) == []

    async def test_zip_closes_both(self) -> None:
        left = Tracked(1, 2, 3)
        right = Tracked("a")
        assert await CacheIterator(left).zip(right) == [(1, "a")]
        assert left.closed
        assert right.closed
        assert left.pulled == 2  # like builtin zip: the left item is pulled before right runs out

    async def test_wrapper_early_stop_closes_source(self) -> None:
        source = Tracked(*range(10))
        assert await CacheIterator(source).unique().skip_while(lambda x: x < 2).first() == 2
        assert source.pulled == 3
        assert source.closed


# -- terminals ------------------------------------------------------------------------------------


class TestTerminals:
    async def test_all_any(self) -> None:
        assert await make(2, 4).all(lambda x: x % 2 == 0) is True
        assert await make(2, 3).all(lambda x: x % 2 == 0) is False
        assert await make(1, 3).any(lambda x: x == 3) is True
        assert await make(1, 3).any(lambda x: x == 2) is False
        assert await make(2, 4).all(is_even) is True
        assert await make(1, 2).any(is_even) is True

    async def test_all_any_short_circuit_and_close(self) -> None:
        source = Tracked(1, 2, 3, 4)
        assert await CacheIterator(source).any(lambda x: x == 2) is True
        assert (source.pulled, source.closed) == (2, True)

        source = Tracked(1, 2, 3, 4)
        assert await CacheIterator(source).all(lambda x: x < 2) is False
        assert (source.pulled, source.closed) == (2, True)

    async def test_count(self) -> None:
        assert await make(1, 2, 3).count() == 3
        assert await make(1, 2, 3, 4).filter(lambda x: x % 2 == 0).count() == 2
        assert await make(1, 2, 3, 4).limit(3).count() == 3

    async def test_find(self) -> None:
        assert await make(1, 2, 3).find(lambda x: x > 1) == 2
        assert await make(1, 2, 3).find(lambda x: x > 5) is None
        assert await make(1, 2, 3).find(is_even) == 2

    async def test_find_and_first_close_early(self) -> None:
        source = Tracked(1, 2, 3, 4)
        assert await CacheIterator(source).find(lambda x: x == 2) == 2
        assert (source.pulled, source.closed) == (2, True)

        source = Tracked(1, 2, 3)
        assert await CacheIterator(source).first() == 1
        assert (source.pulled, source.closed) == (1, True)

    async def test_first_last(self) -> None:
        assert await make(1, 2, 3).first() == 1
        assert await make(1, 2, 3).last() == 3
        assert await make(1, 2, 3).filter(lambda x: x < 3).last() == 2

    async def test_max_min(self) -> None:
        assert await make(3, 1, 4, 1, 5).max() == 5
        assert await make(3, 1, 4, 1, 5).min() == 1
        items = [{"n": "a", "v": 2}, {"n": "b", "v": 5}, {"n": "c", "v": 5}, {"n": "d", "v": 1}]
        assert await make(*items).max(key=lambda d: d["v"]) == {"n": "b", "v": 5}  # first of ties
        assert await make(*items).min(key=lambda d: d["v"]) == {"n": "d", "v": 1}

        async def neg(x: int) -> int:
            return -x

        assert await make(3, 1, 4).max(key=neg) == 1
        assert await make(3, 1, 4).min(key=neg) == 4

    async def test_reduce(self) -> None:
        assert await make(1, 2, 3, 4).reduce(operator.add, 0) == 10
        assert await make(1, 2, 3, 4).reduce(operator.mul) == 24
        assert await make("a", "b").reduce(lambda acc, x: acc + x, "") == "ab"
        assert await make(1, 2, 3).reduce(lambda acc, x: asyncio.sleep(0, [*acc, x]), list[int]()) == [1, 2, 3]
        assert await make(7).reduce(operator.add) == 7

    async def test_reduce_initial_none_is_a_value(self) -> None:
        assert await empty().reduce(lambda acc, x: acc, None) is None

    async def test_sort(self) -> None:
        assert await make(3, 1, 2).sort() == [1, 2, 3]
        assert await make(3, 1, 2).sort(reverse=True) == [3, 2, 1]
        pairs = [(1, "b"), (0, "a"), (1, "a"), (0, "b")]
        assert await make(*pairs).sort(key=lambda p: p[0]) == sorted(pairs, key=lambda p: p[0])
        assert await make(*pairs).sort(key=lambda p: p[0], reverse=True) == sorted(
            pairs, key=lambda p: p[0], reverse=True
        )

        async def second(p: tuple[int, str]) -> str:
            return p[1]

        assert await make(*pairs).sort(key=second) == sorted(pairs, key=lambda p: p[1])

    async def test_terminals_on_empty_input(self) -> None:
        assert await empty().collect() == []
        assert await empty() == []
        assert await empty().count() == 0
        assert await empty().first() is None
        assert await empty().last() is None
        assert await empty().find(lambda x: True) is None
        assert await empty().max() is None
        assert await empty().min() is None
        assert await empty().max(key=lambda x: -x) is None
        assert await empty().all(lambda x: False) is True
        assert await empty().any(lambda x: True) is False
        assert await empty().sort() == []
        assert await empty().reduce(operator.add, 99) == 99
        with pytest.raises(TypeError, match="empty iterable with no initial value"):
            await empty().reduce(operator.add)

    async def test_aclose(self) -> None:
        source = Tracked(1, 2, 3)
        it = CacheIterator(source)
        async for item in it:
            assert item == 1
            break
        await it.aclose()
        assert source.closed
        assert await it.collect() == []
        await it.aclose()  # idempotent

    async def test_aclose_before_start_closes_source(self) -> None:
        source = Tracked(1, 2)
        it = CacheIterator(source)
        await it.aclose()
        assert source.closed
        assert source.pulled == 0
        assert await it == []

    async def test_contextlib_aclosing(self) -> None:
        source = Tracked(1, 2, 3)
        async with contextlib.aclosing(CacheIterator(source)) as it:
            assert await anext(it) == 1
        assert source.closed


# -- pushdown -------------------------------------------------------------------------------------


class TestPushdown:
    def test_protocol_is_structural(self) -> None:
        assert isinstance(FakeQuery(1), _PushdownSource)
        assert not isinstance(Tracked(1), _PushdownSource)

    async def test_limit_first_step_is_pushed_down(self) -> None:
        query = FakeQuery(*range(10))
        it = CacheIterator(query).limit(3)
        assert query.log == ["with_limit(3)"]
        assert it._pipeline == []
        assert await it == [0, 1, 2]

    async def test_repeated_limits_use_the_smaller(self) -> None:
        query = FakeQuery(*range(10))
        assert await CacheIterator(query).limit(5).limit(2).limit(4) == [0, 1]
        assert query.log == ["with_limit(5)", "with_limit(2)", "with_limit(2)", "iterate"]

    async def test_limit_after_a_step_is_not_pushed_down(self) -> None:
        query = FakeQuery(*range(10))
        assert await CacheIterator(query).filter(lambda x: x % 2 == 1).limit(2) == [1, 3]
        assert query.log == ["iterate"]
        assert query.pulled == 4

    async def test_pushed_limit_is_enforced_even_if_ignored(self) -> None:
        query = IgnoresLimit(*range(10))
        assert await CacheIterator(query).limit(2) == [0, 1]
        assert await CacheIterator(IgnoresLimit(*range(10))).limit(2).count() == 2

    async def test_count_without_steps_asks_the_source(self) -> None:
        query = FakeQuery(*range(10))
        assert await CacheIterator(query).count() == 10
        assert query.log == ["count"]
        assert query.pulled == 0

    async def test_count_after_pushed_limit(self) -> None:
        query = FakeQuery(*range(10))
        assert await CacheIterator(query).limit(4).count() == 4
        assert query.log == ["with_limit(4)", "count"]

    async def test_count_with_steps_iterates(self) -> None:
        query = FakeQuery(*range(10))
        assert await CacheIterator(query).filter(lambda x: x < 3).count() == 3
        assert query.log == ["iterate"]

    async def test_first_pushes_limit_one(self) -> None:
        query = FakeQuery(*range(10))
        assert await CacheIterator(query).first() == 0
        assert query.log == ["with_limit(1)", "iterate"]

    async def test_counted_iterator_is_consumed(self) -> None:
        it = CacheIterator(FakeQuery(1, 2))
        assert await it.count() == 2
        assert await it == []


# -- typing ---------------------------------------------------------------------------------------


class TestTyping:
    """Run under pyright strict with the rest of the suite: the assert_type calls are the test."""

    async def test_step_and_wrapper_types(self) -> None:
        ints = make(1, 2, 3)
        assert_type(ints, CacheIterator[int])
        assert_type(ints.filter(lambda x: x > 0), CacheIterator[int])
        assert_type(ints.filter(is_even), CacheIterator[int])
        strs = ints.map(str)
        assert_type(strs, CacheIterator[str])
        assert_type(await strs.collect(), list[str])

        assert_type(make(1).map(double), CacheIterator[int])
        assert_type(make(1).enumerate(), CacheIterator[tuple[int, int]])
        assert_type(make(1).chunk(2), CacheIterator[list[int]])
        assert_type(make(1).zip(agen("a")), CacheIterator[tuple[int, str]])
        assert_type(make(1).flat_map(lambda x: agen(str(x))), CacheIterator[str])
        assert_type(make(1).flat_map(lambda x: [float(x)]), CacheIterator[float])

        def to_bytes(x: int) -> tuple[bytes, bool, bool]:
            return bytes(x), False, False

        assert_type(make(1).add_step(to_bytes), CacheIterator[bytes])
        assert_type(make(1).unique(key=lambda x: x % 2), CacheIterator[int])
        assert_type(make(1).skip_while(lambda x: x < 0), CacheIterator[int])

    async def test_terminal_types(self) -> None:
        assert_type(await make(1), list[int])
        assert_type(await make(1).first(), int | None)
        assert_type(await make(1).last(), int | None)
        assert_type(await make(1).find(lambda x: x > 0), int | None)
        assert_type(await make(1).max(), int | None)
        assert_type(await make("a").min(key=len), str | None)
        assert_type(await make(1).sort(reverse=True), list[int])
        assert_type(await make(1).reduce(operator.add), int)
        assert_type(await make(1).reduce(lambda acc, x: acc + str(x), ""), str)
        assert_type(await make(1).count(), int)
        assert_type(await make(1).all(lambda x: x > 0), bool)

    async def test_covariance_and_protocols(self) -> None:
        class Base: ...

        class Child(Base): ...

        children: CacheIterator[Child] = make(Child())
        bases: CacheIterator[Base] = children  # CacheIterator is covariant in its item type
        items: AsyncIterable[Base] = bases
        assert len([item async for item in items]) == 1

        step: Callable[[int], Awaitable[tuple[str, bool, bool]]]

        async def as_text(x: int) -> tuple[str, bool, bool]:
            return str(x), False, False

        step = as_text
        assert_type(make(1).add_step(step), CacheIterator[str])
        assert await make(1).add_step(step) == ["1"]
