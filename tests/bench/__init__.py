"""The benchmarks' tests (`benchmarks`)."""
