"""The server backends' write scripts: kept writes go out before any read that could see them."""

from __future__ import annotations

import typing

from hikaripersist._internal import server

if typing.TYPE_CHECKING:
    import asyncio


class Recording(server.SyncConnection):
    """An engine connection that records what would reach the server, in order."""

    __slots__: typing.Sequence[str] = ("sent",)

    def __init__(self) -> None:
        # Nothing runs on a loop: every method that would reach the server is recorded instead.
        super().__init__(typing.cast("asyncio.AbstractEventLoop", None), None)
        self.sent: list[str] = []

    def run_command(self, sql: str, *args: typing.Any) -> None:
        self.sent.append(f"command {sql}")

    def run_execute(self, sql: str, parameters: typing.Any, /) -> server.Rows:
        self.sent.append(f"execute {sql}")
        return server.Rows([])

    def execute_rows(self, sql: str, rows: list[typing.Any], /) -> bool:
        self.sent.append(f"rows {sql}")
        return True

    def inline(self, sql: str, parameters: typing.Any, /) -> str | None:
        return None if sql.lstrip().upper().startswith("SELECT") else f"{sql} {list(parameters)}"

    def run_script(self, statements: list[str]) -> None:
        self.sent.append("script " + "; ".join(statements))


def test_writes_wait_for_the_next_read_of_their_tables() -> None:
    db = Recording()
    db.execute("UPDATE member_records SET ref_count = ref_count + 1 WHERE guild_id = ?", (1,))
    db.execute("INSERT INTO user_records (id) VALUES (?)", (2,))
    assert db.sent == []
    # Another table: answered at once, the writes still kept.
    db.execute("SELECT 1 FROM messages WHERE id = ?", (3,))
    assert db.sent == ["execute SELECT 1 FROM messages WHERE id = ?"]
    # A view over a kept write's table: the writes go first, in order, in one script.
    db.execute("SELECT COUNT(*) FROM members WHERE guild_id = ?", (1,))
    assert db.sent[1:] == [
        "script UPDATE member_records SET ref_count = ref_count + 1 WHERE guild_id = ? [1];"
        " INSERT INTO user_records (id) VALUES (?) [2]",
        "execute SELECT COUNT(*) FROM members WHERE guild_id = ?",
    ]
    assert db.changes == 2


def test_commands_the_change_log_and_unknown_writes_flush_everything() -> None:
    db = Recording()
    db.execute("DELETE FROM invites WHERE code = ?", ("a",))
    db.command("SAVEPOINT ev")
    assert db.sent == ["script DELETE FROM invites WHERE code = ? ['a']", "command SAVEPOINT ev"]
    db.execute("DELETE FROM invites WHERE code = ?", ("b",))
    db.execute("SELECT kind FROM persist_touched")  # the tracking triggers write it whatever the table
    assert db.sent[2].startswith("script DELETE FROM invites")
    db.execute("WITH x AS (SELECT 1) UPDATE roles SET name = ?", ("n",))  # a write the parser cannot name
    db.execute("SELECT 1 FROM messages")
    assert db.sent[-2].startswith("script WITH x")


def test_a_rolled_back_savepoint_forgets_its_kept_writes() -> None:
    db = Recording()
    db.execute("DELETE FROM roles WHERE id = ?", (1,))
    db.discard()
    db.command("ROLLBACK TO SAVEPOINT ev")
    assert db.sent == ["command ROLLBACK TO SAVEPOINT ev"]
    assert db.changes == 0
