"""Could a request that failed with an exception have reached the server?

`request_may_have_been_sent(exc)` is False only for exception classes that are raised
before any byte of the request could leave this process: DNS failures, refused or timed-out
TCP connects, and every error raised while the request is still being built, validated,
routed or signed. Everything else, and every class not listed here, may have been sent: a
conditional write that failed that way may have landed.

How to read a verdict
---------------------
* The lookup is by exact class (`type(exc)`), not `isinstance`. A subclass nobody has
  classified yet (a later botocore release adding one under `EndpointConnectionError`, a
  test's own subclass) is MAYBE_SENT until it is added to a table. This also rules out the
  trap this module exists for: botocore's `SSLError` subclasses its `ConnectionError`, and is
  raised after the request went out ("EOF occurred in violation of protocol"), so a verdict
  inherited from `ConnectionError` would retry a write that landed.
* A verdict is about the attempt that raised. It holds for the call only when botocore made
  one attempt (`total_max_attempts=1`, or a `needs-retry` handler that vetoes retries). When
  botocore retries, an earlier attempt may have been sent before the attempt that raised
  failed to connect or to sign. Note: botocore before 1.43.3 (`Endpoint._needs_retry`) takes a
  handler's `False` as "retry after time.sleep(False)"; only `None` means "no retry" there.
* urllib3 is read as botocore drives it: `HTTPConnectionPool.urlopen(retries=Retry(False),
  assert_same_host=False, preload_content=False)`, so urllib3 itself never retries, never
  follows a redirect and never re-enters `urlopen`; a connect inside one `urlopen` happens
  before the request's first byte.

Where it is raised, in the tags below
-------------------------------------
* [setup]    building the Session, client, Config, endpoint, paginator or waiter: no request
             exists yet.
* [call]     `BaseClient._make_api_call` before `Endpoint.make_request`: parameter build and
             validation, endpoint resolution, checksum and compression setup, Stubber hooks;
             once per call, before the first attempt.
* [attempt]  `Endpoint.create_request` (request-created: signing, credential and token
             refresh) or the connect of one attempt: before that attempt's first byte.
* [sent]     while the request is written, the response awaited or read, or after it arrived.

Which paths hand the caller what (botocore 1.35.36 to 1.44.8)
--------------------------------------------------------------
* `httpsession.URLLib3Session.send` wraps everything urllib3 raises: urllib3 SSLError ->
  SSLError; NewConnectionError (NameResolutionError in urllib3 2) or socket.gaierror ->
  EndpointConnectionError; ProxyError -> ProxyConnectionError; ConnectTimeoutError ->
  ConnectTimeoutError; ReadTimeoutError -> ReadTimeoutError; ProtocolError ->
  ConnectionClosedError; concurrent.futures.CancelledError passes as is (from 1.40.28;
  before, it became HTTPClientError); anything else -> HTTPClientError. For an operation
  without streaming output (PutObject, DeleteObject) the answer's body is read inside
  `send`, so a write's caller never sees a raw urllib3 exception.
* Raw urllib3 exceptions reach the caller in three ways, all reads (GetObject):
  1. `Endpoint._do_get_response` calls `convert_to_response_dict` outside its try; for an
     operation with streaming output and a status >= 300 that reads `http_response.content`,
     so a 503 SlowDown whose error body breaks off raises urllib3 ProtocolError,
     ReadTimeoutError or SSLError raw, and skips botocore's retry handlers.
  2. `response.StreamingBody.read` and `readinto` wrap only urllib3 ReadTimeoutError
     (-> ReadTimeoutError) and ProtocolError (-> ResponseStreamingError): a TLS error in the
     middle of a body (urllib3 SSLError, from `HTTPResponse._error_catcher`) escapes raw.
  3. `StreamingBody.readlines()` and `with body as raw:` hand out the urllib3 response
     itself, so any of its exceptions escape raw.
  The URLs, timeouts and pool errors urllib3 raises are wrapped, so a NOT_SENT urllib3 class
  reaches a caller as NOT_SENT EndpointConnectionError / ConnectTimeoutError, or as the
  conservative HTTPClientError; no wrapper turns a MAYBE_SENT class into a NOT_SENT one.

urllib3 1.26 (and 1.25.4, the floor botocore accepts) differs, and the table allows for it
------------------------------------------------------------------------------------------
* `HTTPConnectionPool.urlopen` turns any socket error (OSError) or NewConnectionError into
  `ProxyError("Cannot connect to proxy.")` whenever a proxy is configured, including a reset
  after the request was written; urllib3 2 does so only while
  `not conn.has_connected_to_proxy`. Hence ProxyError and ProxyConnectionError: MAYBE_SENT.
* There is no NameResolutionError: a DNS failure is a NewConnectionError (a PoolError and a
  ConnectTimeoutError there). `_new_conn` is still the only raiser of NewConnectionError and
  ConnectTimeoutError, as in urllib3 2.
* `_make_request` swallows EPIPE, ESHUTDOWN, EPROTOTYPE and ECONNRESET while writing the
  request (urllib3 2: BrokenPipeError, EPROTOTYPE, ECONNRESET), so a reset in the middle of
  the body surfaces from `getresponse` as RemoteDisconnected / ConnectionResetError ->
  ProtocolError -> ConnectionClosedError: MAYBE_SENT either way.
* `HTTPResponse._error_catcher` turns an ssl error reading "read operation timed out" into
  ReadTimeoutError and any other into SSLError; urllib3 2 turns every ssl error into SSLError.

The table (module: class, verdict, where it is raised, why)
-----------------------------------------------------------
botocore.exceptions, transport (botocore/httpsession.py URLLib3Session.send unless noted):
  EndpointConnectionError    NOT_SENT   send, for NewConnectionError / NameResolutionError /
                                        socket.gaierror, which only urllib3 connection.py
                                        HTTPConnection._new_conn raises: DNS or TCP connect
                                        failed, no socket carried a byte [attempt]
  ConnectTimeoutError        NOT_SENT   send, for urllib3 ConnectTimeoutError, raised only by
                                        _new_conn when the TCP connect times out (a TLS
                                        handshake timeout is a ReadTimeoutError) [attempt]
  ConnectionError            MAYBE_SENT base class, raised directly nowhere; its subclasses
                                        SSLError and ProxyConnectionError are [sent]
  SSLError                   MAYBE_SENT send, for urllib3 SSLError: from the handshake, but
                                        also from writing the request or reading the answer
                                        (ssl.SSLEOFError when the stream ends early) [sent]
  ProxyConnectionError       MAYBE_SENT send, for urllib3 ProxyError: under urllib3 1.26 any
                                        socket error while a proxy is set, after writing too
  HTTPClientError            MAYBE_SENT send, for any other exception of urllib3 or http.client,
                                        e.g. a ConnectionResetError or a body read failing
  ConnectionClosedError      MAYBE_SENT send, for urllib3 ProtocolError: the connection closed
                                        or reset while writing or before the answer [sent]
  ReadTimeoutError           MAYBE_SENT send and response.py StreamingBody.read/readinto:
                                        no answer in time after (or while) writing [sent]
  ResponseStreamingError     MAYBE_SENT response.py StreamingBody.read/readinto: the answer's
                                        body broke off [sent]
  IncompleteReadError        MAYBE_SENT response.py StreamingBody._verify_content_length [sent]
  ChecksumError              MAYBE_SENT retryhandler.py CRC32Checker: a response's CRC [sent]
  FlexibleChecksumError      MAYBE_SENT httpchecksum.py: request algorithm setup [call], but
                                        also StreamingChecksumBody._validate_checksum and
                                        _handle_bytes_response, on the response [sent]
  AwsChunkedWrapperError     MAYBE_SENT httpchecksum.py AwsChunkedWrapper.seek: rewinding a
                                        body for a retry, after an attempt [sent]
  UnseekableStreamError      MAYBE_SENT awsrequest.py AWSPreparedRequest.reset_stream: only
                                        before a retry, after an attempt [sent]
  ClientError                MAYBE_SENT client.py _make_api_call: the service answered [sent]
  EventStreamError           MAYBE_SENT eventstream.py EventStream._parse_event [sent]
  WaiterError                MAYBE_SENT waiter.py Waiter.wait, after its requests [sent]
  PaginationError            MAYBE_SENT paginate.py PageIterator.__iter__, after a page [sent]
  InvalidExpressionError     MAYBE_SENT utils.py validate_jmespath_for_set, from paginate.py
                                        editing a parsed page (result keys, tokens) [sent]
botocore.exceptions, client side, NOT_SENT (raised before any request byte):
  ParamValidationError       validate.py, serialize.py, handlers.py before-parameter-build
                             handlers, regions.py endpoint ruleset errors, stub.py [call]
  AliasConflictParameterError, InvalidRegionError, InvalidDNSNameError, InvalidHostLabelError,
  UnsupportedS3ArnError, UnsupportedS3ControlArnError, UnsupportedOutpostResourceError,
  UnsupportedS3ConfigurationError, UnsupportedS3AccesspointConfigurationError,
  UnsupportedS3ControlConfigurationError
                             handlers.py, utils.py S3ArnParamHandler / S3EndpointSetter /
                             switch_to_virtual_host_style / validate_region_name, regions.py
                             EndpointRulesetResolver: parameters and endpoint [call]/[attempt]
  EndpointResolutionError, UnknownEndpointResolutionBuiltInName, InvalidEndpointConfigurationError,
  EndpointVariantError, NoRegionError, UnknownRegionError
                             endpoint_provider.py, regions.py, auth.py, signers.py: endpoint
                             and region resolution, signing [setup]/[call]/[attempt]
  NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, UnknownCredentialError,
  RefreshWithMFAUnsupportedError, MetadataRetrievalError, InvalidIMDSEndpointError,
  InvalidIMDSEndpointModeError, InfiniteLoopConfigError, InvalidConfigError, SSOTokenLoadError,
  UnauthorizedSSOTokenError, LoginError, LoginRefreshRequired, LoginInsufficientPermissions,
  LoginTokenLoadError, NoAuthTokenError, TokenRetrievalError, UnknownTokenProviderError
                             credentials.py, tokens.py, utils.py (IMDS, container and SSO
                             fetchers), auth.py, signers.py: finding or refreshing the
                             credentials that sign the request [setup]/[attempt]
  UnknownSignatureVersionError, UnsupportedSignatureVersionError, MissingDependencyException,
  MD5UnavailableError, CapacityNotAvailableError
                             signers.py, auth.py, regions.py, httpchecksum.py, compat.py
                             get_md5, retries/bucket.py (adaptive mode's before-send rate
                             limiter): signing, checksums, throttling [call]/[attempt]
  DataNotFoundError, UnknownServiceError, ProfileNotFound, ConfigParseError, ConfigNotFound,
  InvalidS3AddressingStyleError, InvalidRetryConfigurationError, InvalidMaxRetryAttemptsError,
  InvalidRetryModeError, InvalidS3UsEast1RegionalEndpointConfigError,
  InvalidSTSRegionalEndpointsConfigError, InvalidEndpointDiscoveryConfigurationError,
  InvalidDefaultsMode, InvalidChecksumConfigError, InvalidProxiesConfigError,
  MissingServiceIdError, UnsupportedServiceProtocolsError, OperationNotPageableError,
  WaiterConfigError, UnknownClientMethodError
                             loaders.py, session.py, configloader.py, config.py, args.py,
                             client.py, model.py (CachedProperty, first read building the
                             client), httpsession.py _setup_proxy_ssl_context (before
                             urlopen, and wrapped there in HTTPClientError),
                             paginate.py, waiter.py, signers.py [setup]
  StubResponseError, StubAssertionError, UnStubbedResponseError
                             stub.py Stubber hooks (before-parameter-build, before-call):
                             a stubbed call never reaches the network [call]
botocore.exceptions, MAYBE_SENT because nothing proves where they are raised:
  BotoCoreError, ApiVersionNotFoundError, ServiceNotInRegionError, BaseEndpointResolverError,
  UnknownEndpointError, UnknownFIPSEndpointError, MissingParametersError, ValidationError,
  UnknownKeyError, RangeError, UnknownParameterError, UnknownServiceStyle, SSOError,
  LoginAuthorizationCodeError, EndpointProviderError
                             bases and legacy classes no code in botocore 1.35.36 or 1.44.8
                             raises; whoever raises one (a handler, another library) is
                             unknown
  UndefinedModelAttributeError
                             model.py ServiceModel._get_metadata_property, a generic accessor
                             whose callers were not all proven to run before the send
  UnsupportedTLSVersionWarning, ImminentRemovalWarning
                             warnings, not request failures
botocore.parsers:
  ResponseParserError        MAYBE_SENT parsers.py: the answer could not be parsed [sent]

urllib3.exceptions (urllib3 2.8 and 1.26.20 read; ConnectionError is ProtocolError's alias):
  NewConnectionError         NOT_SENT   connection.py HTTPConnection._new_conn (and
                                        contrib/socks.py SOCKSConnection._new_conn): socket
                                        connect failed [attempt]
  NameResolutionError        NOT_SENT   connection.py _new_conn, for socket.gaierror (urllib3
                                        2 only) [attempt]
  ConnectTimeoutError        NOT_SENT   connection.py _new_conn, socket timeout in connect
                                        [attempt]
  EmptyPoolError, ClosedPoolError
                             NOT_SENT   connectionpool.py HTTPConnectionPool._get_conn, the
                                        first step of urlopen [attempt]
  LocationValueError, LocationParseError, URLSchemeUnknown, ProxySchemeUnknown,
  ProxySchemeUnsupported
                             NOT_SENT   util/url.py parse_url, util/connection.py
                                        create_connection (host label check before the
                                        socket), connectionpool.py ConnectionPool.__init__,
                                        poolmanager.py (pools and proxy managers),
                                        util/ssl_.py ssl_wrap_socket / util/ssltransport.py
                                        (TLS in TLS setup): URLs and setup [setup]/[attempt]
  HTTPError, PoolError, RequestError, TimeoutError
                             MAYBE_SENT bases, not raised as themselves by urllib3's HTTP path
  SSLError                   MAYBE_SENT connectionpool.py urlopen / _make_request for any
                                        ssl error: handshake, writing, reading; response.py
                                        _error_catcher mid-body [sent]
  ProxyError                 MAYBE_SENT connectionpool.py urlopen; 1.26: any socket error
                                        with a proxy set, after writing too [sent]
  ProtocolError              MAYBE_SENT connectionpool.py urlopen ("Connection aborted.") and
                                        response.py _error_catcher ("Connection broken") [sent]
  ReadTimeoutError           MAYBE_SENT connectionpool.py _raise_timeout (handshake or answer),
                                        response.py _error_catcher [sent]
  TimeoutStateError          MAYBE_SENT util/timeout.py Timeout, misuse of its timer; not a
                                        verdict on the transport
  HostChangedError           MAYBE_SENT connectionpool.py urlopen's first check, which urllib3
                                        also runs when it re-enters urlopen after a redirect or
                                        a retry, after a request went out
  MaxRetryError, ResponseError
                             MAYBE_SENT util/retry.py Retry.increment, after responses/errors
  FullPoolError              MAYBE_SENT connectionpool.py _put_conn, releasing a connection
                                        after the answer [sent]
  UnrewindableBodyError      MAYBE_SENT util/request.py rewind_body, before a retry [sent]
  DecodeError, IncompleteRead, InvalidChunkLength, ResponseNotChunked,
  BodyNotHttplibCompatible, InvalidHeader, HeaderParsingError
                             MAYBE_SENT response.py, util/response.py, util/retry.py: reading
                                        the answer's headers or body [sent]
  HTTPWarning and its subclasses
                             MAYBE_SENT warnings, not request failures

aiohttp, as aiobotocore (`s3store.aio`) drives it (aiobotocore 2.16 to 3.10,
`httpsession.AIOHTTPSession.send`): it wraps what aiohttp raises into botocore's classes,
the aiohttp error kept as the wrapper's `error`. ClientSSLError -> SSLError,
ClientProxyConnectionError / ClientHttpProxyError -> ProxyConnectionError,
ServerDisconnectedError / ClientPayloadError / BadStatusLine -> ConnectionClosedError,
ServerTimeoutError -> ConnectTimeoutError if its text starts "connect", else
ReadTimeoutError; then ClientConnectorError / ClientConnectionError / socket.gaierror ->
EndpointConnectionError — every ClientConnectionError, so ClientOSError (a reset while
the request is written or its answer awaited) too. Hence the rule above: an
EndpointConnectionError or ConnectTimeoutError is NOT_SENT only if its `error` is:
  ClientConnectorError       NOT_SENT   connector.py TCPConnector._wrap_create_connection:
                                        the TCP connect failed [attempt]
  ClientConnectorDNSError    NOT_SENT   connector.py _resolve_host: DNS [attempt]
  ConnectionTimeoutError     NOT_SENT   client.py / connector.py: the connect timed out
                                        (aiohttp >= 3.10) [attempt]
  ClientOSError, ClientConnectionError, ServerTimeoutError and every other class
                             MAYBE_SENT written, or reading the answer [sent]
(urllib3's path wraps only NOT_SENT classes in these two: nothing changes for boto3.)

Builtins that can escape the send path (through a handler, a custom http session, a raw
urllib3 response, or botocore's CancelledError re-raise):
  socket.gaierror            NOT_SENT   only getaddrinfo/getnameinfo raise it: a DNS lookup,
                                        which comes before the connect [attempt]
  ConnectionRefusedError     MAYBE_SENT an errno (ECONNREFUSED), not a call site: the connect
                                        case becomes NewConnectionError, but a send or recv
                                        can carry the same errno (queued ICMP errors)
  OSError, ConnectionError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
  TimeoutError (socket.timeout)
                             MAYBE_SENT socket send/recv: a reset, a closed pipe or a timeout
                                        while writing or awaiting the answer [sent]
  ssl.SSLError, SSLEOFError, SSLZeroReturnError, SSLSyscallError, SSLWantReadError,
  SSLWantWriteError, SSLCertVerificationError
                             MAYBE_SENT ssl reads and writes after the handshake (a TLS 1.2
                                        renegotiation can even fail verification mid-stream)
  http.client.HTTPException and every subclass (RemoteDisconnected, IncompleteRead,
  BadStatusLine, LineTooLong, ...)
                             MAYBE_SENT http.client getresponse / reading, or a connection
                                        in the wrong state [sent]
  concurrent.futures.CancelledError
                             MAYBE_SENT httpsession.py send re-raises it as is (botocore
                                        >= 1.40.28): a body stream cancelled mid-upload [sent]
"""

