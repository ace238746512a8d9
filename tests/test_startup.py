"""A cache that cannot open stops the bot instead of letting it run without a cache."""

from __future__ import annotations

import typing

import pytest

import hikaripersist as persist
from tests.conftest import make_bot

if typing.TYPE_CHECKING:
    import pathlib


async def test_bot_does_not_start_when_the_backend_cannot_open(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bot = make_bot()
    cache = persist.Cache(bot, persist.SQLiteBackend(blocker / "sub" / "cache.db"))
    network: list[str] = []

    async def fetch_gateway_bot_info(*_: object) -> typing.NoReturn:
        # The first call to Discord after StartingEvent; reaching it means the bot went on starting.
        network.append("fetch_gateway_bot_info")
        raise AssertionError("the bot kept starting without its cache")

    monkeypatch.setattr(type(bot.rest), "fetch_gateway_bot_info", fetch_gateway_bot_info)

    with pytest.raises(persist.CacheStartupError, match="could not open SQLite database") as info:
        await bot.start(check_for_updates=False)
    assert isinstance(info.value.__cause__, persist.BackendError)
    assert str(blocker) in str(info.value)
    assert network == []
    assert not cache.is_open
    await bot.close()


async def test_open_error_is_a_backend_error_naming_the_file(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cache = persist.Cache(make_bot(), persist.SQLiteBackend(blocker / "cache.db"))
    with pytest.raises(persist.BackendError, match="a-file"):
        await cache.open()
    assert not cache.is_open
