"""`s3store._sent`: which exceptions prove a request unsent, checked class by class.

Every exception class botocore and urllib3 define must sit in exactly one table, so that a
release adding one fails here until someone reads where it is raised. Then the table is
checked against what callers really see: through a boto3 client whose `before-send` hook
raises, through botocore's real send path with urllib3's `urlopen` replaced (no socket is
ever opened), and through the reads that let urllib3's own exceptions escape.
"""

from __future__ import annotations

import concurrent.futures
import errno
import http.client
import socket
import ssl
import string
import types
from collections.abc import Callable, Iterator
from typing import Any, cast

import boto3
import botocore
import botocore.config
import botocore.exceptions as bce
import botocore.parsers
import pytest
import urllib3.exceptions as u3e
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.response import HTTPResponse

from s3store._sent import MAYBE_SENT, NOT_SENT, request_may_have_been_sent

URL = "http://127.0.0.1:9/b/k"
_POOL: Any = None  # urllib3 keeps the pool or connection only to word its messages
_CONN: Any = "HTTPConnection(host='127.0.0.1', port=9)"
Factory = Callable[[], BaseException]


def _name(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _defined_in(module: types.ModuleType) -> set[type[BaseException]]:
    return {value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseException)
            and value.__module__ == module.__name__}


# -- building one instance of every classified class -------------------------------------

def _eof() -> ssl.SSLEOFError:
    return ssl.SSLEOFError(8, "EOF occurred in violation of protocol")


