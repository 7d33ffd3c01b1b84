"""The flow of a job, laid out as the original worker's `services/`: the orchestrator runs
the workflow, the step processor one step, the execution step manager builds records, the
completion service writes `html_generation` and finalises. Storage is `db_service`'s."""
