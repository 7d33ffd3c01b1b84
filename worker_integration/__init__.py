"""The job worker's execution-step storage, rebuilt on s3store."""