_FACTORIES: dict[type[BaseException], Factory] = {
    # botocore, transport: the arguments httpsession.URLLib3Session.send passes.
    bce.SSLError: lambda: bce.SSLError(endpoint_url=URL, error=u3e.SSLError(_eof())),
    bce.EndpointConnectionError: lambda: bce.EndpointConnectionError(
        endpoint_url=URL, error=u3e.NewConnectionError(_CONN, "Connection refused")),
    bce.ConnectTimeoutError: lambda: bce.ConnectTimeoutError(
        endpoint_url=URL, error=u3e.ConnectTimeoutError(_CONN, "timed out")),
    bce.ReadTimeoutError: lambda: bce.ReadTimeoutError(
        endpoint_url=URL, error=u3e.ReadTimeoutError(_POOL, URL, "Read timed out.")),
    bce.ConnectionClosedError: lambda: bce.ConnectionClosedError(
        endpoint_url=URL, request=None,
        error=u3e.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))),
    bce.ProxyConnectionError: lambda: bce.ProxyConnectionError(
        proxy_url="http://proxy:3128",
        error=u3e.ProxyError("Cannot connect to proxy.", ConnectionResetError(104, "reset"))),
    bce.HTTPClientError: lambda: bce.HTTPClientError(error=ConnectionResetError(104, "reset")),
    bce.ResponseStreamingError: lambda: bce.ResponseStreamingError(
        error=u3e.ProtocolError("Connection broken", http.client.IncompleteRead(b"", 10))),
    bce.ClientError: lambda: bce.ClientError(cast(Any, {
        "Error": {"Code": "PreconditionFailed", "Message": "x"},
        "ResponseMetadata": {"HTTPStatusCode": 412}}), "PutObject"),
    bce.EventStreamError: lambda: bce.EventStreamError(cast(Any, {
        "Error": {"Code": "InternalError", "Message": "x"}}), "SelectObjectContent"),
    bce.WaiterError: lambda: bce.WaiterError(
        name="ObjectExists", reason="Max attempts exceeded", last_response={}),
    bce.ParamValidationError: lambda: bce.ParamValidationError(report="Missing Key"),
    botocore.parsers.ResponseParserError: lambda: botocore.parsers.ResponseParserError("x"),
    # urllib3: each class's own constructor.
    u3e.PoolError: lambda: u3e.PoolError(_POOL, "x"),
    u3e.RequestError: lambda: u3e.RequestError(_POOL, URL, "x"),
    u3e.ProxyError: lambda: u3e.ProxyError("Cannot connect to proxy.", OSError("x")),
    u3e.MaxRetryError: lambda: u3e.MaxRetryError(_POOL, URL, reason=u3e.ResponseError("x")),
    u3e.HostChangedError: lambda: u3e.HostChangedError(_POOL, URL),
    u3e.ReadTimeoutError: lambda: u3e.ReadTimeoutError(_POOL, URL, "Read timed out."),
    u3e.NewConnectionError: lambda: u3e.NewConnectionError(_CONN, "Connection refused"),
    u3e.NameResolutionError: lambda: u3e.NameResolutionError(
        "bucket.s3.amazonaws.com", _CONN,
        socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
    u3e.EmptyPoolError: lambda: u3e.EmptyPoolError(_POOL, "Pool is empty."),
    u3e.FullPoolError: lambda: u3e.FullPoolError(_POOL, "Pool is full."),
    u3e.ClosedPoolError: lambda: u3e.ClosedPoolError(_POOL, "Pool is closed."),
    u3e.LocationParseError: lambda: u3e.LocationParseError("http://[::1"),
    u3e.URLSchemeUnknown: lambda: u3e.URLSchemeUnknown("gopher"),
    u3e.ProxySchemeUnknown: lambda: u3e.ProxySchemeUnknown("gopher"),
    u3e.IncompleteRead: lambda: u3e.IncompleteRead(3, 7),
    u3e.InvalidChunkLength: lambda: u3e.InvalidChunkLength(
        cast(Any, types.SimpleNamespace(tell=lambda: 3, length_remaining=7)), b"zz"),
    u3e.HeaderParsingError: lambda: u3e.HeaderParsingError(defects=[], unparsed_data=b"x"),
    # Builtins, with the errno the kernel gives (OSError(errno, ...) picks the subclass).
    OSError: lambda: OSError("x"),
    ConnectionError: lambda: ConnectionError("x"),
    ConnectionRefusedError: lambda: ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    ConnectionResetError: lambda: ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    ConnectionAbortedError: lambda: ConnectionAbortedError(errno.ECONNABORTED, "aborted"),
    BrokenPipeError: lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"),
    TimeoutError: lambda: TimeoutError("timed out"),
    socket.gaierror: lambda: socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    ssl.SSLError: lambda: ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC]"),
    ssl.SSLEOFError: _eof,
    ssl.SSLZeroReturnError: lambda: ssl.SSLZeroReturnError(6, "TLS/SSL connection closed"),
    ssl.SSLSyscallError: lambda: ssl.SSLSyscallError(5, "Some I/O error occurred"),
    ssl.SSLWantReadError: lambda: ssl.SSLWantReadError(2, "The operation did not complete"),
    ssl.SSLWantWriteError: lambda: ssl.SSLWantWriteError(3, "The operation did not complete"),
    ssl.SSLCertVerificationError: lambda: ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED]"),
    http.client.IncompleteRead: lambda: http.client.IncompleteRead(b"ab", 10),
    concurrent.futures.CancelledError: concurrent.futures.CancelledError,
}


def _botocore_kwargs(cls: type[BaseException]) -> dict[str, Any]:
    """A value for every field of the class's message format (`fmt`)."""
    fmt: str = getattr(cls, "fmt", "")
    return {field: "x" for _, field, _, _ in string.Formatter().parse(fmt) if field}


def _connector_error(cls: type[BaseException]) -> BaseException:
    """aiohttp's connect errors take the connection's key and the OSError."""
    key = types.SimpleNamespace(ssl=None, host="h", port=1)
    return cast(Callable[..., BaseException], cls)(key, OSError(111, "refused"))


def instance_of(cls: type[BaseException]) -> BaseException:
    factory = _FACTORIES.get(cls)
    if factory is not None:
        return factory()
    if cls.__module__.startswith("aiohttp") and "os_error" in str(
            getattr(cls.__init__, "__code__", types.SimpleNamespace(co_varnames=()))
            .co_varnames):
        return _connector_error(cls)
    constructor = cast(Callable[..., BaseException], cls)
    if hasattr(cls, "fmt"):  # botocore's: keyword arguments that fill the message format
        return constructor(**_botocore_kwargs(cls))
    return constructor("x")


