"""s3store's pytest plugin: the fixtures `local_s3` and `json_store` (docs/testing.md).

Installed as the `s3store` entry point of `pytest11`, so pytest loads it in every run of an
environment that has s3store, the `testing` extra or not: this module imports nothing of
the extra. A fixture imports `s3store.testing` when a test asks for it, and without the
extra that import fails with the line that installs it. `-p no:s3store` turns it off.

A conftest's fixture of the same name overrides the plugin's, as pytest's rules say.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from s3store import JsonStore

if TYPE_CHECKING:
    from s3store.testing import LocalS3

__all__ = ["json_store", "local_s3"]


@pytest.fixture(scope="session")
def _s3store_local_s3() -> Iterator[LocalS3]:
    """The session's one LocalS3 (a server is dearer to start than a bucket to empty)."""
    from s3store.testing import LocalS3  # noqa: PLC0415 - the `testing` extra is optional

    with LocalS3() as s3:
        yield s3


@pytest.fixture
def local_s3(_s3store_local_s3: LocalS3) -> LocalS3:
    """A running `LocalS3` whose bucket (`local_s3.bucket`) is empty when the test starts.

    Nothing of an earlier test is left: no object or version, the default fault plan with
    nothing injected, an empty request log. One server serves the whole session (a test
    that stops it gets it started again, on a new endpoint); unversioned, like
    `LocalS3()`: make your own `LocalS3(versioning=True)` for a versioned bucket.
    """
    if not _s3store_local_s3.running:
        _s3store_local_s3.start()
    _s3store_local_s3.reset()
    return _s3store_local_s3


@pytest.fixture
def json_store(local_s3: LocalS3) -> JsonStore:
    """A `JsonStore` with the default options on the test's `local_s3` bucket."""
    return JsonStore(local_s3.client(), local_s3.bucket)