from __future__ import annotations

import concurrent.futures
import http.client
import socket
import ssl

import botocore.exceptions
import botocore.parsers
import urllib3.exceptions

aiohttp: object
try:
    import aiohttp
except ImportError:  # no `aio` extra: its classes are absent from the tables
    aiohttp = None

__all__ = ["MAYBE_SENT", "NOT_SENT", "request_may_have_been_sent"]


class _Absent(Exception):
    """Stands in the tables for a class the installed release does not have yet."""


class _Classes:
    """A module's exception classes by name; `_Absent` for one this release lacks (the
    tables name classes of botocore 1.43 and urllib3 2.x; older releases lack some)."""

    def __init__(self, module: object) -> None:
        self._module = module

    def __getattr__(self, name: str) -> type[BaseException]:
        found = getattr(self._module, name, _Absent)
        return found if isinstance(found, type) and issubclass(found, BaseException) else _Absent


def _present(classes: tuple[type[BaseException], ...]) -> tuple[type[BaseException], ...]:
    return tuple(cls for cls in classes if cls is not _Absent)


bce = _Classes(botocore.exceptions)
u3e = _Classes(urllib3.exceptions)
aio = _Classes(aiohttp)  # aiobotocore's transport, when the `aio` extra is installed

NOT_SENT: tuple[type[BaseException], ...] = _present((
    # Transport: the connect (or the DNS lookup before it) failed.
    bce.EndpointConnectionError,
    bce.ConnectTimeoutError,
    # Parameters and endpoint.
    bce.ParamValidationError,
    bce.AliasConflictParameterError,
    bce.InvalidRegionError,
    bce.InvalidDNSNameError,
    bce.InvalidHostLabelError,
    bce.UnsupportedS3ArnError,
    bce.UnsupportedS3ControlArnError,
    bce.UnsupportedOutpostResourceError,
    bce.UnsupportedS3ConfigurationError,
    bce.UnsupportedS3AccesspointConfigurationError,
    bce.UnsupportedS3ControlConfigurationError,
    bce.EndpointResolutionError,
    bce.UnknownEndpointResolutionBuiltInName,
    bce.InvalidEndpointConfigurationError,
    bce.EndpointVariantError,
    bce.NoRegionError,
    bce.UnknownRegionError,
    # Credentials and tokens.
    bce.NoCredentialsError,
    bce.PartialCredentialsError,
    bce.CredentialRetrievalError,
    bce.UnknownCredentialError,
    bce.RefreshWithMFAUnsupportedError,
    bce.MetadataRetrievalError,
    bce.InvalidIMDSEndpointError,
    bce.InvalidIMDSEndpointModeError,
    bce.InfiniteLoopConfigError,
    bce.InvalidConfigError,
    bce.SSOTokenLoadError,
    bce.UnauthorizedSSOTokenError,
    bce.LoginError,
    bce.LoginRefreshRequired,
    bce.LoginInsufficientPermissions,
    bce.LoginTokenLoadError,
    bce.NoAuthTokenError,
    bce.TokenRetrievalError,
    bce.UnknownTokenProviderError,
    # Signing, checksums, client-side throttling.
    bce.UnknownSignatureVersionError,
    bce.UnsupportedSignatureVersionError,
    bce.MissingDependencyException,
    bce.MD5UnavailableError,
    bce.CapacityNotAvailableError,
    # Setup: session, client, config, models, paginators, waiters.
    bce.DataNotFoundError,
    bce.UnknownServiceError,
    bce.ProfileNotFound,
    bce.ConfigParseError,
    bce.ConfigNotFound,
    bce.InvalidS3AddressingStyleError,
    bce.InvalidRetryConfigurationError,
    bce.InvalidMaxRetryAttemptsError,
    bce.InvalidRetryModeError,
    bce.InvalidS3UsEast1RegionalEndpointConfigError,
    bce.InvalidSTSRegionalEndpointsConfigError,
    bce.InvalidEndpointDiscoveryConfigurationError,
    bce.InvalidDefaultsMode,
    bce.InvalidChecksumConfigError,
    bce.InvalidProxiesConfigError,
    bce.MissingServiceIdError,
    bce.UnsupportedServiceProtocolsError,
    bce.OperationNotPageableError,
    bce.WaiterConfigError,
    bce.UnknownClientMethodError,
    # Stubber.
    bce.StubResponseError,
    bce.StubAssertionError,
    bce.UnStubbedResponseError,
    # urllib3: connect, pool checkout, URLs and setup.
    u3e.NewConnectionError,
    u3e.NameResolutionError,
    u3e.ConnectTimeoutError,
    u3e.EmptyPoolError,
    u3e.ClosedPoolError,
    u3e.LocationValueError,
    u3e.LocationParseError,
    u3e.URLSchemeUnknown,
    u3e.ProxySchemeUnknown,
    u3e.ProxySchemeUnsupported,
    # Builtins.
    socket.gaierror,
    aio.ClientConnectorError,
    aio.ClientConnectorDNSError,
    aio.ConnectionTimeoutError,
))

