"""A stand-in for Discord's network on 127.0.0.1: its REST API and its gateway, over real HTTP and websockets.

The framework tests run a real `hikari.GatewayBot` with ``bot.start()``: hikari fetches
``/gateway/bot`` from this server, connects its shard to this server's websocket (zlib-stream
compressed, as hikari asks), identifies, receives READY and whatever the test sends. Commands
answer interactions through the REST routes below, which record every request. Only Discord
itself is replaced; hikari, the frameworks and the database are the real ones.

Every step is recorded in [`FakeDiscord.timeline`][] (``"shard 0 identified"``,
``"shard 0 disconnected"``, ``"POST /interactions/.../callback"``) so tests can assert the order
of a cache's open/close against the shards' lifetime.
"""

from __future__ import annotations

__all__ = ("APPLICATION_ID", "FakeDiscord", "Request", "display_name", "interaction_payload", "new_member")

import asyncio
import dataclasses
import itertools
import re
import typing
import zlib

import aiohttp
import aiohttp.web
import orjson

from hikaripersist._internal import gateway_session, offline

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    import hikari

Payload = dict[str, typing.Any]

APPLICATION_ID: typing.Final = gateway_session.BOT_APPLICATION_ID
_HEARTBEAT_INTERVAL_MS: typing.Final = 45_000
_SNOWFLAKES = itertools.count(1_400_000_000_000_000_000)


@dataclasses.dataclass(frozen=True)
class Request:
    """A REST request the fake received."""

    method: str
    path: str
    body: typing.Any


def interaction_payload(
    *,
    command: str,
    guild_id: int,
    channel_id: int,
    member: Payload,
    options: Sequence[Payload] = (),
    command_id: int = 1_390_000_000_000_000_001,
    resolved: Payload | None = None,
) -> Payload:
    """A raw INTERACTION_CREATE for a slash command ``/command`` used in a guild.

    Parameters
    ----------
    command
        The command's name.
    guild_id, channel_id
        Where it was used.
    member
        The invoking member's raw payload (with ``user``).
    options
        Raw option payloads, e.g. ``{"name": "user", "type": 6, "value": "123"}``.
    command_id
        The id Discord gave the command.
    resolved
        Discord's ``resolved`` data for options naming entities.
    """
    data: Payload = {"id": str(command_id), "name": command, "type": 1, "options": list(options)}
    if resolved is not None:
        data["resolved"] = resolved
    member_payload = dict(member)
    member_payload.setdefault("permissions", "2251799813685247")
    return {
        "id": str(next(_SNOWFLAKES)),
        "application_id": str(APPLICATION_ID),
        "type": 2,
        "data": data,
        "guild_id": str(guild_id),
        "channel_id": str(channel_id),
        "channel": {"id": str(channel_id), "type": 0, "guild_id": str(guild_id), "name": "general", "position": 0},
        "member": member_payload,
        "token": f"interaction-token-{next(_SNOWFLAKES)}",
        "version": 1,
        "app_permissions": "2251799813685247",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0,
    }


def display_name(member: Payload) -> str:
    """What `hikari.Member.display_name` gives for a raw member payload."""
    user = member["user"]
    return member.get("nick") or user.get("global_name") or user["username"]


