"""Benchmarks: latency, scale and cost of the bridge, side by side with a buffering peer."""
