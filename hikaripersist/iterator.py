"""Lazy, chainable asynchronous iteration over cached objects.

Every query of the cache (``cache.channels.all()``, ``cache.roles.where(...)``, ...) returns a
[`CacheIterator`][hikaripersist.iterator.CacheIterator]: an async iterator that applies a
pipeline of steps (filter, map, limit, ...) lazily, one item at a time, and can be awaited to
collect everything into a list.

Predicates, mappers and keys given to any method may be plain functions or coroutine functions:
when a call returns an awaitable (a coroutine, a future, any object with ``__await__``) it is
awaited.  The check is made on the *result*, so lambdas returning coroutines and callable objects
with an ``async def __call__`` work too.  The flip side: a mapper cannot yield awaitables as items
(they are awaited), so wrap them (e.g. in a tuple) if that is really wanted.
"""

from __future__ import annotations

import contextlib
import inspect
import typing
from collections.abc import AsyncIterable, AsyncIterator, Awaitable

if typing.TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Generator, Hashable, Iterable

    from _typeshed import SupportsRichComparison, SupportsRichComparisonT
    from typing_extensions import Self

__all__ = ("CacheIterator", "CacheIteratorStep")

T = typing.TypeVar("T")
U = typing.TypeVar("U")
T_co = typing.TypeVar("T_co", covariant=True)
_InT = typing.TypeVar("_InT", contravariant=True)
_OutT = typing.TypeVar("_OutT", covariant=True)


class CacheIteratorStep(typing.Protocol[_InT, _OutT]):
    """A custom pipeline step, added with [`CacheIterator.add_step`][].

    A step is any callable taking one item and returning ``(value, skip, stop)``:

    | ``skip``  | ``stop``  | effect                                        |
    | --------- | --------- | --------------------------------------------- |
    | ``False`` | ``False`` | pass ``value`` on to the next step, continue  |
    | ``True``  | ``False`` | drop this item, continue with the next one    |
    | ``False`` | ``True``  | pass ``value`` on, then stop after this item  |
    | ``True``  | ``True``  | drop this item and stop                       |

    ``value`` replaces the item for the following steps, so a step can map as well as filter.
    A value passed on with ``stop=True`` still goes through the remaining steps (which may
    transform or drop it); iteration ends once it has been handled.  The call may also return an
    awaitable of that tuple (e.g. an ``async def __call__``); it is awaited.

    A step is created once per iterator and called once per item in order, so it may keep state
    (counters, "seen" sets).

    Examples
    --------
    A step that yields items up to and including the first one matching a predicate:

    >>> class UntilInclusive:
    ...     def __init__(self, predicate):
    ...         self.predicate = predicate
    ...
    ...     def __call__(self, item):
    ...         return item, False, bool(self.predicate(item))
    >>> # await cache.channels.all().add_step(UntilInclusive(lambda c: c.name == "rules"))
    """

    __slots__ = ()

    def __call__(self, item: _InT, /) -> tuple[_OutT, bool, bool] | Awaitable[tuple[_OutT, bool, bool]]:
        """Process one item.

        Parameters
        ----------
        item : _InT
            The current item (as produced by the previous step).

        Returns
        -------
        tuple[_OutT, bool, bool] | Awaitable[tuple[_OutT, bool, bool]]
            ``(value, skip, stop)``, or an awaitable of it.
        """
        ...


@typing.runtime_checkable
class _PushdownSource(typing.Protocol[T_co]):
    """Optional protocol for iterator sources that can do work themselves (e.g. in SQL).

    A source implementing both methods lets [`CacheIterator`][] avoid pulling rows it would
    throw away:

    * ``limit(n)`` called while the iterator has no step yet becomes
      ``source.with_limit(n)`` (e.g. a SQL ``LIMIT``) instead of a step; calling ``limit`` again
      before any other step calls ``with_limit`` on the *original* source with the smaller value,
      so implementations need not compose limits.  The iterator still stops after ``n`` items
      even if the returned source ignores the limit.
    * ``count()`` with no step becomes ``await source.count()`` (e.g. ``SELECT COUNT(*)``).  The
      source returned by ``with_limit`` should respect its limit in ``count()``; the iterator
      also clamps the answer to the limit.

    The check is structural (``isinstance`` against this runtime-checkable protocol), so sources
    do not need to inherit from it.
    """

    __slots__ = ()

    def __aiter__(self) -> AsyncIterator[T_co]:
        """Start iterating the source."""
        ...

    def with_limit(self, limit: int, /) -> AsyncIterable[T_co]:
        """Return a source yielding at most ``limit`` items (``limit >= 0``)."""
        ...

    async def count(self) -> int:
        """Return how many items the source would yield."""
        ...


