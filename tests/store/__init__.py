"""The store's tests (`s3store`)."""