ALL_CLASSES = [*NOT_SENT, *MAYBE_SENT]


# -- the tables cover every class, once ------------------------------------------------

@pytest.mark.parametrize(
    "module", [bce, u3e, http.client, ssl, botocore.parsers], ids=lambda m: m.__name__)
def test_every_exception_class_of_the_module_is_in_exactly_one_table(
    module: types.ModuleType,
) -> None:
    defined = _defined_in(module)
    assert defined, f"found no exception classes in {module.__name__}"
    unclassified = sorted(_name(c) for c in defined if c not in NOT_SENT and c not in MAYBE_SENT)
    twice = sorted(_name(c) for c in defined if c in NOT_SENT and c in MAYBE_SENT)
    assert not unclassified, f"classify these in s3store/_sent.py: {unclassified}"
    assert not twice


def test_the_tables_are_disjoint_without_duplicates() -> None:
    assert len(set(NOT_SENT)) == len(NOT_SENT)
    assert len(set(MAYBE_SENT)) == len(MAYBE_SENT)
    assert not set(NOT_SENT) & set(MAYBE_SENT)
    assert all(isinstance(c, type) and issubclass(c, BaseException) for c in ALL_CLASSES)


def test_aliases_are_classified_under_their_one_class() -> None:
    assert u3e.ConnectionError is u3e.ProtocolError
    assert socket.timeout is TimeoutError
    assert ssl.CertificateError is ssl.SSLCertVerificationError
    assert http.client.error is http.client.HTTPException


# -- one verdict per class -------------------------------------------------------------

@pytest.mark.parametrize("cls", ALL_CLASSES, ids=_name)
def test_verdict_of_an_instance_of_each_class(cls: type[BaseException]) -> None:
    exc = instance_of(cls)
    assert type(exc) is cls
    assert str(exc) is not None  # the message formats with these arguments
    assert request_may_have_been_sent(exc) is (cls in MAYBE_SENT)


