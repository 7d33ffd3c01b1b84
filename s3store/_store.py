"""`JsonStore`: the blocking front end of the store's decision core (`s3store._core`).

It performs the core's steps (`s3store._steps.run`) in the calling thread: requests with
the boto3 client it is given, retry waits with the policy's `sleep`, and group-commit
waits on `threading.Condition`s. What each call decides is the core's, shared with
`s3store.aio.AsyncJsonStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from s3store._codec import Codec
from s3store._commit import NO_DEFAULT
from s3store._core import Document, StoreCore, StoreOptions, check_key
from s3store._objects import Listing, ObjectVersion, prepare_client, send
from s3store._options import WriteOptions
from s3store._probe import ProbeReport
from s3store._retry import RetryPolicy
from s3store._steps import Steps, run

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["Document", "JsonStore", "check_key"]

V = TypeVar("V")
W = TypeVar("W")
T = TypeVar("T")


class JsonStore(StoreCore):
    """JSON documents in one S3 bucket, with optimistic concurrency.

    `client` is a boto3 S3 client (its retry config governs retries of reads; the
    store retries its own writes, see `s3store._retry`). `retry` bounds how often a
    write is retried and `update()` re-reads after a conflict. `max_document_bytes`
    bounds documents read and written. `expected_bucket_owner`, when set, is sent
    with every request.

    `cache_size` documents (default 1024, at most 64 MiB in all; 0 turns it off)
    are remembered after the store's own writes, so that the next `update()` of a
    key writes without reading first (see `s3store._cache`). `group_commit` (default
    on) makes concurrent `update()`s of one key through this store share rounds of
    one write each (see `s3store._commit`). `resolve_lost_responses=False` is for
    negative controls only (see `s3store._writer.ConditionalWriter`).

    `write_options` (`WriteOptions`: encryption, tags, metadata...; default none) go
    with every write of the store, its probe's too; `create`, `replace` and `update`
    take more per call (`options=`), merged over these (`WriteOptions.merged`).

    `codec` (a `Codec`; default `JSON_CODEC`, the standard library's strict JSON) turns
    values into the stored bytes and back, everywhere in the store: `OrjsonCodec` and
    `MsgspecCodec` are faster and as strict; a codec of your own can read and write model
    objects (`s3store._codec`). Every call takes its own `codec=` too, whose type its
    document then has: `get(key, codec=STEPS)` is a `Document[list[Step]]` when `STEPS` is
    a `Codec[list[Step]]`.

    Every write call takes `retry=` (a `RetryPolicy` for this call instead of the store's)
    and `deadline=` (seconds from the call's start, e.g. a Lambda invocation's remaining
    time; the earlier of it and the policy's `deadline` wins). Every call's figures
    (`CallFigures`: requests, attempts, conflicts, lost answers...) are on the `Document`
    it returns or the `S3StoreError` it raises, are added to `counters()`, and are given to
    `on_call(figures)` when set (a hook that raises is logged, never the call's error).

    The store registers two event handlers on `client` (once per client): a `needs-retry`
    handler that keeps botocore from retrying the store's own writes, and a `before-send`
    counter of the store's requests. Both act only while a store call runs in the thread:
    the caller's own requests on the client are neither retried differently nor counted.
    """

    def __init__(self, client: S3Client, bucket: str, **options: Unpack[StoreOptions]) -> None:
        super().__init__(bucket, **options)
        prepare_client(client)
        self.client = client
        self._perform = partial(send, client)

    def _run(self, steps: Steps[T]) -> T:
        return run(steps, self._perform)

    def _listed(self, listing: Listing[T]) -> Iterator[T]:
        """A listing's items, one page requested at a time as they are used."""
        while (page := self._run(listing.page())) is not None:
            yield from page

    @overload
    def get(self, key: str) -> Document[Any]: ...
    @overload
    def get(self, key: str, *, codec: Codec[V]) -> Document[V]: ...

    def get(self, key: str, *, codec: Codec[Any] | None = None) -> Document[Any]:
        """The document at `key`, read now; decoded by `codec` (default: the store's), whose
        type the document then has (`get(key, codec=STEPS) -> Document[list[Step]]`).

        Raises `NotFoundError`, `CorruptDocumentError`, `DocumentTooLargeError`,
        `InvalidKeyError`, `StorageError`.
        """
        return self._run(self._get_steps(key, codec))

    def create(self, key: str, value: V, *, options: WriteOptions | None = None,
               retry: RetryPolicy | None = None, deadline: float | None = None,
               codec: Codec[V] | None = None) -> Document[V]:
        """Store `value` at `key` only if the key is free (`If-None-Match: *`), sent with
        the store's write options and `options` over them.

        Raises `AlreadyExistsError`, `OutcomeUnknownError` (the answer was lost and
        nobody can tell whether it landed: on a bucket without versioning, a create
        whose answer was lost and whose key is still free is one, since another
        writer may have deleted it since), `InvalidValueError`,
        `DocumentTooLargeError`, `InvalidKeyError`, `StorageError`.
        """
        return self._run(self._create_steps(key, value, options=options, retry=retry,
                                            deadline=deadline, codec=codec))

    def replace(self, key: str, value: V, *, etag: str, options: WriteOptions | None = None,
                retry: RetryPolicy | None = None, deadline: float | None = None,
                codec: Codec[V] | None = None) -> Document[V]:
        """Store `value` at `key` only if the object there still has `etag` (`If-Match`),
        sent with the store's write options and `options` over them.

        Raises `ConflictError` (the object changed or was deleted), `OutcomeUnknownError`
        (the answer was lost and nobody can tell whether it landed: without versions,
        an object that still has `etag` proves nothing unless this store knows which
        write made it), `InvalidValueError`, `DocumentTooLargeError`, `InvalidKeyError`,
        `StorageError`.
        """
        return self._run(self._replace_steps(key, value, etag=etag, options=options,
                                             retry=retry, deadline=deadline, codec=codec))

    def update(
        self, key: str, mutate: Callable[[V], W], *, default: V = NO_DEFAULT,
        idempotent: bool = False, allow_none: bool = False, options: WriteOptions | None = None,
        retry: RetryPolicy | None = None, deadline: float | None = None,
        codec: Codec[V] | None = None,
    ) -> Document[W]:
        """Apply `mutate` to the document at `key` and store the result, without losing
        any concurrent write.

        `mutate(value) -> new_value` gets a private copy of the current value (it may
        change it in place, and must then return it) and may run more than once: it must
        not have side effects. A mutation that returns None is refused with
        `NoneResultError` and nothing is written (a forgotten `return` would otherwise
        erase the document), unless `allow_none=True` says that null is meant. If the key
        is missing, `mutate` gets a copy of `default` and the result is created with
        `If-None-Match: *`; without a default, `NotFoundError`. A result equal to the
        current value writes nothing.

        Concurrent calls for one key through this store may share a round: their
        mutations are applied in turn, written once, and each caller gets that
        round's document (which holds its own mutation, and possibly others'): the
        caller whose mutation succeeded last gets the very value it returned, each other
        one a copy decoded from the written bytes (with its codec). Its writes are sent
        with the store's write options and `options` over them; calls whose options
        differ never share a round.

        Exactly once: when a write's answer is lost, the store looks for proof of what
        became of it (`s3store._resolve`): it landed (success), it did not (re-read and
        re-apply), or nobody can tell — then `OutcomeUnknownError`, unless the caller
        declared `idempotent=True` (applying `mutate` again to a value that already
        holds its effect changes nothing, like an upsert by id): then it is applied
        again, so the effect is there at least once.

        Raises whatever `mutate` raises (nothing of it is written), `NoneResultError`,
        `RetriesExhaustedError`
        when conflicts outlast the retry policy, `OutcomeUnknownError`,
        `CorruptDocumentError`, `InvalidValueError`, `DocumentTooLargeError`,
        `InvalidKeyError`, `StorageError`.
        """
        return self._run(self._update_steps(
            key, mutate, default=default, idempotent=idempotent, allow_none=allow_none,
            options=options, retry=retry, deadline=deadline, codec=codec))

    def delete(self, key: str, *, etag: str | None = None, retry: RetryPolicy | None = None,
               deadline: float | None = None) -> None:
        """Delete the object at `key`; with `etag`, only if it is still that version.

        Without `etag`, deleting a missing key is not an error (as in S3). With it,
        `ConflictError` if the object changed or is gone, and `OutcomeUnknownError`
        when the answer was lost and nobody can tell whether this delete happened.
        Raises `InvalidKeyError`, `StorageError` (a 501 from a server that does not
        implement conditional deletes is one, naming the header).
        """
        self._run(self._delete_steps(key, etag=etag, retry=retry, deadline=deadline))

    def keys(self, prefix: str = "", *, page_size: int = 1000) -> Iterator[str]:
        """Every key under `prefix`, in key order (`ListObjectsV2`, `page_size` keys a
        request), as the listing goes.

        A server whose listing repeats a page or a key raises `StorageError` with code
        `RepeatedListingPage` instead of looping; other failures are `StorageError` too.
        """
        return self._listed(self._key_listing(prefix, page_size))

    def versions(self, key: str, *, page_size: int = 1000) -> Iterator[ObjectVersion]:
        """Every version of exactly `key`, newest first, delete markers left out (on a
        bucket that never had versioning, the one object, version id "null").

        Raises `InvalidKeyError`, and `StorageError` as `keys()` does (a repeated page or
        version id is `RepeatedListingPage`).
        """
        return self._listed(self._version_listing(key, page_size))

    def versioning(self) -> str:
        """The bucket's versioning: "Enabled", "Suspended" or "off" (never enabled).

        With "Enabled", a lost answer can always be resolved from the versions and
        `s3store recover` can read older versions. Raises `StorageError` (e.g.
        `AccessDenied` without `s3:GetBucketVersioning`).
        """
        return self._run(self._versioning_steps())

    def probe(self, *, prefix: str = "") -> ProbeReport:
        """What this endpoint honours, check by check (`s3store._probe`; `s3store probe`
        prints it): each check on its own object under `{prefix}.s3store-probe/`, deleted
        afterwards (on a versioned bucket its versions and a delete marker remain).

        Never raises for a check: each has its verdict. Raises `InvalidKeyError` for a
        prefix no key can have.
        """
        return self._run(self._probe_steps(prefix))

    def verify_conditional_writes(self, *, prefix: str = "") -> None:
        """Check that the endpoint honours `If-None-Match: *` and `If-Match` on `PutObject`
        (the put checks of `probe()`, each on its own object under
        `{prefix}.s3store-probe/`, deleted afterwards).

        Raises `ConditionalWritesUnsupportedError` if a write that had to be refused was
        accepted (whatever the other checks found); `StorageError` if the endpoint refuses
        what it had to accept or does not implement a header (permanent), or a check
        could not tell (transient after a lost answer or a 409 race: run it again).
        """
        self._run(self._verify_steps(prefix))
