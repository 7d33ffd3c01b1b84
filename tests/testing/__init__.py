"""The tests of what s3store gives its users' tests: LocalS3's isolation, the pytest plugin."""
