"""The compatibility table of the README, measured: `python -m tests.compat` (or
`make compat`) runs on each backend it can start the probe's checks, 8 racing `If-Match`
PUTs on one key, and a version listing at page sizes 1, 2 and 1000, and prints one
Markdown row per backend. AWS S3's row comes from its documentation (the README cites it).

Backends: `local` (LocalS3), `moto` (bare moto's server, without this project's
patches, in its own process), `ministack`, and `localstack` when `.venv-localstack`
exists (`make test-localstack` builds it).
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from botocore.exceptions import ClientError

from s3store import JsonStore, S3StoreError
from s3store._probe import DELETE, PUT_CHECKS
from s3store.testing import LocalS3
from tests.servers import SERVERS, Bucket, ServerProcess

__all__ = ["BareMoto", "listing_order", "race_if_match", "row"]


class BareMoto(ServerProcess):
    """moto's own server (`python -m moto.server`), as a user would run it."""

    name = "moto"
    health_path = "/"
    ready = b"ListAllMyBucketsResult"

    def default_executable(self) -> Path:
        return Path(sys.executable)

    def command(self) -> list[str]:
        return [str(self.executable), "-m", "moto.server", "-H", "127.0.0.1",
                "-p", str(self.port)]

    def environment(self, root: Path) -> dict[str, str]:
        return {}


def race_if_match(bucket: Bucket, writers: int = 8) -> Counter[int]:
    """`writers` PutObjects with one `If-Match` released at once: their HTTP statuses.

    Each writes bytes of its own, none the base's: a writer putting back the base's bytes
    leaves its ETag (a content hash) as it was, and a second winner would be correct.
    """
    client = bucket.client()
    etag = client.put_object(Bucket=bucket.bucket, Key="race.json", Body=b"base")["ETag"]
    barrier = threading.Barrier(writers, timeout=30)
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def write(n: int) -> None:
        own = bucket.client()
        barrier.wait()
        try:
            own.put_object(Bucket=bucket.bucket, Key="race.json", Body=str(n).encode(),
                           IfMatch=etag)
            status = 200
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        with lock:
            answers[status] += 1

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def listing_order(bucket: Bucket, versions: int = 4) -> str:
    """How `versions` versions of one key are listed at page sizes 1, 2 and 1000."""
    client = bucket.client()
    etags = [client.put_object(Bucket=bucket.bucket, Key="v.json", Body=f"[{n}]".encode())
             ["ETag"] for n in range(versions)]
    store = JsonStore(client, bucket.bucket)
    seen = set()
    for page_size in (1, 2, 1000):
        try:
            listed = [v.etag for v in store.versions("v.json", page_size=page_size)]
        except S3StoreError as exc:
            return f"page size {page_size}: {exc.code or exc.message}"
        seen.add("newest first" if listed == etags[::-1] else
                 "oldest first" if listed == etags else f"other: {listed}")
    return ", ".join(sorted(seen)) + " (page sizes 1, 2, 1000)"


def row(name: str, bucket: Bucket, versioned: Bucket) -> str:
    """One Markdown row of the table."""
    report = JsonStore(bucket.client(), bucket.bucket).probe()
    verdicts = {c.name: c.verdict.value + (f" ({c.code})" if c.code else "")
                for c in report.checks}
    race = race_if_match(bucket)
    answers = ", ".join(f"{count}x {status}" for status, count in sorted(race.items()))
    cells = [name, *(verdicts[c] for c in (*PUT_CHECKS, DELETE)), answers,
             listing_order(versioned)]
    return "| " + " | ".join(cells) + " |"


@contextmanager
def _buckets(name: str) -> Iterator[tuple[Bucket, Bucket]]:
    if name == "local":
        with LocalS3() as plain, LocalS3(versioning=True) as versioned:
            yield plain, versioned
        return
    server = (BareMoto if name == "moto" else SERVERS[name])().start()
    try:
        yield server.new_bucket(), server.new_bucket(versioning=True)
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    """Print the table for the backends named (default: every one that can start)."""
    names = argv or ["local", "moto", "ministack", "localstack"]
    print("| backend | " + " | ".join((*PUT_CHECKS, DELETE)) +
          " | 8 racing If-Match PUTs | version listing |")
    print("|" + "---|" * 7)
    for name in names:
        try:
            with _buckets(name) as (plain, versioned):
                print(row(name, plain, versioned), flush=True)
        except RuntimeError as exc:  # a server that is not installed: say so, go on
            print(f"| {name} | could not start: {str(exc).splitlines()[0]} |" + " |" * 6)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
