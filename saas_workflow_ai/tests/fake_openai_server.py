"""A small OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

A real server in a thread (``ThreadingHTTPServer`` with ``TCP_NODELAY``), not a
mock: requests go through the ``openai`` client and httpx exactly as in
production.  It imports nothing from Odoo, so both the addon tests and the
top-level pytest tests can use it.

Answers are deterministic and keyed by the request text: the first rule whose
``match`` string occurs in the last user message decides; without a matching
rule every field gets the label picked by a hash of the text among the enum of
the JSON schema that was sent.  Rule keys (all optional):

``labels``         {field: label} answer (may be outside the enum, on purpose)
``probs``          {field: {label: probability}} drives the token logprobs
``junk``           probability given to an alternative token outside any label
``samples``        list of {field: label}, used in turn for sampled requests
                   (``n`` > 1 or temperature > 0)
``confidence``     {field: float} for ``<field>_confidence`` (self-reported)
``refusal``        refusal text (``message.refusal``)
``malformed``      answer content that is not JSON
``length``         finish_reason "length" with a cut answer
``content_filter`` finish_reason "content_filter"
``status``         HTTP status to return (429, 500, ...); ``retry_after`` header
``times``          how many requests the error ``status`` applies to (then normal)
``delay``          seconds to sleep before answering (timeouts)
``summary``        text answer for requests without ``response_format``

Server switches: ``logprobs`` ("on", "off" = ignore the request, "reject" =
HTTP 400 when asked), ``honor_n`` (answer ``n`` choices or only one),
``latency`` (fixed delay for every request), ``api_key`` (required bearer).
Every request is recorded in ``requests`` (path, headers, parsed body).
"""

import hashlib
import json
import math
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TOKEN_RE = re.compile(r"[A-Za-z0-9_ ]{1,4}|[^A-Za-z0-9_ ]+")


def tokenize(text):
    return _TOKEN_RE.findall(text)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # clients that time out close the socket before the answer: not an error here
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"

    def setup(self):
        result = super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return result

    def log_message(self, format, *args):
        return

    # -------------------------------------------------------------- plumbing
    def _send(self, status, payload, headers=None):
        body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status, message, headers=None, code=None):
        self._send(
            status,
            {"error": {"message": message, "type": "fake_error", "code": code, "param": None}},
            headers=headers,
        )

    def do_GET(self):
        fake = self.server.fake
        fake._record(self, None)
        if not fake._authorized(self):
            return self._error(401, "invalid api key")
        if self.path.rstrip("/").endswith("/models"):
            return self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in fake.models],
                },
            )
        return self._error(404, "not found")

    def do_POST(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw.decode() or "{}")
        except ValueError:
            body = None
        fake._record(self, body if body is not None else raw.decode(errors="replace"))
        if fake.latency:
            time.sleep(fake.latency)
        if not fake._authorized(self):
            return self._error(401, "invalid api key")
        if not self.path.rstrip("/").endswith("/chat/completions") or body is None:
            return self._error(404, "not found")
        status, payload, headers = fake._answer(body)
        self._send(status, payload, headers)