MAYBE_SENT: tuple[type[BaseException], ...] = _present((
    # botocore transport and response.
    bce.ConnectionError,
    bce.SSLError,
    bce.ProxyConnectionError,
    bce.HTTPClientError,
    bce.ConnectionClosedError,
    bce.ReadTimeoutError,
    bce.ResponseStreamingError,
    bce.IncompleteReadError,
    bce.ChecksumError,
    bce.FlexibleChecksumError,
    bce.AwsChunkedWrapperError,
    bce.UnseekableStreamError,
    bce.ClientError,
    bce.EventStreamError,
    bce.WaiterError,
    bce.PaginationError,
    bce.InvalidExpressionError,
    botocore.parsers.ResponseParserError,
    # botocore: raised nowhere in botocore (bases, legacy), or by generic accessors.
    bce.BotoCoreError,
    bce.ApiVersionNotFoundError,
    bce.ServiceNotInRegionError,
    bce.BaseEndpointResolverError,
    bce.UnknownEndpointError,
    bce.UnknownFIPSEndpointError,
    bce.MissingParametersError,
    bce.ValidationError,
    bce.UnknownKeyError,
    bce.RangeError,
    bce.UnknownParameterError,
    bce.UnknownServiceStyle,
    bce.SSOError,
    bce.LoginAuthorizationCodeError,
    bce.EndpointProviderError,
    bce.UndefinedModelAttributeError,
    bce.UnsupportedTLSVersionWarning,
    bce.ImminentRemovalWarning,
    # urllib3.
    u3e.HTTPError,
    u3e.PoolError,
    u3e.RequestError,
    u3e.TimeoutError,
    u3e.SSLError,
    u3e.ProxyError,
    u3e.ProtocolError,  # also urllib3.exceptions.ConnectionError
    u3e.ReadTimeoutError,
    u3e.TimeoutStateError,
    u3e.HostChangedError,
    u3e.MaxRetryError,
    u3e.ResponseError,
    u3e.FullPoolError,
    u3e.UnrewindableBodyError,
    u3e.DecodeError,
    u3e.IncompleteRead,
    u3e.InvalidChunkLength,
    u3e.ResponseNotChunked,
    u3e.BodyNotHttplibCompatible,
    u3e.InvalidHeader,
    u3e.HeaderParsingError,
    u3e.HTTPWarning,
    u3e.SecurityWarning,
    u3e.InsecureRequestWarning,
    u3e.NotOpenSSLWarning,
    u3e.SystemTimeWarning,
    u3e.InsecurePlatformWarning,
    u3e.DependencyWarning,
    # Builtins: sockets.
    OSError,
    ConnectionError,
    ConnectionRefusedError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    TimeoutError,  # also socket.timeout
    # Builtins: ssl.
    ssl.SSLError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
    ssl.SSLSyscallError,
    ssl.SSLWantReadError,
    ssl.SSLWantWriteError,
    ssl.SSLCertVerificationError,  # also ssl.CertificateError
    # Builtins: http.client (http.client.error is HTTPException).
    http.client.HTTPException,
    http.client.NotConnected,
    http.client.InvalidURL,
    http.client.UnknownProtocol,
    http.client.UnknownTransferEncoding,
    http.client.UnimplementedFileMode,
    http.client.IncompleteRead,
    http.client.ImproperConnectionState,
    http.client.CannotSendRequest,
    http.client.CannotSendHeader,
    http.client.ResponseNotReady,
    http.client.BadStatusLine,
    http.client.LineTooLong,
    http.client.RemoteDisconnected,
    # Builtins: cancellation of a body stream.
    concurrent.futures.CancelledError,
))

_NOT_SENT: frozenset[type[BaseException]] = frozenset(NOT_SENT)


_WRAPPERS: frozenset[type[BaseException]] = frozenset(
    _present((bce.EndpointConnectionError, bce.ConnectTimeoutError)))


def request_may_have_been_sent(exc: BaseException) -> bool:
    """False only for exception classes proven to be raised before the request could
    reach the server — and, for botocore's connect errors, only if what they wrap (their
    `error`) is proven so too: aiobotocore raises `EndpointConnectionError` for any aiohttp
    `ClientConnectionError`, a reset after the request was written among them."""
    if type(exc) not in _NOT_SENT:
        return True
    if type(exc) in _WRAPPERS:
        wrapped = getattr(exc, "kwargs", {}).get("error")
        return isinstance(wrapped, BaseException) and request_may_have_been_sent(wrapped)
    return False