class _Missing:
    """Sentinel type for "argument not given" (``None`` is a valid ``reduce`` initial)."""

    __slots__ = ()


_MISSING = _Missing()


async def _aclose(obj: object) -> None:
    # Release database cursors and the like: only objects that expose ``aclose`` hold any.
    close = getattr(obj, "aclose", None)
    if close is not None:
        await close()


async def _exhausted() -> AsyncGenerator[typing.Any, None]:
    # An async generator that yields nothing: the state of a closed or consumed iterator.
    return
    yield  # pragma: no cover - makes this an async generator


# Internal steps return a tuple on the fast (sync) path and a coroutine only when the user's
# callable returned an awaitable, so sync pipelines never pay for a coroutine per item.


class _Filter:
    __slots__ = ("_predicate",)

    def __init__(self, predicate: Callable[[typing.Any], object]) -> None:
        self._predicate = predicate

    def __call__(self, item: typing.Any) -> typing.Any:
        result = self._predicate(item)
        if inspect.isawaitable(result):
            return self._finish(item, result)
        return item, not result, False

    @staticmethod
    async def _finish(item: typing.Any, pending: Awaitable[object]) -> tuple[typing.Any, bool, bool]:
        return item, not await pending, False


class _Map:
    __slots__ = ("_func",)

    def __init__(self, func: Callable[[typing.Any], typing.Any]) -> None:
        self._func = func

    def __call__(self, item: typing.Any) -> typing.Any:
        result = self._func(item)
        if inspect.isawaitable(result):
            return self._finish(result)
        return result, False, False

    @staticmethod
    async def _finish(pending: Awaitable[typing.Any]) -> tuple[typing.Any, bool, bool]:
        return await pending, False, False


class _TakeWhile:
    __slots__ = ("_predicate",)

    def __init__(self, predicate: Callable[[typing.Any], object]) -> None:
        self._predicate = predicate

    def __call__(self, item: typing.Any) -> typing.Any:
        result = self._predicate(item)
        if inspect.isawaitable(result):
            return self._finish(item, result)
        return (item, False, False) if result else (item, True, True)

    @staticmethod
    async def _finish(item: typing.Any, pending: Awaitable[object]) -> tuple[typing.Any, bool, bool]:
        return (item, False, False) if await pending else (item, True, True)


class _Limit:
    __slots__ = ("remaining",)

    def __init__(self, limit: int) -> None:
        self.remaining = limit

    def __call__(self, item: typing.Any) -> tuple[typing.Any, bool, bool]:
        # Stop *with* the n-th item so the source is never asked for an (n+1)-th.
        self.remaining -= 1
        return item, False, self.remaining <= 0


class _Enumerate:
    __slots__ = ("_index",)

    def __init__(self, start: int) -> None:
        self._index = start

    def __call__(self, item: typing.Any) -> tuple[typing.Any, bool, bool]:
        index = self._index
        self._index = index + 1
        return (index, item), False, False


