"""The worker's tests (`worker_integration`)."""
