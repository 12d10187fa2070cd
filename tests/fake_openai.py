"""A fake OpenAI-compatible server on loopback, the only stand-in the suite allows: the real
`openai` SDK talks HTTP to it, so retries, timeouts, SSE parsing and error bodies are the real
code paths.

It serves:
- `POST /v1/chat/completions`: JSON, or SSE (`stream: true`) written token by token at a
  configurable rate in chunked transfer encoding, with a final usage chunk when asked for;
- `POST /v1/moderations`: flags inputs that contain one of `flag_words`;
- `POST /v1/audio/transcriptions`: multipart, as the SDK uploads a recording. It answers for the
  recordings it was told about (`hears(audio, text)`, by the audio's exact bytes), so audio
  mangled on its way gets the 400 OpenAI gives for a file it cannot decode; `json` (with token
  log probabilities when `include[]=logprobs`), `verbose_json` (segments) and `text`.

What it answers is decided per request: `reply_for(request)` picks a `Reply` from the queue of
scripted replies (`script(...)`, consumed in order), else from the rule whose needle occurs in
the user's messages (`answer(...)`), else a default document. A `Reply` can also be an error
status with an OpenAI error body, a delay, a stream cut midway, or invalid JSON. Every request is
recorded (`requests`), so tests count calls and read what the SDK sent.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """What one request gets."""

    content: str | None = None  # the assistant's message (a JSON document, usually)
    status: int = 200
    error_code: str | None = None  # OpenAI error code, e.g. insufficient_quota
    error_type: str | None = None
    delay: float = 0.0  # seconds before anything is sent (a timeout if long enough)
    tokens_per_second: float | None = None  # stream rate; None: the server's
    cut_after: int | None = None  # stream: close the connection after this many characters
    finish_reason: str = "stop"
    refusal: str | None = None  # the provider's own safety refusal (no content)
    # As a strict-mode model does: every property the request's JSON Schema lists is written
    # (null when the document leaves it out), and a reply the schema does not admit is a
    # failure of the test (a 500 naming the problem), not something a real model could send.
    strict: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 420
    completion_tokens: int | None = None


def document_reply(document: dict[str, Any], **kwargs: Any) -> Reply:
    return Reply(content=json.dumps(document, ensure_ascii=False), **kwargs)


def error_reply(status: int, code: str, message: str = "fake error", **kwargs: Any) -> Reply:
    error_type = {"insufficient_quota": "insufficient_quota"}.get(code, "server_error")
    return Reply(status=status, error_code=code, error_type=error_type, content=message, **kwargs)


@dataclass
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # multipart uploads
    streamed_chars: int = 0  # how much of a streamed reply was written
    finished: bool = False  # the whole reply was written (the client did not leave early)
    finished_at: float | None = None  # when (time.monotonic(), this process's clock)

    @property
    def user_message(self) -> str:
        messages = self.body.get("messages") or []
        users = [m for m in messages if m.get("role") == "user"]
        content = users[-1]["content"] if users else ""
        return content if isinstance(content, str) else json.dumps(content)

    @property
    def conversation(self) -> str:
        """Everything the user side said (a corrective call's question is further up)."""
        messages = self.body.get("messages") or []
        return "\n".join(str(m.get("content")) for m in messages if m.get("role") == "user")


class FakeOpenAI:
    def __init__(self, *, tokens_per_second: float = 5_000.0) -> None:
        self.tokens_per_second = tokens_per_second
        self.flag_words: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self._script: list[Reply] = []
        self._rules: list[tuple[str, Callable[[RecordedRequest], Reply]]] = []
        self._heard: dict[str, tuple[str, float | None]] = {}  # audio sha256 -> text, confidence
        self._transcription_script: list[Reply] = []
        self.default: Callable[[RecordedRequest], Reply] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        """The next chat requests get these replies, in order, whatever they ask."""
        with self._lock:
            self._script.extend(replies)

    def answer(self, needle: str, reply: Reply | Callable[[RecordedRequest], Reply]) -> None:
        """Chat requests whose user messages contain `needle` get `reply`."""
        make = reply if callable(reply) else (lambda _request, r=reply: r)
        with self._lock:
            self._rules.insert(0, (needle, make))

    def hears(self, audio: bytes, text: str, *, confidence: float | None = 0.97) -> None:
        """A recording the fake transcribes (`text`, with log probabilities averaging
        `confidence` for the models that report them)."""
        with self._lock:
            self._heard[hashlib.sha256(audio).hexdigest()] = (text, confidence)

    def script_transcriptions(self, *replies: Reply) -> None:
        """The next transcription requests get these replies (errors, delays) first."""
        with self._lock:
            self._transcription_script.extend(replies)

    def heard(self, sha256: str) -> tuple[str, float | None] | None:
        with self._lock:
            return self._heard.get(sha256)

    def next_transcription_reply(self) -> Reply | None:
        with self._lock:
            return self._transcription_script.pop(0) if self._transcription_script else None

    def reset(self) -> None:
        with self._lock:
            self._heard.clear()
            self._transcription_script.clear()
            self._script.clear()
            self._rules.clear()
            self.requests.clear()
            self.flag_words.clear()
            self.default = None

    def calls(self, path: str = "/v1/chat/completions") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            rules = list(self._rules)
        for needle, make in rules:
            if needle in request.conversation:
                return make(request)
        if self.default is not None:
            return self.default(request)
        return error_reply(500, "no_reply", "the fake has no reply for this request")

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def running_fake_openai(**kwargs: Any) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


def _strict_schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return None
    json_schema = response_format.get("json_schema") or {}
    assert json_schema.get("strict") is True, "structured output must be strict"
    return json_schema.get("schema")


def _validator(schema: dict[str, Any]) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not ref:
        return schema
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


_JSON_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int,
               "number": (int, float)}  # fmt: skip