class CacheIterator(AsyncIterator[T_co]):
    """A lazy, chainable async iterator over cached objects.

    Wraps any async iterable.  Nothing is pulled from the source until the iterator is iterated
    (``async for``), awaited, or a terminal method (``collect``, ``first``, ``count``, ...) is
    called.  It is single-pass, like any iterator: terminal methods consume it, and a second
    ``async for`` continues where the first stopped.

    Methods fall into three groups:

    * **Steps** (``filter``, ``map``, ``take_while``, ``limit``, ``enumerate``, ``add_step``)
      append to this iterator's pipeline and return the *same* iterator (retyped where the item
      type changes).  They run in the order they were added.  They must be added before
      iteration starts.
    * **Wrappers** (``chunk``, ``flat_map``, ``skip_while``, ``unique``, ``zip``) return a *new*
      iterator reading from this one; this one can then no longer get steps.
    * **Terminals** (``all``, ``any``, ``collect``, ``count``, ``find``, ``first``, ``last``,
      ``max``, ``min``, ``reduce``, ``sort``) are coroutines that consume the iterator.

    The source is closed (its ``aclose()`` awaited, if it has one) as soon as iteration ends,
    including when it ends early (``limit``, ``take_while``, ``first``, ``find``, ``any``,
    ``all``, an exception, or [`aclose`][hikaripersist.iterator.CacheIterator.aclose]), so
    database cursors are released promptly.  A plain ``async for`` left with ``break`` closes
    the source when the iterator is garbage collected; call ``aclose()`` (or use
    ``contextlib.aclosing``) to release it at once.

    Empty input: ``first``, ``last``, ``find``, ``max`` and ``min`` return ``None``; ``all``
    returns ``True``, ``any`` ``False``, ``count`` ``0``, ``collect``/``sort`` ``[]``;
    ``reduce`` returns ``initial``, or raises `TypeError` without one (like
    `functools.reduce`).

    Parameters
    ----------
    source : AsyncIterable[T_co]
        The items to iterate over (an async generator, another ``CacheIterator``, a query
        object, ...).  A source may implement the optional pushdown protocol
        (``with_limit(n)`` and ``async count()``) to have ``limit``/``count`` done at the source.

    Raises
    ------
    TypeError
        If ``source`` is not an async iterable.

    Examples
    --------
    >>> async def numbers():
    ...     for i in range(10):
    ...         yield i
    >>> async def letters():
    ...     for letter in "abc":
    ...         yield letter
    >>> await CacheIterator(numbers()).filter(lambda n: n % 2 == 0).map(str).limit(3)
    ['0', '2', '4']
    >>> async for channel in cache.channels.all().filter(lambda c: c.name.startswith("log")):
    ...     print(channel.name)
    """

    __slots__ = ("_frozen", "_gen", "_origin", "_pipeline", "_source", "_source_limit")

    def __init__(self, source: AsyncIterable[T_co]) -> None:
        if not hasattr(source, "__aiter__"):
            msg = f"CacheIterator source must be an async iterable, not {type(source).__name__}"
            raise TypeError(msg)

        self._source: AsyncIterable[typing.Any] = source
        # The source before any ``with_limit`` pushdown, so repeated limits do not stack.
        self._origin: AsyncIterable[typing.Any] = source
        self._source_limit: int | None = None
        self._pipeline: list[CacheIteratorStep[typing.Any, typing.Any]] = []
        self._gen: AsyncGenerator[typing.Any, None] | None = None
        self._frozen = False

    def __repr__(self) -> str:
        steps = ", ".join(type(step).__name__.lstrip("_") for step in self._pipeline)
        state = "started" if self._gen is not None else "pending"
        return f"CacheIterator(source={self._source!r}, steps=[{steps}], {state})"

    # -- iteration protocol ------------------------------------------------------------------

    def __aiter__(self) -> Self:
        """Return the iterator itself."""
        return self

    def __anext__(self) -> Awaitable[T_co]:
        """Return an awaitable of the next item (raising `StopAsyncIteration` at the end)."""
        gen = self._gen  # (called per item: one call less once started)
        return (gen if gen is not None else self._generator()).__anext__()

    def __await__(self) -> Generator[typing.Any, None, list[T_co]]:
        """Collect all items; ``await it`` is the same as ``await it.collect()``."""
        return self.collect().__await__()

    async def aclose(self) -> None:
        """Stop iterating and close the source.

        Safe to call more than once and before iteration starts; afterwards the iterator is
        exhausted.

        Examples
        --------
        >>> it = cache.members.all()
        >>> async for member in it:
        ...     if member.nickname == "target":
        ...         break
        >>> await it.aclose()  # release the database cursor now rather than at collection
        """
        gen = self._gen
        if gen is None:
            self._gen = gen = _exhausted()
            self._frozen = True
            await _aclose(self._source)
        await gen.aclose()

    def _generator(self) -> AsyncGenerator[typing.Any, None]:
        gen = self._gen
        if gen is None:
            source = aiter(self._source) if not self._pipeline and self._source_limit is None else None
            # With no step to apply, a source that is an async generator already behaves as `_run`
            # would (it closes itself when done), one layer less per item.
            gen = typing.cast("AsyncGenerator[typing.Any, None]", source) if inspect.isasyncgen(source) else self._run()
            self._gen = gen
            self._frozen = True
        return gen

    def _check_mutable(self) -> None:
        if self._frozen:
            msg = "cannot add steps to a CacheIterator that has started, been consumed or been wrapped"
            raise RuntimeError(msg)

    def _can_push_down(self) -> bool:
        return not self._frozen and not self._pipeline and isinstance(self._origin, _PushdownSource)

    async def _run(self) -> AsyncGenerator[typing.Any, None]:
        steps: list[CacheIteratorStep[typing.Any, typing.Any]] = list(self._pipeline)
        if self._source_limit is not None:
            # Enforce a pushed-down limit too, in case the source ignores it.
            steps.insert(0, _Limit(self._source_limit))

        iterator = aiter(self._source)
        try:
            if any(type(step) is _Limit and step.remaining <= 0 for step in steps):
                return  # limit(0) somewhere: nothing can come out, so pull nothing.

            if not steps:
                async for item in iterator:
                    yield item
                return

            async for item in iterator:
                value = item
                skip = stop = False
                for step in steps:
                    result = step(value)
                    if type(result) is not tuple and inspect.isawaitable(result):
                        result = await result
                    value, skip, halt = result
                    stop = stop or halt
                    if skip:
                        break

                if not skip:
                    yield value
                if stop:
                    return
        finally:
            await _aclose(iterator)

    def _wrap(self, source: AsyncIterable[U]) -> CacheIterator[U]:
        # This iterator now feeds ``source``; steps added here afterwards would be surprising.
        self._frozen = True
        return CacheIterator(source)

    # -- steps (return self) -----------------------------------------------------------------

    def add_step(self, step: CacheIteratorStep[T_co, U]) -> CacheIterator[U]:
        """Append a custom step to the pipeline.

        Parameters
        ----------
        step : CacheIteratorStep[T_co, U]
            A callable returning ``(value, skip, stop)`` (or an awaitable of it) for each item;
            see [`CacheIteratorStep`][hikaripersist.iterator.CacheIteratorStep].

        Returns
        -------
        CacheIterator[U]
            This iterator, retyped to the step's output type.

        Raises
        ------
        RuntimeError
            If iteration has already started.

        Examples
        --------
        >>> def double(item):
        ...     return item * 2, False, False
        >>> await CacheIterator(numbers()).add_step(double).limit(3)
        [0, 2, 4]
        """
        self._check_mutable()
        self._pipeline.append(step)
        return typing.cast("CacheIterator[U]", self)

    def enumerate(self, start: int = 0) -> CacheIterator[tuple[int, T_co]]:
        """Pair each item with its index, counting from ``start``.

        Only items that reach this step are counted (items dropped by earlier filters are not).

        Parameters
        ----------
        start : int
            The first index.

        Returns
        -------
        CacheIterator[tuple[int, T_co]]
            This iterator, now yielding ``(index, item)`` tuples.

        Examples
        --------
        >>> await CacheIterator(letters()).enumerate(start=1)
        [(1, 'a'), (2, 'b'), (3, 'c')]
        """
        self._check_mutable()
        self._pipeline.append(_Enumerate(start))
        return typing.cast("CacheIterator[tuple[int, T_co]]", self)

    def filter(self, predicate: Callable[[T_co], bool | Awaitable[bool]]) -> Self:
        """Keep only the items for which ``predicate`` is truthy.

        Parameters
        ----------
        predicate : Callable[[T_co], bool | Awaitable[bool]]
            Called with each item; may be sync or async.

        Returns
        -------
        Self
            This iterator.

        Examples
        --------
        >>> cache.channels.all().filter(lambda c: c.type == hikari.ChannelType.GUILD_TEXT)
        """
        self._check_mutable()
        self._pipeline.append(_Filter(predicate))
        return self

    def limit(self, size: int) -> Self:
        """Yield at most ``size`` items (those reaching this step), then stop.

        The iterator stops right after the ``size``-th item without pulling another one from
        the source, and ``limit(0)`` pulls nothing at all.  When this is the first step and the
        source supports the pushdown protocol, the limit is handed to the source
        (``source.with_limit(size)``, e.g. a SQL ``LIMIT``) instead.

        Parameters
        ----------
        size : int
            The maximum number of items; must be ``>= 0``.

        Returns
        -------
        Self
            This iterator.

        Raises
        ------
        ValueError
            If ``size`` is negative.

        Notes
        -----
        Steps apply in order: ``limit(2).filter(p)`` takes two items and then filters them,
        ``filter(p).limit(2)`` yields the first two items passing ``p``.

        Examples
        --------
        >>> await CacheIterator(numbers()).limit(3)
        [0, 1, 2]
        """
        if size < 0:
            msg = f"limit must be >= 0, not {size}"
            raise ValueError(msg)
        self._check_mutable()

        if self._can_push_down():
            if self._source_limit is not None:
                size = min(size, self._source_limit)
            self._source_limit = size
            self._source = typing.cast("_PushdownSource[typing.Any]", self._origin).with_limit(size)
        else:
            self._pipeline.append(_Limit(size))
        return self

    @typing.overload
    def map(self, func: Callable[[T_co], Awaitable[U]]) -> CacheIterator[U]: ...

    @typing.overload
    def map(self, func: Callable[[T_co], U]) -> CacheIterator[U]: ...

    def map(self, func: Callable[[T_co], typing.Any]) -> CacheIterator[typing.Any]:
        """Replace each item with ``func(item)``.

        Parameters
        ----------
        func : Callable[[T_co], U | Awaitable[U]]
            Called with each item; may be sync or async (an awaitable result is awaited).

        Returns
        -------
        CacheIterator[U]
            This iterator, retyped to the mapped type.

        Examples
        --------
        >>> names = await cache.roles.all().map(lambda role: role.name)
        """
        self._check_mutable()
        self._pipeline.append(_Map(func))
        return self

    def take_while(self, predicate: Callable[[T_co], bool | Awaitable[bool]]) -> Self:
        """Yield items while ``predicate`` is truthy; stop at the first item failing it.

        The failing item is pulled (there is no other way to know) but not yielded, and the
        source is closed right after it.

        Parameters
        ----------
        predicate : Callable[[T_co], bool | Awaitable[bool]]
            Called with each item; may be sync or async.

        Returns
        -------
        Self
            This iterator.

        Examples
        --------
        >>> await CacheIterator(numbers()).take_while(lambda n: n < 3)
        [0, 1, 2]
        """
        self._check_mutable()
        self._pipeline.append(_TakeWhile(predicate))
        return self

    # -- wrappers (return a new iterator) --------------------------------------------------------

    def chunk(self, size: int) -> CacheIterator[list[T_co]]:
        """Group items into lists of ``size`` (the last one may be shorter).

        Parameters
        ----------
        size : int
            Items per chunk; must be ``>= 1``.

        Returns
        -------
        CacheIterator[list[T_co]]
            A new iterator over the chunks.

        Raises
        ------
        ValueError
            If ``size`` is less than 1.

        Examples
        --------
        >>> await CacheIterator(numbers()).limit(5).chunk(2)
        [[0, 1], [2, 3], [4]]
        """
        if size < 1:
            msg = f"chunk size must be >= 1, not {size}"
            raise ValueError(msg)
        return self._wrap(_chunked(self, size))

    def flat_map(
        self,
        func: Callable[[T_co], AsyncIterable[U] | Iterable[U] | Awaitable[Iterable[U]]],
    ) -> CacheIterator[U]:
        """Map each item to several items and yield them all, in order.

        Parameters
        ----------
        func : Callable[[T_co], AsyncIterable[U] | Iterable[U] | Awaitable[Iterable[U]]]
            Called with each item; returns an async iterable (async generator,
            ``CacheIterator``, ...), a plain iterable, or an awaitable of a plain iterable (an
            ``async def`` returning a list).  Async iterables are consumed lazily and closed
            when done.

        Returns
        -------
        CacheIterator[U]
            A new iterator over the flattened items.

        Examples
        --------
        >>> roles = cache.guilds.all().flat_map(lambda g: cache.roles.where(guild_id=g.id))
        """
        return self._wrap(_flat_mapped(self, func))

    def skip_while(self, predicate: Callable[[T_co], bool | Awaitable[bool]]) -> CacheIterator[T_co]:
        """Drop items while ``predicate`` is truthy, then yield every remaining item.

        The predicate is not called again once it has returned a falsy value.

        Parameters
        ----------
        predicate : Callable[[T_co], bool | Awaitable[bool]]
            Called with each leading item; may be sync or async.

        Returns
        -------
        CacheIterator[T_co]
            A new iterator.

        Examples
        --------
        >>> await CacheIterator(numbers()).skip_while(lambda n: n < 7)
        [7, 8, 9]
        """
        return self._wrap(_skipping(self, predicate))

    def unique(self, *, key: Callable[[T_co], Hashable | Awaitable[Hashable]] | None = None) -> CacheIterator[T_co]:
        """Drop items equal to (or with the same ``key`` as) an earlier item.

        The first occurrence is kept.  Items, or their keys, must be hashable; every distinct
        key seen is remembered for the whole iteration.

        Parameters
        ----------
        key : Callable[[T_co], Hashable | Awaitable[Hashable]] | None
            If given, items are compared by ``key(item)`` (sync or async) instead of the item.

        Returns
        -------
        CacheIterator[T_co]
            A new iterator.

        Examples
        --------
        >>> guild_ids = await cache.members.all().map(lambda m: m.guild_id).unique()
        """
        return self._wrap(_deduplicated(self, key))

    def zip(self, other: AsyncIterable[U]) -> CacheIterator[tuple[T_co, U]]:
        """Pair items with those of ``other``, stopping when either runs out.

        Like the builtin ``zip``, an item is pulled from this iterator before ``other`` is
        asked, so when ``other`` is shorter one extra item of this iterator is consumed.  Both
        are closed when the zip ends.

        Parameters
        ----------
        other : AsyncIterable[U]
            Any async iterable, e.g. another ``CacheIterator``.

        Returns
        -------
        CacheIterator[tuple[T_co, U]]
            A new iterator over ``(item, other_item)`` pairs.

        Examples
        --------
        >>> await CacheIterator(numbers()).zip(letters())
        [(0, 'a'), (1, 'b'), (2, 'c')]
        """
        return self._wrap(_zipped(self, other))

    # -- terminals -----------------------------------------------------------------------------

    async def all(self, predicate: Callable[[T_co], bool | Awaitable[bool]]) -> bool:
        """Return whether ``predicate`` is truthy for every item (``True`` when empty).

        Stops and closes the source at the first item failing the predicate.

        Parameters
        ----------
        predicate : Callable[[T_co], bool | Awaitable[bool]]
            Called with each item; may be sync or async.

        Returns
        -------
        bool
            ``False`` if any item fails the predicate, otherwise ``True``.

        Examples
        --------
        >>> await cache.roles.where(guild_id=guild_id).all(lambda r: not r.is_managed)
        """
        gen = self._generator()
        async with contextlib.aclosing(gen):
            async for item in gen:
                result = predicate(item)
                if inspect.isawaitable(result):
                    result = await result
                if not result:
                    return False
        return True

    async def any(self, predicate: Callable[[T_co], bool | Awaitable[bool]]) -> bool:
        """Return whether ``predicate`` is truthy for at least one item (``False`` when empty).

        Stops and closes the source at the first item passing the predicate.

        Parameters
        ----------
        predicate : Callable[[T_co], bool | Awaitable[bool]]
            Called with each item; may be sync or async.

        Returns
        -------
        bool
            ``True`` if any item passes the predicate, otherwise ``False``.

        Examples
        --------
        >>> await cache.channels.all().any(lambda c: c.name == "general")
        """
        gen = self._generator()
        async with contextlib.aclosing(gen):
            async for item in gen:
                result = predicate(item)
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return True
        return False

    async def collect(self) -> list[T_co]:
        """Return all (remaining) items as a list; ``await it`` does the same.

        Returns
        -------
        list[T_co]
            The items, in order (empty if there are none).

        Examples
        --------
        >>> channels = await cache.channels.all().collect()
        """
        gen = self._generator()
        async with contextlib.aclosing(gen):
            return [item async for item in gen]

    async def count(self) -> int:
        """Return the number of items, consuming the iterator.

        With no steps and a source supporting the pushdown protocol, the source is asked
        (``await source.count()``, e.g. a SQL ``COUNT``) instead of pulling every item.

        Returns
        -------
        int
            The number of items (``0`` when empty).

        Examples
        --------
        >>> await cache.members.where(guild_id=guild_id).count()
        """
        if self._can_push_down() and isinstance(self._source, _PushdownSource):
            total = await self._source.count()
            if self._source_limit is not None:
                total = min(total, self._source_limit)
            await self.aclose()  # consumed either way, as when counting by iteration
            return total

        total = 0
        gen = self._generator()
        async with contextlib.aclosing(gen):
            async for _ in gen:
                total += 1
        return total

    async def find(self, predicate: Callable[[T_co], bool | Awaitable[bool]]) -> T_co | None:
        """Return the first item for which ``predicate`` is truthy, or ``None``.

        Stops and closes the source at the first match.

        Parameters
        ----------
        predicate : Callable[[T_co], bool | Awaitable[bool]]
            Called with each item; may be sync or async.

        Returns
        -------
        T_co | None
            The first matching item, or ``None`` if none matches (or there are no items).

        Examples
        --------
        >>> general = await cache.channels.all().find(lambda c: c.name == "general")
        """
        gen = self._generator()
        async with contextlib.aclosing(gen):
            async for item in gen:
                result = predicate(item)
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return typing.cast("T_co", item)
        return None

    async def first(self) -> T_co | None:
        """Return the first item, or ``None`` if there is none.

        Pulls exactly one item and closes the source; with no steps and a pushdown source the
        source is limited to one item (e.g. ``LIMIT 1``).

        Returns
        -------
        T_co | None
            The first item, or ``None``.

        Examples
        --------
        >>> role = await cache.roles.where(name="Moderator").first()
        """
        if self._can_push_down():
            self.limit(1)
        gen = self._generator()
        async with contextlib.aclosing(gen):
            async for item in gen:
                return typing.cast("T_co", item)
        return None

    async def last(self) -> T_co | None:
        """Return the last item, or ``None`` if there is none.

        Returns
        -------
        T_co | None
            The last item, or ``None``.

        Examples
        --------
        >>> newest = await cache.channels.all().last()
        """
        last: typing.Any = None
        gen = self._generator()
        async with contextlib.aclosing(gen):
            async for item in gen:
                last = item
        return typing.cast("T_co | None", last)

    @typing.overload
    async def max(
        self: CacheIterator[SupportsRichComparisonT], *, key: None = None
    ) -> SupportsRichComparisonT | None: ...

    @typing.overload
    async def max(
        self, *, key: Callable[[T_co], SupportsRichComparison | Awaitable[SupportsRichComparison]]
    ) -> T_co | None: ...

    async def max(self, *, key: Callable[[typing.Any], typing.Any] | None = None) -> typing.Any:
        """Return the largest item (the first one on ties), or ``None`` if there is none.

        Parameters
        ----------
        key : Callable[[T_co], SupportsRichComparison | Awaitable[SupportsRichComparison]] | None
            If given, items are compared by ``key(item)`` (sync or async); otherwise the items
            themselves must be comparable.

        Returns
        -------
        T_co | None
            The largest item, or ``None``.

        Examples
        --------
        >>> top = await cache.roles.where(guild_id=guild_id).max(key=lambda r: r.position)
        """
        return await self._extreme(key, maximum=True)

    @typing.overload
    async def min(
        self: CacheIterator[SupportsRichComparisonT], *, key: None = None
    ) -> SupportsRichComparisonT | None: ...

    @typing.overload
    async def min(
        self, *, key: Callable[[T_co], SupportsRichComparison | Awaitable[SupportsRichComparison]]
    ) -> T_co | None: ...

    async def min(self, *, key: Callable[[typing.Any], typing.Any] | None = None) -> typing.Any:
        """Return the smallest item (the first one on ties), or ``None`` if there is none.

        Parameters
        ----------
        key : Callable[[T_co], SupportsRichComparison | Awaitable[SupportsRichComparison]] | None
            If given, items are compared by ``key(item)`` (sync or async); otherwise the items
            themselves must be comparable.

        Returns
        -------
        T_co | None
            The smallest item, or ``None``.

        Examples
        --------
        >>> oldest = await cache.members.all().min(key=lambda m: m.joined_at)
        """
        return await self._extreme(key, maximum=False)

    async def _extreme(self, key: Callable[[typing.Any], typing.Any] | None, *, maximum: bool) -> typing.Any:
        best: typing.Any = None
        best_key: typing.Any = _MISSING
        gen = self._generator()
        async with contextlib.aclosing(gen):
            async for item in gen:
                item_key = item if key is None else key(item)
                if key is not None and inspect.isawaitable(item_key):
                    item_key = await item_key
                # Strict comparison keeps the first of equal items, like the builtins.
                if best_key is _MISSING or (item_key > best_key if maximum else item_key < best_key):
                    best, best_key = item, item_key
        return best

    @typing.overload
    async def reduce(self: CacheIterator[T], func: Callable[[T, T], T | Awaitable[T]]) -> T: ...

    @typing.overload
    async def reduce(self, func: Callable[[U, T_co], U | Awaitable[U]], initial: U) -> U: ...

    async def reduce(self, func: Callable[[typing.Any, typing.Any], typing.Any], initial: object = _MISSING) -> object:
        """Fold the items into one value: ``func(...func(func(initial, a), b)..., z)``.

        Parameters
        ----------
        func : Callable[[U, T_co], U | Awaitable[U]]
            Called with the accumulated value and the next item; may be sync or async.
        initial : U
            The starting value.  If omitted, the first item is used (and the fold starts at
            the second), as with `functools.reduce`.

        Returns
        -------
        U
            The folded value; ``initial`` when there are no items.

        Raises
        ------
        TypeError
            If there are no items and no ``initial`` was given.

        Examples
        --------
        >>> total = await cache.guilds.all().map(lambda g: g.member_count or 0).reduce(operator.add, 0)
        """
        gen = self._generator()
        async with contextlib.aclosing(gen):
            accumulated: typing.Any = initial
            if isinstance(accumulated, _Missing):
                try:
                    accumulated = await anext(gen)
                except StopAsyncIteration:
                    msg = "reduce() of empty iterable with no initial value"
                    raise TypeError(msg) from None
            async for item in gen:
                accumulated = func(accumulated, item)
                if inspect.isawaitable(accumulated):
                    accumulated = await accumulated
        return accumulated

    @typing.overload
    async def sort(
        self: CacheIterator[SupportsRichComparisonT], *, key: None = None, reverse: bool = False
    ) -> list[SupportsRichComparisonT]: ...

    @typing.overload
    async def sort(
        self,
        *,
        key: Callable[[T_co], SupportsRichComparison | Awaitable[SupportsRichComparison]],
        reverse: bool = False,
    ) -> list[T_co]: ...

    async def sort(
        self, *, key: Callable[[typing.Any], typing.Any] | None = None, reverse: bool = False
    ) -> list[typing.Any]:
        """Collect all items and return them sorted (stable, like `sorted`).

        Parameters
        ----------
        key : Callable[[T_co], SupportsRichComparison | Awaitable[SupportsRichComparison]] | None
            If given, items are sorted by ``key(item)`` (sync or async; computed once per
            item); otherwise the items themselves must be comparable.
        reverse : bool
            Sort in descending order.

        Returns
        -------
        list[T_co]
            The sorted items (empty if there are none).

        Examples
        --------
        >>> roles = await cache.roles.where(guild_id=guild_id).sort(key=lambda r: r.position, reverse=True)
        """
        items: list[typing.Any] = await self.collect()
        if key is None:
            return sorted(items, reverse=reverse)

        keys: list[typing.Any] = []
        for item in items:
            item_key = key(item)
            if inspect.isawaitable(item_key):
                item_key = await item_key
            keys.append(item_key)
        # Sorting indices by key gives exactly ``sorted(items, key=key, reverse=reverse)``.
        order = sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)
        return [items[index] for index in order]


