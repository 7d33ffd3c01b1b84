"""The job worker's execution-step storage, rebuilt on s3store.

Every write is a compare-and-swap through `s3store.JsonStore.update`, so steps
recorded at the same time by independent invocations never erase each other.
`DBService` is the one place that knows keys and document shapes.
"""

from worker_integration.db_service import DBService
from worker_integration.errors import WorkerError
from worker_integration.executor import (
    Executor,
    SimulatedExecutor,
    SimulatedStepError,
    StepRequest,
    StepResult,
)
from worker_integration.invocations import (
    BotoConnector,
    InProcessInvoker,
    InvocationReport,
    Invoker,
    ProcessInvoker,
    S3Target,
    ThreadInvoker,
)
from worker_integration.job_record import IllegalTransitionError, JobRecord, JobStatus
from worker_integration.models import ExecutionStep, InvalidRecordError, StepType, UsageInfo
from worker_integration.services.job_completion_service import (
    IncompleteJobError,
    JobCompletionService,
)
from worker_integration.services.step_processor import DependencyTimeoutError, StepProcessor
from worker_integration.services.workflow_orchestrator import WorkflowOrchestrator
from worker_integration.workflow import Workflow, WorkflowStep

__all__ = [
    "BotoConnector",
    "DBService",
    "DependencyTimeoutError",
    "ExecutionStep",
    "Executor",
    "IllegalTransitionError",
    "InProcessInvoker",
    "IncompleteJobError",
    "InvalidRecordError",
    "InvocationReport",
    "Invoker",
    "JobCompletionService",
    "JobRecord",
    "JobStatus",
    "ProcessInvoker",
    "S3Target",
    "SimulatedExecutor",
    "SimulatedStepError",
    "StepProcessor",
    "StepRequest",
    "StepResult",
    "StepType",
    "ThreadInvoker",
    "UsageInfo",
    "WorkerError",
    "Workflow",
    "WorkflowOrchestrator",
    "WorkflowStep",
]