def strict_text(document: dict[str, Any], schema: dict[str, Any]) -> str:
    """The document as a strict-mode model writes it under `schema` (what the fake sends)."""
    return json.dumps(_as_strict_model_writes(document, schema, schema), ensure_ascii=False)


def _as_strict_model_writes(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """`value` with every listed property present (null where it was left out)."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        if value is None:
            return None
        variants = [_resolve(v, root) for v in schema["anyOf"] if v.get("type") != "null"]
        if isinstance(value, dict):  # a canvas command: the variant of its type
            for variant in variants:
                kinds = ((variant.get("properties") or {}).get("type") or {}).get("enum")
                if kinds and value.get("type") in kinds:
                    return _as_strict_model_writes(value, variant, root)
        for variant in variants:
            expected = _JSON_TYPES.get(variant.get("type", ""), object)
            if isinstance(value, expected):
                return _as_strict_model_writes(value, variant, root)
        return value
    if schema.get("type") == "object" and isinstance(value, dict):
        properties = schema.get("properties") or {}
        filled = {
            name: _as_strict_model_writes(value[name], properties[name], root)
            if name in value
            else None
            for name in properties
        }
        filled.update({name: item for name, item in value.items() if name not in properties})
        return filled
    if schema.get("type") == "array" and isinstance(value, list):
        return [_as_strict_model_writes(item, schema.get("items") or {}, root) for item in value]
    return value


def _multipart(
    content_type: str, raw: bytes
) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
    """A multipart/form-data body: its fields (a repeated or `name[]` field as a list) and its
    files (name -> filename, content type, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, part.get_content_type(), payload)
            fields[name] = {
                "filename": filename,
                "content_type": part.get_content_type(),
                "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            }
        elif name.endswith("[]"):
            fields.setdefault(name[:-2], []).append(payload.decode())
        else:
            fields[name] = payload.decode()
    return fields, files


def _tokens(text: str) -> list[str]:
    """About four characters per token, as the real tokenizers average on Spanish text."""
    return [text[i : i + 4] for i in range(0, len(text), 4)]


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        files: dict[str, tuple[str, str, bytes]] = {}
        if content_type.startswith("application/json"):
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {}
        elif content_type.startswith("multipart/form-data"):
            body, files = _multipart(content_type, raw)
        else:
            body = {"raw": raw.decode("latin-1")}
        request = RecordedRequest(
            path=self.path, body=body, headers=dict(self.headers), at=time.monotonic(), files=files
        )
        with self.owner._lock:
            self.owner.requests.append(request)
        if self.path == "/v1/moderations":
            self._moderation(body)
        elif self.path == "/v1/chat/completions":
            self._chat(request)
        elif self.path == "/v1/audio/transcriptions":
            self._transcription(request)
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    # -- responses ------------------------------------------------------------------------
    def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._close_after()
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, reply: Reply) -> None:
        self._json(
            reply.status,
            {
                "error": {
                    "message": reply.content or "error",
                    "type": reply.error_type or "server_error",
                    "param": None,
                    "code": reply.error_code,
                }
            },
            reply.headers,
        )

    def _transcription(self, request: RecordedRequest) -> None:
        scripted = self.owner.next_transcription_reply()
        if scripted is not None and scripted.delay:
            time.sleep(scripted.delay)
        if scripted is not None and scripted.status != 200:
            self._error(scripted)
            return
        upload = request.files.get("file")
        heard = self.owner.heard(hashlib.sha256(upload[2]).hexdigest()) if upload else None
        if scripted is not None and scripted.content is not None:  # what is heard, whatever
            heard = (scripted.content, None)
        if heard is None:
            self._error(
                Reply(
                    status=400,
                    error_code="invalid_value",
                    error_type="invalid_request_error",
                    content="Audio file might be corrupted or unsupported",
                )
            )
            return
        text, confidence = heard
        body = request.body
        words = text.split()
        response_format = body.get("response_format", "json")
        if response_format == "text":
            data = text.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self._close_after()
            self.end_headers()
            self.wfile.write(data)
            return
        logprob = math.log(confidence) if confidence else -3.0
        if response_format == "verbose_json":
            seconds = max(1.0, len(words) * 0.4)
            self._json(
                200,
                {
                    "task": "transcribe",
                    "language": "spanish",
                    "duration": seconds,
                    "text": text,
                    "segments": [
                        {
                            "id": 0, "seek": 0, "start": 0.0, "end": seconds, "text": text,
                            "tokens": [1] * len(words), "temperature": 0.0,
                            "avg_logprob": logprob, "compression_ratio": 1.2,
                            "no_speech_prob": 0.01,
                        }
                    ],
                },
            )  # fmt: skip
            return
        payload: dict[str, Any] = {
            "text": text,
            "usage": {"type": "tokens", "input_tokens": 50, "output_tokens": len(words),
                      "total_tokens": 50 + len(words)},
        }  # fmt: skip
        if "logprobs" in body.get("include", []) and confidence is not None:
            payload["logprobs"] = [
                {"token": word, "logprob": logprob, "bytes": list(word.encode())} for word in words
            ]
        self._json(200, payload)

    def _moderation(self, body: dict[str, Any]) -> None:
        inputs = body.get("input")
        texts = inputs if isinstance(inputs, list) else [inputs]
        results = []
        for text in texts:
            flagged = any(word in str(text).lower() for word in self.owner.flag_words)
            results.append(
                {
                    "flagged": flagged,
                    "categories": {"violence": flagged, "harassment": False},
                    "category_scores": {"violence": 0.97 if flagged else 0.001},
                }
            )
        self._json(
            200,
            {
                "id": "modr-fake",
                "model": body.get("model", "omni-moderation-latest"),
                "results": results,
            },
        )

    def _chat(self, request: RecordedRequest) -> None:
        reply = self.owner.reply_for(request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            self._error(reply)
            return
        content = reply.content or ""
        schema = _strict_schema_of(request.body)
        if reply.strict and schema is not None and reply.refusal is None:
            try:
                content = strict_text(json.loads(content), schema)
                problems = [
                    error.message for error in _validator(schema).iter_errors(json.loads(content))
                ]
            except json.JSONDecodeError:
                problems = []  # (a reply that is not JSON at all is sent as it is)
            if problems:
                self._json(
                    500,
                    {
                        "error": {
                            "message": "fake: the reply breaks the schema: "
                            + "; ".join(problems[:3]),
                            "type": "fake",
                        }
                    },
                )
                return
        model = request.body.get("model", "fake-model")
        completion_tokens = reply.completion_tokens or len(_tokens(content))
        usage = {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": reply.prompt_tokens + completion_tokens,
        }
        if not request.body.get("stream"):
            # A model takes as long to write a whole answer as to stream it.
            rate = reply.tokens_per_second or self.owner.tokens_per_second
            time.sleep(completion_tokens / rate)
            self._json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content, "refusal": None},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": usage,
                },
                reply.headers,
            )
            return
        self._stream(request, reply, content, model, usage)

    def _stream(
        self,
        request: RecordedRequest,
        reply: Reply,
        content: str,
        model: str,
        usage: dict[str, int],
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self._close_after()
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        rate = reply.tokens_per_second or self.owner.tokens_per_second
        started = time.monotonic()
        sent = 0

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> None:
            event = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            self._write_chunk(f"data: {json.dumps(event, ensure_ascii=False)}\n\n")

        try:
            chunk({"role": "assistant", "content": ""})
            if reply.refusal is not None:
                content = ""
                for token in _tokens(reply.refusal):
                    chunk({"refusal": token})
            for count, token in enumerate(_tokens(content), start=1):
                if reply.cut_after is not None and sent >= reply.cut_after:
                    self.close_connection = True
                    return  # no final chunk: the body ends in the middle
                due = started + count / rate
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                chunk({"content": token})
                sent += len(token)
                request.streamed_chars = sent
            chunk({}, reply.finish_reason)
            if (request.body.get("stream_options") or {}).get("include_usage"):
                event = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                self._write_chunk(f"data: {json.dumps(event)}\n\n")
            self._write_chunk("data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            request.finished = True
            request.finished_at = time.monotonic()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (it cancelled)

    def _close_after(self) -> None:
        """One request per connection: a client that leaves a stream early (as the service
        does once it has what it needs) never finds a half-read connection in its pool."""
        self.send_header("Connection", "close")
        self.close_connection = True

    def _write_chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