# -- wrapper sources -----------------------------------------------------------------------------
# Each owns its parent iterator(s) and closes them in ``finally`` so that an early stop downstream
# releases the underlying source.


async def _chunked(parent: CacheIterator[T], size: int) -> AsyncGenerator[list[T], None]:
    async with contextlib.aclosing(parent):
        bucket: list[T] = []
        async for item in parent:
            bucket.append(item)
            if len(bucket) >= size:
                yield bucket
                bucket = []
        if bucket:
            yield bucket


async def _flat_mapped(
    parent: CacheIterator[T],
    func: Callable[[T], AsyncIterable[U] | Iterable[U] | Awaitable[Iterable[U]]],
) -> AsyncGenerator[U, None]:
    async with contextlib.aclosing(parent):
        async for item in parent:
            inner: typing.Any = func(item)
            # Async iterables first: a CacheIterator is also awaitable but should stream.
            if not isinstance(inner, AsyncIterable) and inspect.isawaitable(inner):
                inner = await inner
            if isinstance(inner, AsyncIterable):
                iterator = aiter(typing.cast("AsyncIterable[U]", inner))
                try:
                    async for sub in iterator:
                        yield sub
                finally:
                    await _aclose(iterator)
            else:
                for sub in typing.cast("Iterable[U]", inner):
                    yield sub


