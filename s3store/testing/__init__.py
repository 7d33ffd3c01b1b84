"""A local S3 that is as strict as S3, with fault injection, for testing code built on s3store.

Needs the `testing` extra (`pip install 's3store[testing]'`, which brings moto's server):
without it, importing this package raises `ModuleNotFoundError` with that line. The pytest
fixtures `local_s3` and `json_store` come with the package (docs/testing.md).
"""

from s3store.testing.faults import FAULT_KINDS, FaultKind, FaultPlan
from s3store.testing.local_s3 import BucketInUseError, LocalS3, connect
from s3store.testing.strict_app import RequestRecord

__all__ = ["FAULT_KINDS", "BucketInUseError", "FaultKind", "FaultPlan", "LocalS3",
           "RequestRecord", "connect"]