class FakeOpenAIServer:
    def __init__(self, logprobs="on", honor_n=True, latency=0.0, api_key=None, models=None):
        self.logprobs = logprobs
        self.honor_n = honor_n
        self.latency = latency
        self.api_key = api_key
        self.models = list(models or ["fake-model"])
        self.rules = []
        self.requests = []
        self._lock = threading.Lock()
        self._counters = {}
        self._httpd = None
        self._thread = None

    # -------------------------------------------------------------- lifecycle
    def start(self):
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def base_url(self):
        return "http://127.0.0.1:%s/v1" % self.port

    # -------------------------------------------------------------- rules
    def add_rule(self, match, **behaviour):
        with self._lock:
            self.rules.append(dict(behaviour, match=match))
        return self

    def reset(self):
        with self._lock:
            self.rules = []
            self.requests = []
            self._counters = {}

    def bodies(self, path="/chat/completions"):
        with self._lock:
            return [r["body"] for r in self.requests if r["path"].endswith(path)]

    # -------------------------------------------------------------- internals
    def _record(self, handler, body):
        with self._lock:
            self.requests.append(
                {
                    "path": handler.path,
                    "method": handler.command,
                    "headers": {k.lower(): v for k, v in handler.headers.items()},
                    "body": body,
                }
            )

    def _authorized(self, handler):
        if not self.api_key:
            return True
        return handler.headers.get("Authorization") == "Bearer %s" % self.api_key

    def _rule_for(self, text):
        with self._lock:
            for index, rule in enumerate(self.rules):
                if rule["match"] in text:
                    return index, rule
        return None, {}

    def _bump(self, key):
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1
            return self._counters[key]

    def _answer(self, body):
        messages = body.get("messages") or []
        text = next(
            (str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        index, rule = self._rule_for(text)
        if rule.get("delay"):
            time.sleep(rule["delay"])
        if rule.get("status"):
            count = self._bump(("status", index))
            if rule.get("times") is None or count <= rule["times"]:
                headers = {}
                if rule.get("retry_after") is not None:
                    headers["Retry-After"] = str(rule["retry_after"])
                return (
                    rule["status"],
                    {"error": {"message": "fake status %s" % rule["status"], "type": "fake_error"}},
                    headers,
                )
        wants_logprobs = bool(body.get("logprobs"))
        if wants_logprobs and self.logprobs == "reject":
            return (
                400,
                {
                    "error": {
                        "message": "logprobs are not supported with this model",
                        "type": "invalid_request_error",
                        "param": "logprobs",
                        "code": None,
                    }
                },
                {},
            )
        response_format = body.get("response_format") or {}
        schema = (response_format.get("json_schema") or {}).get("schema")
        n = int(body.get("n") or 1) if self.honor_n else 1
        sampled = n > 1 or float(body.get("temperature") or 0) > 0
        choices = []
        for choice_index in range(n):
            if schema:
                choice = self._structured_choice(rule, index, schema, text, sampled, wants_logprobs)
            else:
                choice = self._text_choice(rule, text)
            choice["index"] = choice_index
            choices.append(choice)
        prompt_tokens = sum(len(tokenize(str(m.get("content") or ""))) for m in messages)
        completion_tokens = sum(
            len(tokenize(c["message"].get("content") or c["message"].get("refusal") or ""))
            for c in choices
        )
        return (
            200,
            {
                "id": "chatcmpl-%s" % hashlib.sha1(text.encode()).hexdigest()[:12],
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or "fake-model",
                "choices": choices,
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
            {},
        )

    @staticmethod
    def _message(content=None, refusal=None):
        return {"role": "assistant", "content": content, "refusal": refusal}

    def _text_choice(self, rule, text):
        summary = rule.get("summary")
        if summary is None:
            digest = hashlib.sha1(text.encode()).hexdigest()[:8]
            summary = "Summary %s: %d words of conversation." % (digest, len(text.split()))
        return {
            "message": self._message(summary),
            "finish_reason": "length" if rule.get("length") else "stop",
            "logprobs": None,
        }

    def _structured_choice(self, rule, index, schema, text, sampled, wants_logprobs):
        if rule.get("refusal"):
            return {"message": self._message(None, rule["refusal"]), "finish_reason": "stop"}
        if rule.get("content_filter"):
            return {"message": self._message(None), "finish_reason": "content_filter"}
        if rule.get("malformed"):
            content = rule["malformed"] if isinstance(rule["malformed"], str) else '{"category": '
            return {"message": self._message(content), "finish_reason": "stop"}
        properties = schema.get("properties") or {}
        defs = schema.get("$defs") or {}
        enums = {}
        for key, prop in properties.items():
            if "$ref" in prop:
                prop = defs.get(prop["$ref"].rsplit("/", 1)[-1], {})
            elif "allOf" in prop:
                ref = prop["allOf"][0].get("$ref", "")
                prop = defs.get(ref.rsplit("/", 1)[-1], {})
            enums[key] = prop.get("enum")
        labels = dict(rule.get("labels") or {})
        if sampled and rule.get("samples"):
            count = self._bump(("sample", index))
            samples = rule["samples"]
            labels.update(samples[(count - 1) % len(samples)])
        digest = int(hashlib.sha1(text.encode()).hexdigest(), 16)
        answer = {}
        for key, allowed in enums.items():
            if allowed is None:  # a number: self-reported confidence
                field_name = key[: -len("_confidence")]
                answer[key] = float((rule.get("confidence") or {}).get(field_name, 0.9))
            elif key in labels:
                answer[key] = labels[key]
            else:
                answer[key] = allowed[digest % len(allowed)]
        content = json.dumps(answer, separators=(",", ":"), ensure_ascii=False)
        if rule.get("length"):
            return {
                "message": self._message(content[: len(content) // 2]),
                "finish_reason": "length",
            }
        choice = {"message": self._message(content), "finish_reason": "stop", "logprobs": None}
        if wants_logprobs and self.logprobs == "on":
            choice["logprobs"] = {"content": self._logprobs(content, answer, enums, rule)}
        return choice

    @staticmethod
    def _logprobs(content, answer, enums, rule):
        """Tokens of ``content`` with top alternatives at the first token of each label."""
        probs = rule.get("probs") or {}
        junk = float(rule.get("junk") or 0.0)
        # first-token positions of every string value
        firsts = {}
        for key, value in answer.items():
            if not isinstance(value, str):
                continue
            match = re.search(r'"%s":"' % re.escape(key), content)
            if match:
                firsts[match.end()] = key
        tokens = []
        offset = 0
        # split so that every value starts on a token boundary
        cuts = sorted(firsts)
        pieces = []
        last = 0
        for cut in cuts:
            pieces.append(content[last:cut])
            last = cut
        pieces.append(content[last:])
        for piece in pieces:
            for tok in tokenize(piece):
                entry = {"token": tok, "logprob": 0.0, "bytes": list(tok.encode())}
                entry["top_logprobs"] = [dict(entry)]
                key = firsts.get(offset)
                if key is not None:
                    chosen = answer[key]
                    dist = dict(probs.get(key) or {})
                    allowed = [label for label in (enums.get(key) or []) if label != chosen]
                    if not dist:
                        dist = {chosen: 0.9}
                        for label in allowed:
                            dist[label] = 0.1 / max(len(allowed), 1)
                    chunks = {}
                    for label, p in dist.items():
                        first = tokenize(label)[0] if label else '"'
                        chunks[first] = chunks.get(first, 0.0) + float(p)
                    chosen_p = chunks.get(tok, 1e-6)
                    entry["logprob"] = math.log(chosen_p)
                    alts = [
                        {"token": c, "logprob": math.log(p), "bytes": list(c.encode())}
                        for c, p in chunks.items()
                        if p > 0
                    ]
                    if junk:
                        alts.append({"token": "zz", "logprob": math.log(junk), "bytes": [122, 122]})
                    alts.sort(key=lambda a: -a["logprob"])
                    entry["top_logprobs"] = alts[:20]
                tokens.append(entry)
                offset += len(tok)
        return tokens
