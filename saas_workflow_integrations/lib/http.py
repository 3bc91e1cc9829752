"""Outbound HTTP for webhook deliveries: per-thread session, capped reads, outcomes."""

import email.utils
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from .ssrf import AddressGuard, Allowlist, BlockedAddressError, GuardedHTTPAdapter

USER_AGENT = "SaaS-Workflow-Webhooks/18.0.1.0.0"
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0
RESPONSE_EXCERPT_BYTES = 1024
RETRY_AFTER_MIN = 1
RETRY_AFTER_MAX = 24 * 3600

# Outcome kinds
SUCCESS = "success"
RETRY = "retry"
DISABLE = "disable"
PERMANENT = "permanent"

RETRY_STATUSES = frozenset({404, 408, 409, 425, 429})
RETRY_AFTER_STATUSES = frozenset({429, 503})

_local = threading.local()
_pool_lock = threading.Lock()
_pool = {}  # "key": (pid, size), "executor": ThreadPoolExecutor


@dataclass
class Result:
    """What happened on one HTTP attempt."""

    status: int = 0
    latency_ms: int = 0
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    error: str = ""
    error_kind: str = ""  # "", "timeout", "connection", "blocked", "invalid"
    sent_at: float = 0.0  # unix seconds when the attempt started

    @property
    def excerpt(self):
        return self.body[:RESPONSE_EXCERPT_BYTES].decode("utf-8", "replace")


def get_session(allowlist_text=""):
    """Session of this thread, rebuilt when the allowlist changes.

    Environment proxies and ``.netrc`` are ignored (``trust_env`` off): a proxy
    would bypass the address guard.
    """
    cache = getattr(_local, "sessions", None)
    if cache is None:
        cache = _local.sessions = {}
    session = cache.get(allowlist_text)
    if session is None:
        for old in cache.values():
            old.close()
        cache.clear()
        session = requests.Session()
        session.trust_env = False
        session.headers.clear()
        adapter = GuardedHTTPAdapter(
            AddressGuard(Allowlist.parse(allowlist_text)), pool_connections=8, pool_maxsize=8, max_retries=0
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        cache[allowlist_text] = session
    return session


def post(
    session,
    url,
    body,
    headers,
    connect_timeout=DEFAULT_CONNECT_TIMEOUT,
    read_timeout=DEFAULT_READ_TIMEOUT,
    max_response_bytes=RESPONSE_EXCERPT_BYTES,
):
    """POST ``body`` once. Never raises for network trouble: returns a :class:`Result`.

    Redirects are not followed; the response body is streamed and at most
    ``max_response_bytes`` are read (a fully read small body keeps the
    connection alive, anything else closes it). The read also stops after
    ``connect_timeout + read_timeout`` seconds in total so a receiver trickling
    bytes cannot hold the worker.
    """
    start = time.monotonic()
    result = Result(sent_at=time.time())
    try:
        # Refuse literal private targets before anything else sees the request; the
        # adapter checks again, and vets every address it connects to.
        guard = getattr(session.get_adapter(url), "guard", None)
        if guard is not None:
            guard.check_url(url)
        request = requests.Request("POST", url, data=body, headers=headers).prepare()
        # The adapter reads the timeout from the prepared request (see GuardedHTTPAdapter.send).
        request.saas_timeout = (connect_timeout, read_timeout)
        response = session.send(request, stream=True, allow_redirects=False)
    except BlockedAddressError as exc:
        result.error, result.error_kind = str(exc), "blocked"
        result.latency_ms = _ms(start)
        return result
    except requests.exceptions.Timeout as exc:
        result.error, result.error_kind = f"timeout: {exc}", "timeout"
        result.latency_ms = _ms(start)
        return result
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, ValueError) as exc:
        result.error, result.error_kind = f"invalid request: {exc}", "invalid"
        result.latency_ms = _ms(start)
        return result
    except (requests.exceptions.RequestException, OSError) as exc:
        result.error, result.error_kind = f"connection error: {exc}", "connection"
        result.latency_ms = _ms(start)
        return result
    result.status = response.status_code
    result.headers = {k.lower(): v for k, v in response.headers.items()}
    deadline = start + connect_timeout + read_timeout
    chunks, size, complete = [], 0, False
    try:
        for chunk in response.iter_content(chunk_size=min(8192, max(max_response_bytes, 1))):
            chunks.append(chunk)
            size += len(chunk)
            if size >= max_response_bytes or time.monotonic() > deadline:
                break
        else:
            complete = True
    except (requests.exceptions.RequestException, OSError) as exc:
        # The status line arrived; a broken body does not change the outcome.
        result.error = f"response body: {exc}"
    finally:
        if complete:
            response.close()  # body fully consumed: the connection returns to the pool
        else:
            _drop_connection(response)
    result.body = b"".join(chunks)[:max_response_bytes]
    result.latency_ms = _ms(start)
    return result


def post_in_thread(allowlist_text, url, body, headers, **kwargs):
    """:func:`post` with the calling thread's session (for :func:`get_pool` threads)."""
    return post(get_session(allowlist_text), url, body, headers, **kwargs)


def get_pool(size):
    """Threads of this process that send webhook posts concurrently (``size`` of them).

    One pool per process (rebuilt after a fork or when ``size`` changes); each of
    its threads keeps its own session, hence its own keep-alive connections.
    The threads only do HTTP: the caller keeps every database access.
    """
    key = (os.getpid(), size)
    with _pool_lock:
        if _pool.get("key") != key:
            old = _pool.get("executor")
            if old is not None and _pool["key"][0] == key[0]:
                old.shutdown(wait=False)
            _pool["key"] = key
            _pool["executor"] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="saas-webhook-post")
        return _pool["executor"]


def _drop_connection(response):
    raw = getattr(response, "raw", None)
    conn = getattr(raw, "_connection", None)
    if conn is not None:
        conn.close()
    response.close()


def _ms(start):
    return int(round((time.monotonic() - start) * 1000))


def classify(result):
    """Map a :class:`Result` to SUCCESS / RETRY / DISABLE / PERMANENT.

    * 2xx: success
    * 410 Gone: disable the endpoint at once
    * 3xx (redirects are never followed), 404, 408, 409, 425, 429, 5xx,
      timeouts and connection errors: retry
    * other 4xx (the receiver rejects this request as such) and refused
      targets (SSRF guard, invalid URL): permanent
    """
    if result.error_kind in ("blocked", "invalid"):
        return PERMANENT
    if result.error_kind in ("timeout", "connection") or not result.status:
        return RETRY
    status = result.status
    if 200 <= status < 300:
        return SUCCESS
    if status == 410:
        return DISABLE
    if 300 <= status < 400 or status >= 500 or status in RETRY_STATUSES:
        return RETRY
    return PERMANENT


def parse_retry_after(value, now=None, minimum=RETRY_AFTER_MIN, maximum=RETRY_AFTER_MAX):
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    Returns ``None`` for a missing or unparsable value; otherwise the delay
    clamped to ``[minimum, maximum]``.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        seconds = int(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        now = time.time() if now is None else now
        seconds = when.timestamp() - now
    return int(min(max(seconds, minimum), maximum))


def retry_after_for(result, now=None, minimum=RETRY_AFTER_MIN, maximum=RETRY_AFTER_MAX):
    """Bounded Retry-After of a 429/503 response, else ``None``."""
    if result.status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(result.headers.get("retry-after"), now=now, minimum=minimum, maximum=maximum)