def test_an_ssl_eof_after_the_request_went_out_may_have_been_sent() -> None:
    exc = bce.SSLError(
        endpoint_url="https://x", error=ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    # The trap: SSLError is a botocore ConnectionError, as EndpointConnectionError is.
    assert isinstance(exc, bce.ConnectionError)
    assert request_may_have_been_sent(exc)
    assert not request_may_have_been_sent(bce.EndpointConnectionError(endpoint_url="https://x"))


# Pinned independently of the tables: changing one of these verdicts takes two edits.
PINNED_NOT_SENT = [
    bce.EndpointConnectionError, bce.ConnectTimeoutError, bce.NoCredentialsError,
    bce.PartialCredentialsError, bce.CredentialRetrievalError, bce.ParamValidationError,
    bce.NoRegionError, bce.EndpointResolutionError, bce.UnknownSignatureVersionError,
    u3e.NewConnectionError, u3e.NameResolutionError, u3e.ConnectTimeoutError, socket.gaierror,
]
PINNED_MAYBE_SENT = [
    bce.ConnectionError, bce.SSLError, bce.ProxyConnectionError, bce.HTTPClientError,
    bce.ConnectionClosedError, bce.ReadTimeoutError, bce.ResponseStreamingError,
    bce.IncompleteReadError, bce.FlexibleChecksumError, bce.ChecksumError,
    bce.UnseekableStreamError, bce.ClientError, bce.BotoCoreError,
    u3e.HTTPError, u3e.SSLError, u3e.ProxyError, u3e.ProtocolError, u3e.ReadTimeoutError,
    u3e.TimeoutError, u3e.MaxRetryError, u3e.IncompleteRead, u3e.DecodeError,
    OSError, ConnectionRefusedError, ConnectionResetError, BrokenPipeError, TimeoutError,
    ssl.SSLError, ssl.SSLEOFError, http.client.RemoteDisconnected,
    http.client.IncompleteRead, concurrent.futures.CancelledError,
]


@pytest.mark.parametrize("cls", PINNED_NOT_SENT, ids=_name)
def test_pinned_not_sent(cls: type[BaseException]) -> None:
    assert not request_may_have_been_sent(instance_of(cls))


@pytest.mark.parametrize("cls", PINNED_MAYBE_SENT, ids=_name)
def test_pinned_maybe_sent(cls: type[BaseException]) -> None:
    assert request_may_have_been_sent(instance_of(cls))


@pytest.mark.parametrize("cls", NOT_SENT, ids=_name)
def test_an_unclassified_subclass_of_a_not_sent_class_may_have_been_sent(
    cls: type[BaseException],
) -> None:
    subclass = cast(type[BaseException], type(f"Later{cls.__name__}", (cls,), {}))
    exc = subclass.__new__(subclass)  # no __init__: the verdict goes by the class alone
    assert isinstance(exc, cls)
    assert request_may_have_been_sent(exc)


@pytest.mark.parametrize("exc", [
    ValueError("x"), KeyError("x"), RuntimeError("x"), KeyboardInterrupt(), Exception("x"),
], ids=lambda e: type(e).__name__)
def test_an_unknown_class_may_have_been_sent(exc: BaseException) -> None:
    assert request_may_have_been_sent(exc)


# -- what a boto3 caller sees -----------------------------------------------------------

@pytest.fixture(scope="module")
def client() -> Any:
    """A real boto3 S3 client that makes one attempt per call; nothing listens on port 9."""
    return boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x",
        aws_secret_access_key="x",  # noqa: S106 - a dummy; no request leaves the process
        endpoint_url="http://127.0.0.1:9",
        config=botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture
def raising_before_send(client: Any) -> Iterator[Callable[[BaseException], None]]:
    """Make the next PutObject raise a given exception where botocore would send it."""
    raised: list[BaseException] = []

    def before_send(**_: Any) -> None:
        raise raised[-1]

    client.meta.events.register("before-send.s3.PutObject", before_send, unique_id="test-sent")
    yield raised.append
    client.meta.events.unregister("before-send.s3.PutObject", unique_id="test-sent")


@pytest.mark.parametrize(("exc", "sent"), [
    (bce.SSLError(endpoint_url=URL, error=u3e.SSLError(_eof())), True),
    (_FACTORIES[bce.EndpointConnectionError](), False),
    (_FACTORIES[bce.ConnectTimeoutError](), False),
    (_FACTORIES[bce.ReadTimeoutError](), True),
    (_FACTORIES[bce.ConnectionClosedError](), True),
    (u3e.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")), True),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), True),
], ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value))
def test_the_put_object_caller_sees_the_class_raised_at_send(
    client: Any, raising_before_send: Callable[[BaseException], None],
    exc: BaseException, sent: bool,
) -> None:
    raising_before_send(exc)
    with pytest.raises(BaseException) as caught:  # noqa: PT011 - the class is the point
        client.put_object(Bucket="b", Key="k", Body=b"{}", IfNoneMatch="*")
    assert caught.value is exc and type(caught.value) is type(exc)
    assert request_may_have_been_sent(caught.value) is sent


BOTOCORE = tuple(int(part) for part in botocore.__version__.split(".")[:3])

# urllib3's urlopen raising X -> what URLLib3Session.send hands the caller.
WRAPPED = [
    (u3e.NewConnectionError, bce.EndpointConnectionError),
    (u3e.NameResolutionError, bce.EndpointConnectionError),
    (socket.gaierror, bce.EndpointConnectionError),
    (u3e.ConnectTimeoutError, bce.ConnectTimeoutError),
    (u3e.SSLError, bce.SSLError),
    (u3e.ProxyError, bce.ProxyConnectionError),
    (u3e.ReadTimeoutError, bce.ReadTimeoutError),
    (u3e.ProtocolError, bce.ConnectionClosedError),
    (u3e.LocationParseError, bce.HTTPClientError),
    (u3e.EmptyPoolError, bce.HTTPClientError),
    (ConnectionResetError, bce.HTTPClientError),
    (ssl.SSLEOFError, bce.HTTPClientError),
    (http.client.RemoteDisconnected, bce.HTTPClientError),
    # botocore re-raises a CancelledError as is from 1.40.28; before, it wraps it.
    (concurrent.futures.CancelledError,
     concurrent.futures.CancelledError if BOTOCORE >= (1, 40, 28) else bce.HTTPClientError),
]
RAW = [c for c in ALL_CLASSES if not issubclass(c, bce.BotoCoreError | bce.ClientError)
       and c.__module__ != botocore.parsers.__name__]


def _put_with_urlopen_raising(
    monkeypatch: pytest.MonkeyPatch, client: Any, exc: BaseException,
) -> BaseException:
    def urlopen(self: Any, *args: Any, **kwargs: Any) -> HTTPResponse:
        raise exc

    monkeypatch.setattr(HTTPConnectionPool, "urlopen", urlopen)
    with pytest.raises(BaseException) as caught:  # noqa: PT011 - the class is the point
        client.put_object(Bucket="b", Key="k", Body=b"{}", IfNoneMatch="*")
    return caught.value


@pytest.mark.parametrize(("raw", "seen"), WRAPPED, ids=lambda c: c.__name__)
def test_what_botocores_send_makes_of_urllib3s_exceptions(
    monkeypatch: pytest.MonkeyPatch, client: Any,
    raw: type[BaseException], seen: type[BaseException],
) -> None:
    caught = _put_with_urlopen_raising(monkeypatch, client, instance_of(raw))
    assert type(caught) is seen


@pytest.mark.parametrize("raw", RAW, ids=_name)
def test_botocores_wrapping_never_turns_maybe_sent_into_not_sent(
    monkeypatch: pytest.MonkeyPatch, client: Any, raw: type[BaseException],
) -> None:
    exc = instance_of(raw)
    caught = _put_with_urlopen_raising(monkeypatch, client, exc)
    if request_may_have_been_sent(exc):
        assert request_may_have_been_sent(caught), f"{_name(raw)} -> {_name(type(caught))}"


# -- the reads through which urllib3's own exceptions reach the caller -------------------

class _BreakingBody:
    """A socket file that hands out `head`, then fails the way the connection did."""

    closed = False

    def __init__(self, exc: BaseException, head: bytes = b"") -> None:
        self._exc = exc
        self._head = head

    def read(self, amt: int | None = None) -> bytes:
        head, self._head = self._head, b""
        if head:
            return head
        raise self._exc


def _answer_with_breaking_body(
    monkeypatch: pytest.MonkeyPatch, status: int, exc: BaseException,
) -> None:
    head = b"<?xml version" if status >= 300 else b""

    def urlopen(self: Any, *args: Any, **kwargs: Any) -> HTTPResponse:
        body: Any = _BreakingBody(exc, head)  # read() and closed: all urllib3 uses of a file
        return HTTPResponse(body=body, headers={"Content-Length": "500"},
                            status=status, preload_content=False, decode_content=False)

    monkeypatch.setattr(HTTPConnectionPool, "urlopen", urlopen)


BREAKS = [
    (ConnectionResetError(errno.ECONNRESET, "reset"), u3e.ProtocolError,
     bce.ConnectionClosedError),
    (ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC]"), u3e.SSLError, bce.SSLError),
    (TimeoutError("timed out"), u3e.ReadTimeoutError, bce.ReadTimeoutError),
]


@pytest.mark.parametrize(("fault", "raw", "wrapped"), BREAKS, ids=lambda v: type(v).__name__)
def test_an_error_answer_to_get_object_whose_body_breaks_raises_urllib3s_exception(
    monkeypatch: pytest.MonkeyPatch, client: Any, fault: BaseException,
    raw: type[BaseException], wrapped: type[BaseException],
) -> None:
    """Endpoint._do_get_response reads a >= 300 answer's body of a streaming operation
    (convert_to_response_dict) outside its try: urllib3's exception escapes as is."""
    _answer_with_breaking_body(monkeypatch, 503, fault)
    with pytest.raises(raw) as caught:
        client.get_object(Bucket="b", Key="k")
    assert type(caught.value) is raw and request_may_have_been_sent(caught.value)


@pytest.mark.parametrize(("fault", "raw", "wrapped"), BREAKS, ids=lambda v: type(v).__name__)
def test_the_same_break_under_a_put_object_answer_is_wrapped(
    monkeypatch: pytest.MonkeyPatch, client: Any, fault: BaseException,
    raw: type[BaseException], wrapped: type[BaseException],
) -> None:
    """An operation without streaming output has its body read inside send()."""
    for status in (200, 503):
        _answer_with_breaking_body(monkeypatch, status, fault)
        with pytest.raises(wrapped) as caught:
            client.put_object(Bucket="b", Key="k", Body=b"{}", IfNoneMatch="*")
        assert type(caught.value) is wrapped and request_may_have_been_sent(caught.value)


def test_a_tls_error_mid_body_escapes_streaming_body_read_raw(
    monkeypatch: pytest.MonkeyPatch, client: Any,
) -> None:
    """StreamingBody.read wraps urllib3's ReadTimeoutError and ProtocolError only."""
    _answer_with_breaking_body(monkeypatch, 200, ssl.SSLError(1, "[SSL] bad record mac"))
    body = client.get_object(Bucket="b", Key="k")["Body"]
    with pytest.raises(u3e.SSLError) as caught:
        body.read(100)
    assert request_may_have_been_sent(caught.value)

    _answer_with_breaking_body(monkeypatch, 200, ConnectionResetError(104, "reset"))
    body = client.get_object(Bucket="b", Key="k")["Body"]
    with pytest.raises(bce.ResponseStreamingError):
        body.read(100)


def test_streaming_body_readlines_hands_out_urllib3s_exceptions(
    monkeypatch: pytest.MonkeyPatch, client: Any,
) -> None:
    _answer_with_breaking_body(monkeypatch, 200, ConnectionResetError(104, "reset"))
    body = client.get_object(Bucket="b", Key="k")["Body"]
    with pytest.raises(u3e.ProtocolError) as caught:
        body.readlines()
    assert request_may_have_been_sent(caught.value)


# -- aiobotocore: botocore's connect errors wrapping aiohttp's ---------------------------

@pytest.mark.parametrize(("wrapper", "wrapped", "sent"), [
    (bce.EndpointConnectionError, "ClientOSError", True),  # a reset after writing
    (bce.EndpointConnectionError, "ClientConnectionError", True),
    (bce.EndpointConnectionError, "ClientConnectorError", False),  # the connect failed
    (bce.EndpointConnectionError, "ClientConnectorDNSError", False),
    (bce.ConnectTimeoutError, "ConnectionTimeoutError", False),
    (bce.ConnectTimeoutError, "ServerTimeoutError", True),  # no proof it was the connect
])
def test_aiobotocores_connect_errors_are_judged_by_what_they_wrap(
        wrapper: Callable[..., Exception], wrapped: str, sent: bool) -> None:
    """aiobotocore raises EndpointConnectionError for every aiohttp ClientConnectionError,
    a reset while the request is written among them: only a wrapped connect failure
    proves the request unsent. (Judged by the wrapper's class alone, a write whose
    answer a reset took would be sent again blind.)"""
    aiohttp = pytest.importorskip("aiohttp")
    cls = getattr(aiohttp, wrapped)
    error = (_connector_error(cls) if issubclass(cls, aiohttp.ClientConnectorError)
             else cls("connection reset by peer"))
    exc = wrapper(endpoint_url="https://x", error=error)
    assert request_may_have_been_sent(exc) is sent
    assert not request_may_have_been_sent(wrapper(endpoint_url="https://x"))