async def _skipping(
    parent: CacheIterator[T], predicate: Callable[[T], bool | Awaitable[bool]]
) -> AsyncGenerator[T, None]:
    async with contextlib.aclosing(parent):
        async for item in parent:
            result = predicate(item)
            if inspect.isawaitable(result):
                result = await result
            if not result:
                yield item
                break
        # The same iterator continues after the break, so the predicate is not called again.
        async for item in parent:
            yield item


async def _deduplicated(
    parent: CacheIterator[T], key: Callable[[T], Hashable | Awaitable[Hashable]] | None
) -> AsyncGenerator[T, None]:
    seen: set[typing.Any] = set()
    async with contextlib.aclosing(parent):
        async for item in parent:
            item_key: typing.Any = item
            if key is not None:
                item_key = key(item)
                if inspect.isawaitable(item_key):
                    item_key = await item_key
            if item_key not in seen:
                seen.add(item_key)
                yield item


async def _zipped(parent: CacheIterator[T], other: AsyncIterable[U]) -> AsyncGenerator[tuple[T, U], None]:
    other_iterator = aiter(other)
    try:
        async with contextlib.aclosing(parent):
            async for item in parent:
                try:
                    other_item = await anext(other_iterator)
                except StopAsyncIteration:
                    return
                yield item, other_item
    finally:
        await _aclose(other_iterator)
