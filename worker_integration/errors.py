"""The worker's own errors, one root: `except WorkerError` catches every one of them.

```
WorkerError
├── InvalidRecordError (+ ValueError)        a stored record or field that does not validate
├── IllegalTransitionError (+ ValueError)    a job status change that would go backwards
├── InvalidWorkflowError (+ ValueError)      a workflow definition that cannot be used
├── InvalidEventError (+ ValueError)         a Lambda event the handlers cannot use
├── InvocationTimeError (+ RuntimeError)     too little of the invocation's time is left
├── IncompleteJobError (+ RuntimeError)      a job that cannot be finalised
├── DependencyTimeoutError (+ TimeoutError)  the steps a step needs were not recorded in time
└── SimulatedStepError (+ RuntimeError)      a step `SimulatedExecutor` was told to fail
```

Each is defined beside the code that raises it and keeps its built-in base, so that
`except ValueError` (or `RuntimeError`, `TimeoutError`) goes on catching it. The store's
errors (`s3store.S3StoreError`) are not `WorkerError`s.
"""

from __future__ import annotations

__all__ = ["WorkerError"]


class WorkerError(Exception):
    """Base of every error the worker itself raises (the store's are `S3StoreError`s)."""