def new_member(user_id: int, name: str) -> Payload:
    """A raw member (with its user), e.g. for a GUILD_MEMBER_ADD of someone not in the recorded guild."""
    return {
        "user": {"id": str(user_id), "username": name, "global_name": None, "discriminator": "0", "avatar": None},
        "roles": [],
        "nick": f"{name} the newcomer",
        "avatar": None,
        "joined_at": "2025-06-01T12:00:00.000000+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }


class FakeDiscord:
    """Discord's REST API and gateway for one bot, served on 127.0.0.1.

    Parameters
    ----------
    ready
        What the gateway sends after IDENTIFY, in order, as ``(event name, payload)`` pairs; the
        first must be READY.
    member_chunks
        What the gateway answers a member request (opcode 8) for a guild with: the
        ``GUILD_MEMBERS_CHUNK`` payloads of each guild id, sent all at once as Discord does, with
        the request's nonce (and presences only if asked for). Requests for other guilds get no
        answer. Every request is recorded in [`member_requests`][].
    """

    def __init__(
        self, ready: Iterable[tuple[str, Payload]] = (), *, member_chunks: Mapping[str, Sequence[Payload]] | None = None
    ) -> None:
        self._initial = list(ready) or [("READY", gateway_session.make_ready_payload())]
        self._member_chunks = dict(member_chunks or {})
        self.member_requests: list[Payload] = []
        self._runner: aiohttp.web.AppRunner | None = None
        self._port = 0
        self._sockets: list[_Socket] = []
        self.requests: list[Request] = []
        self.timeline: list[str] = []
        self._request_signal = asyncio.Condition()
        self._connected = asyncio.Event()
        self._responses: dict[tuple[str, str], Callable[[Request], typing.Any]] = {}

    # --- lifetime ---------------------------------------------------------------------------

    async def __aenter__(self) -> FakeDiscord:
        app = aiohttp.web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = aiohttp.web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = typing.cast("typing.Any", site)._server
        self._port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        for socket in list(self._sockets):
            await socket.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def rest_url(self) -> str:
        """The base URL to give `hikari.GatewayBot` as ``rest_url``."""
        return f"http://127.0.0.1:{self._port}/api/v10"

    def make_bot(self, **kwargs: typing.Any) -> hikari.GatewayBot:
        """A real `hikari.GatewayBot` whose network is this fake."""
        return offline.make_offline_bot(rest_url=self.rest_url, **kwargs)

    async def run_bot(self, bot: hikari.GatewayBot) -> None:
        """``bot.start()`` against this fake, returning once the shard is ready."""
        await bot.start(check_for_updates=False, shard_count=1)

    # --- gateway ------------------------------------------------------------------------------

    async def wait_connected(self) -> None:
        """Wait until a shard has identified."""
        await self._connected.wait()

    async def dispatch(self, name: str, payload: Payload) -> None:
        """Send a dispatch event to every connected shard."""
        if not self._sockets:
            msg = "no shard is connected"
            raise RuntimeError(msg)
        for socket in self._sockets:
            await socket.dispatch(name, payload)

    async def _gateway(self, request: aiohttp.web.Request) -> aiohttp.web.WebSocketResponse:
        ws = aiohttp.web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        if compress not in {None, "zlib-stream"}:
            msg = f"the fake gateway speaks zlib-stream only, hikari asked for {compress}"
            raise AssertionError(msg)
        socket = _Socket(ws, zlib.compressobj() if compress else None)
        self._sockets.append(socket)
        shard_id = 0
        try:
            await socket.send({"op": 10, "d": {"heartbeat_interval": _HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
            async for message in ws:
                if message.type not in {aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY}:
                    break
                payload = orjson.loads(message.data)
                op = payload["op"]
                if op == 1:
                    await socket.send({"op": 11, "d": None, "s": None, "t": None})
                elif op == 2:
                    shard_id = payload["d"].get("shard", [0, 1])[0]
                    self.timeline.append(f"shard {shard_id} identified")
                    for name, data in self._initial:
                        if name == "READY":
                            # A shard that reconnects must come back here, not to discord.gg.
                            data = {**data, "resume_gateway_url": f"ws://127.0.0.1:{self._port}/gateway"}
                        await socket.dispatch(name, data)
                    self._connected.set()
                elif op == 8:
                    await self._answer_member_request(socket, payload["d"])
                # Other opcodes (presence updates...) need no answer here.
        finally:
            self._sockets.remove(socket)
            self.timeline.append(f"shard {shard_id} disconnected")
        return ws

    async def _answer_member_request(self, socket: _Socket, request: Payload) -> None:
        self.member_requests.append(request)
        for chunk in self._member_chunks.get(str(request["guild_id"]), ()):
            answer = {**chunk, "nonce": request.get("nonce")}
            if not request.get("presences"):
                answer.pop("presences", None)
            await socket.dispatch("GUILD_MEMBERS_CHUNK", answer)

    # --- REST -----------------------------------------------------------------------------------

    def respond(self, method: str, pattern: str, answer: Callable[[Request], typing.Any]) -> None:
        """Answer requests whose path fully matches the regular expression ``pattern``."""
        self._responses[(method, pattern)] = answer

    async def wait_for_request(self, method: str, pattern: str, *, timeout: float = 10.0) -> Request:
        """Wait for (or return the first already received) request matching ``method`` and ``pattern``."""
        regex = re.compile(pattern)

        def find() -> Request | None:
            return next((r for r in self.requests if r.method == method and regex.fullmatch(r.path)), None)

        async def wait() -> None:
            async with self._request_signal:
                await self._request_signal.wait_for(lambda: find() is not None)

        await asyncio.wait_for(wait(), timeout)
        found = find()
        assert found is not None
        return found

    async def _rest(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        path = "/" + request.match_info["tail"]
        raw = await request.read()
        body: typing.Any = None
        if raw:
            if request.content_type == "application/json":
                body = orjson.loads(raw)
            elif request.content_type.startswith("multipart/"):
                body = raw.decode("utf-8", "replace")
        recorded = Request(request.method, path, body)
        self.requests.append(recorded)
        self.timeline.append(f"{request.method} {path}")
        async with self._request_signal:
            self._request_signal.notify_all()
        for (method, pattern), answer in self._responses.items():
            if method == request.method and re.fullmatch(pattern, path):
                return _json(answer(recorded))
        return self._default(recorded)

    def _default(self, request: Request) -> aiohttp.web.StreamResponse:
        method, path = request.method, request.path
        if (method, path) == ("GET", "/gateway/bot"):
            return _json(
                {
                    "url": f"ws://127.0.0.1:{self._port}/gateway",
                    "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
                }
            )
        if (method, path) == ("GET", "/users/@me"):
            return _json(gateway_session.make_ready_payload()["user"])
        if method == "GET" and path in {"/applications/@me", "/oauth2/applications/@me"}:
            return _json(_application())
        if re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            if method == "GET":
                return _json([])
            if method == "PUT":
                return _json([_command(c) for c in typing.cast("list[Payload]", request.body or [])])
        if method == "POST" and re.fullmatch(r"/interactions/\d+/[^/]+/callback", path):
            return _json(_callback_response(path.split("/")[2], request.body))
        if method == "POST" and re.fullmatch(r"/channels/\d+/messages", path):
            return _json({**_message(request.body), "channel_id": path.split("/")[2]})
        if method in {"PATCH", "POST"} and re.fullmatch(r"/webhooks/\d+/[^/]+(/messages/@original)?", path):
            return _json(_message(request.body))
        return _json({"message": f"the fake Discord has no route for {method} {path}", "code": 0}, status=404)


@dataclasses.dataclass
class _Socket:
    ws: aiohttp.web.WebSocketResponse
    compressor: typing.Any  # zlib.compressobj() or None
    seq: int = 0

    async def send(self, payload: Payload) -> None:
        data = orjson.dumps(payload)
        if self.compressor is None:
            await self.ws.send_str(data.decode())
            return
        await self.ws.send_bytes(self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH))

    async def dispatch(self, name: str, payload: Payload) -> None:
        self.seq += 1
        await self.send({"op": 0, "t": name, "s": self.seq, "d": payload})


def _json(value: typing.Any, *, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


def _application() -> Payload:
    owner = gateway_session.make_ready_payload()["user"]
    return {
        "id": str(APPLICATION_ID),
        "name": "hikari-persist test bot",
        "icon": None,
        "description": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "0" * 64,
        "owner": owner,
        "team": None,
        "flags": 0,
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
    }


def _command(payload: Payload) -> Payload:
    command = dict(payload)
    command.setdefault("id", str(next(_SNOWFLAKES)))
    command.setdefault("application_id", str(APPLICATION_ID))
    command.setdefault("version", str(next(_SNOWFLAKES)))
    command.setdefault("type", 1)
    command.setdefault("description", "")
    command.setdefault("default_member_permissions", None)
    command.setdefault("nsfw", False)
    return command


def _callback_response(interaction_id: str, body: typing.Any) -> Payload:
    # hikari asks ?with_response=true and reads the interaction callback object Discord returns.
    response_type = typing.cast("Payload", body).get("type", 4) if isinstance(body, dict) else 4
    resource: Payload = {"type": response_type}
    if response_type == 4:
        resource["message"] = _message(typing.cast("Payload", body).get("data") if isinstance(body, dict) else None)
    return {"interaction": {"id": interaction_id, "type": 2}, "resource": resource}


def _message(body: typing.Any) -> Payload:
    content = typing.cast("Payload", body).get("content") if isinstance(body, dict) else None
    author = gateway_session.make_ready_payload()["user"]
    return {
        "id": str(next(_SNOWFLAKES)),
        "channel_id": "1",
        "author": author,
        "content": content or "",
        "timestamp": "2025-06-01T12:00:00.000000+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
    }
