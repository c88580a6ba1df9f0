"""A fake Telegram Bot API on 127.0.0.1 that answers PTB's real HTTP requests and enforces Telegram's rules.

Owns the wire format, HTML validation, length and rate limits, scripted failures; knows nothing of bot/.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Test Bot", "username": "test_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
MAX_TEXT = 4096
JSON_PARAMS = ("reply_markup", "link_preview_options", "commands", "scope", "entities", "reply_parameters")
ENTITY_TYPES = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline", "ins": "underline",
                "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough", "tg-spoiler": "spoiler",
                "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre", "blockquote": "blockquote"}
NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
ATTR_RE = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?")


NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are exactly "
                "the same as a current content and reply markup of the message")

class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None,
                 migrate_to: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after
        self.migrate_to = migrate_to


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _entity_error(text: str, i: int, what: str) -> ApiError:
    offset = len(text[:i].encode("utf-8"))
    return ApiError(400, f"Bad Request: can't parse entities: {what} at byte offset {offset}")


def _decode_entity(text: str, i: int) -> tuple[str, int]:
    """Decode the entity at text[i] == '&'; only &lt; &gt; &amp; &quot; and numeric ones, like Telegram."""
    m = ENTITY_RE.match(text, i)
    if m is None:
        raise _entity_error(text, i, "character entity expected")
    dec, hexa, name = m.groups()
    if name is not None:
        if name not in NAMED:
            raise _entity_error(text, i, f'unsupported HTML entity "&{name};"')
        return NAMED[name], m.end()
    code = int(dec) if dec is not None else int(hexa, 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise _entity_error(text, i, "invalid numeric entity")
    return chr(code), m.end()


def _decode_value(text: str, start: int, raw: str) -> str:
    out, j = [], 0
    while j < len(raw):
        if raw[j] == "&":
            ch, end = _decode_entity(raw, j)
            out.append(ch)
            j = end
        elif raw[j] == "<":
            raise _entity_error(text, start + j, "unexpected < in attribute value")
        else:
            out.append(raw[j])
            j += 1
    return "".join(out)


def parse_html(text: str) -> tuple[str, list[dict]]:
    """Telegram's HTML parse mode: returns (visible text, entities with UTF-16 offsets) or raises ApiError 400."""
    out: list[str] = []
    stack: list[tuple[str, int, dict]] = []  # (tag, utf16 offset at open, entity extras)
    entities: list[dict] = []
    pos16 = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            dec, i = _decode_entity(text, i)
            out.append(dec)
            pos16 += utf16_len(dec)
            continue
        if ch != "<":
            out.append(ch)
            pos16 += utf16_len(ch)
            i += 1
            continue
        close = text.find(">", i)
        if close == -1:
            raise _entity_error(text, i, "unclosed start tag")
        if text.startswith("</", i):
            name = text[i + 2:close].strip().lower()
            if not stack or stack[-1][0] != name:
                raise _entity_error(text, i, f'unexpected end tag "{name}"')
            tag, start16, extra = stack.pop()
            if pos16 > start16:
                entities.append({"type": ENTITY_TYPES[tag], "offset": start16, "length": pos16 - start16, **extra})
            i = close + 1
            continue
        m = TAG_NAME_RE.match(text, i + 1)
        if m is None:
            raise _entity_error(text, i, "unexpected start of a tag")
        name = m.group().lower()
        if name not in ENTITY_TYPES:
            raise _entity_error(text, i, f'unsupported start tag "{name}"')
        attrs: dict[str, str] = {}
        j = m.end()
        body = text[j:close]
        if "<" in body:
            raise _entity_error(text, j + body.index("<"), "unclosed start tag")
        k = 0
        while k < len(body) and body[k:].strip():
            am = ATTR_RE.match(body, k)
            if am is None or am.end() == k:
                raise _entity_error(text, j + k, f'can\'t parse attributes of the tag "{name}"')
            raw = am.group(2) or ""
            if raw[:1] in "\"'" and raw:
                raw = raw[1:-1]
            attrs[am.group(1).lower()] = _decode_value(text, j + k, raw)
            k = am.end()
        extra: dict[str, Any] = {}
        if name == "a":
            if "href" not in attrs:
                raise _entity_error(text, i, 'tag "a" must have attribute "href"')
            extra = {"url": attrs["href"]}
        elif name == "span" and attrs.get("class") != "tg-spoiler":
            raise _entity_error(text, i, 'tag "span" must have class "tg-spoiler"')
        elif name == "blockquote" and "expandable" in attrs:
            extra = {"type": "expandable_blockquote"}
        stack.append((name, pos16, extra))
        i = close + 1
    if stack:
        raise ApiError(400, f"Bad Request: can't parse entities: can't find end tag corresponding to start tag "
                            f'"{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _chat_type(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this each reply waits ~40 ms
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        params: dict[str, Any] = dict(parse_qsl(url.query, keep_blank_values=True))
        ctype = self.headers.get("Content-Type", "")
        if raw and ctype.startswith("application/json"):
            params.update(json.loads(raw))
        elif raw:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        status, payload = self.server.fake.dispatch(url.path, params)
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTelegram

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid long-poll is normal


class FakeTelegram:
    """Context manager: a Bot API server on a free port; PTB talks to it via `base_url`."""

    token: str = "123456:TEST-TOKEN"

    def __init__(self, *, rate_limits: bool = True, private_interval: float = 1.0, group_per_minute: int = 20,
                 overall_per_second: int = 30, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_limits = rate_limits
        self.clock = clock  # what the rate limiter measures; a test may freeze it
        self.private_interval = private_interval
        self.group_per_minute = group_per_minute
        self.overall_per_second = overall_per_second
        self.sent: list[dict] = []
        self.edits: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.answers: list[dict] = []
        self.commands: dict[str, list] = {}
        self.rate_limited: list[dict] = []  # every sendMessage refused with 429 by the rate limiter
        self._cond = threading.Condition(threading.RLock())
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = {}
        self._messages: dict[tuple[int, int], dict] = {}
        self._failures: list[dict] = []
        self._slow: list[dict] = []
        self._blocked: set[int] = set()
        self._admins: dict[int, set[int]] = {}
        self._times: dict[int, deque[float]] = {}
        self._all_times: deque[float] = deque()
        self._closing = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> FakeTelegram:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-telegram", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------ scripting

    def push_message(self, chat_id: int, text: str, *, user_id: int | None = None, chat_type: str = "private",
                     title: str | None = None, username: str = "analyst", language_code: str | None = None) -> None:
        user = self._user(chat_id if user_id is None and chat_type == "private" else (user_id or 777),
                          username, language_code)
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat.update(first_name=user["first_name"], username=username)
        else:
            chat["title"] = title or f"Group {chat_id}"
        with self._cond:
            message = {"message_id": self._next_message_id(chat_id), "date": int(time.time()), "chat": chat,
                       "from": user, "text": text}
            if text.startswith("/"):
                message["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": utf16_len(text.split()[0])}]
            self._push({"message": message})

    def push_callback(self, chat_id: int, data: str, *, message_id: int, user_id: int | None = None) -> None:
        with self._cond:
            message = self._messages.get((chat_id, message_id)) or {
                "message_id": message_id, "date": int(time.time()), "text": "",
                "chat": {"id": chat_id, "type": _chat_type(chat_id)}}
            query = {"id": str(next(self._update_ids) * 1000), "from": self._user(user_id or chat_id, "analyst"),
                     "chat_instance": f"ci{chat_id}", "data": data, "message": message}
            self._push({"callback_query": query})

    def set_chat_admins(self, chat_id: int, user_ids: list[int]) -> None:
        with self._cond:
            self._admins[chat_id] = set(user_ids)

    def fail_next(self, method: str, status: int, description: str, *, retry_after: int | None = None,
                  chat_id: int | None = None, times: int = 1, migrate_to: int | None = None) -> None:
        """Answer the next `times` calls (to `chat_id`, if given) with this error; `migrate_to` adds
        parameters.migrate_to_chat_id, as Telegram does when a group became a supergroup."""
        with self._cond:
            self._failures.append({"method": method.lower(), "status": status, "description": description,
                                   "retry_after": retry_after, "chat_id": chat_id, "times": times,
                                   "migrate_to": migrate_to})

    def slow_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` only after `seconds` (still processing them: a read
        timeout on the client does not mean the message was not delivered)."""
        with self._cond:
            self._slow.append({"method": method.lower(), "seconds": seconds, "times": times})

    def block(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.discard(chat_id)

    def messages_to(self, chat_id: int) -> list[dict]:
        with self._cond:
            return [m for m in self.sent if m["chat_id"] == chat_id]

    def message(self, chat_id: int, message_id: int) -> dict | None:
        """The current state of a bot message (after edits), as Telegram would show it."""
        with self._cond:
            return self._messages.get((chat_id, message_id))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """wait_for for tests whose bot runs in the same event loop."""
        import asyncio

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.02)
        return bool(predicate())

    # ------------------------------------------------------------ internals

    def _user(self, user_id: int, username: str, language_code: str | None = None) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": "Analyst", "username": username}
        if language_code:
            user["language_code"] = language_code
        return user

    def _push(self, update: dict) -> None:
        self._updates.append({"update_id": next(self._update_ids), **update})
        self._cond.notify_all()

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def dispatch(self, path: str, params: dict[str, Any]) -> tuple[int, dict]:
        prefix = "/bot" + self.token + "/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix):]
        for key in JSON_PARAMS:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: can't parse {key}"}
        if "chat_id" in params:
            with contextlib.suppress(ValueError):
                params["chat_id"] = int(params["chat_id"])
        delay = 0.0
        with self._cond:
            self.calls.append((method, dict(params)))
            for slow in self._slow:
                if slow["method"] == method.lower():
                    delay = slow["seconds"]
                    slow["times"] -= 1
                    if slow["times"] <= 0:
                        self._slow.remove(slow)
                    break
        if delay:
            time.sleep(delay)
        handler = getattr(self, "_api_" + method.lower(), None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            self._scripted(method.lower(), params)
            return 200, {"ok": True, "result": handler(params)}
        except ApiError as e:
            payload: dict[str, Any] = {"ok": False, "error_code": e.status, "description": e.description}
            if e.retry_after is not None:
                payload["parameters"] = {"retry_after": e.retry_after}
            if e.migrate_to is not None:
                payload["parameters"] = {"migrate_to_chat_id": e.migrate_to}
            return e.status, payload

    def _scripted(self, method: str, params: dict) -> None:
        with self._cond:
            for failure in self._failures:
                if failure["method"] != method:
                    continue
                if failure["chat_id"] is not None and params.get("chat_id") != failure["chat_id"]:
                    continue
                failure["times"] -= 1
                if failure["times"] <= 0:
                    self._failures.remove(failure)
                raise ApiError(failure["status"], failure["description"], failure["retry_after"],
                               failure["migrate_to"])

    def _check_text(self, params: dict) -> tuple[str, list[dict]]:
        text = params.get("text", "")
        if params.get("parse_mode", "").lower() == "html":
            plain, entities = parse_html(text)
        elif params.get("parse_mode"):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {params['parse_mode']}")
        else:
            plain, entities = text, []
        if not plain.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return plain, entities

    def _check_rate(self, chat_id: int, now: float) -> None:
        if not self.rate_limits:
            return
        while self._all_times and now - self._all_times[0] >= 1.0:
            self._all_times.popleft()
        if len(self._all_times) >= self.overall_per_second:
            raise ApiError(429, "Too Many Requests: retry after 1", 1)
        window, limit = (self.private_interval, 1) if chat_id > 0 else (60.0, self.group_per_minute)
        times = self._times.setdefault(chat_id, deque())
        while times and now - times[0] >= window:
            times.popleft()
        if len(times) >= limit:
            wait = max(1, int(window - (now - times[0]) + 0.999))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)

    def _require_chat(self, params: dict) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    # ------------------------------------------------------------ Bot API methods

    def _api_getme(self, params: dict) -> dict:
        return BOT_USER

    def _api_deletewebhook(self, params: dict) -> bool:
        return True

    def _api_getwebhookinfo(self, params: dict) -> dict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _api_close(self, params: dict) -> bool:
        return True

    def _api_logout(self, params: dict) -> bool:
        return True

    def _api_getupdates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 1.0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._updates or self._closing:
                    return self._updates[:limit]
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)

    def _api_sendmessage(self, params: dict) -> dict:
        with self._cond:
            chat_id = self._require_chat(params)
            plain, entities = self._check_text(params)
            now = self.clock()
            try:
                self._check_rate(chat_id, now)
            except ApiError:
                self.rate_limited.append(dict(params))
                raise
            self._times.setdefault(chat_id, deque()).append(now)
            self._all_times.append(now)
            message_id = self._next_message_id(chat_id)
            message = {"message_id": message_id, "date": int(time.time()), "from": BOT_USER,
                       "chat": {"id": chat_id, "type": _chat_type(chat_id)}, "text": plain}
            if entities:
                message["entities"] = entities
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self._messages[(chat_id, message_id)] = message
            record = {"parse_mode": None, "reply_markup": None, "link_preview_options": None, **params,
                      "message_id": message_id, "plain": plain, "entities": entities, "at": now}
            self.sent.append(record)
            self._cond.notify_all()
            return message

    def _message_to_edit(self, params: dict) -> tuple[int, int, dict]:
        chat_id = self._require_chat(params)
        message_id = int(params.get("message_id") or 0)
        old = self._messages.get((chat_id, message_id))
        if old is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat_id, message_id, old

    def _api_editmessagetext(self, params: dict) -> dict:
        with self._cond:
            chat_id, message_id, old = self._message_to_edit(params)
            plain, entities = self._check_text(params)
            markup = params.get("reply_markup")
            if plain == old["text"] and entities == old.get("entities", []) and markup == old.get("reply_markup"):
                raise ApiError(400, NOT_MODIFIED)
            message = {**old, "text": plain, "edit_date": int(time.time())}
            message.pop("entities", None)
            message.pop("reply_markup", None)
            if entities:
                message["entities"] = entities
            if markup:
                message["reply_markup"] = markup
            self._messages[(chat_id, message_id)] = message
            self.edits.append({"parse_mode": None, "reply_markup": None, **params, "message_id": message_id,
                               "plain": plain, "entities": entities})
            return message

    def _api_editmessagereplymarkup(self, params: dict) -> dict:
        with self._cond:
            chat_id, message_id, old = self._message_to_edit(params)
            markup = params.get("reply_markup")
            if markup == old.get("reply_markup"):
                raise ApiError(400, NOT_MODIFIED)
            message = {**old, "edit_date": int(time.time())}
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            self._messages[(chat_id, message_id)] = message
            self.edits.append({"parse_mode": None, **params, "message_id": message_id, "plain": old["text"],
                               "entities": old.get("entities", [])})
            return message

    def _api_answercallbackquery(self, params: dict) -> bool:
        with self._cond:
            self.answers.append(dict(params))
        return True

    def _api_setmycommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or not all(
            re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")) and 1 <= len(c.get("description", "")) <= 256
            for c in commands
        ):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        with self._cond:
            self.commands[params.get("language_code") or ""] = commands
        return True

    def _api_getmycommands(self, params: dict) -> list:
        with self._cond:
            return self.commands.get(params.get("language_code") or "", [])

    def _api_deletemycommands(self, params: dict) -> bool:
        with self._cond:
            self.commands.pop(params.get("language_code") or "", None)
        return True

    def _member(self, chat_id: int, user_id: int) -> dict:
        user = self._user(user_id, f"user{user_id}")
        if user_id in self._admins.get(chat_id, set()):
            rights = dict.fromkeys(
                ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                 "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
                 "can_post_stories", "can_edit_stories", "can_delete_stories"), False)
            return {"status": "administrator", "user": user, **rights, "can_manage_chat": True}
        return {"status": "member", "user": user}

    def _api_getchatmember(self, params: dict) -> dict:
        chat_id = self._require_chat(params)
        with self._cond:
            return self._member(chat_id, int(params.get("user_id") or 0))

    def _api_getchatadministrators(self, params: dict) -> list[dict]:
        chat_id = self._require_chat(params)
        with self._cond:
            return [self._member(chat_id, uid) for uid in sorted(self._admins.get(chat_id, set()))]
