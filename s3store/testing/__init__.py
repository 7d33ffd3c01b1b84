"""A local S3 that is as strict as S3, with fault injection, for testing code built on s3store.

Needs the `testing` extra (`pip install s3store[testing]`, which brings moto's server).
"""

from s3store.testing.faults import FAULT_KINDS, FaultKind, FaultPlan
from s3store.testing.local_s3 import LocalS3, RequestRecord, connect

__all__ = ["FAULT_KINDS", "FaultKind", "FaultPlan", "LocalS3", "RequestRecord", "connect"]
