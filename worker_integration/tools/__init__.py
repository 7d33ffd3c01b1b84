"""The operators' tools: `audit` and `recover` (with the job listing they walk) and the
job-aware `s3store` subcommands. They use the worker's storage (`db_service`); the worker
never imports them."""
