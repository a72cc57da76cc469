"""Python workloads the benchmark profiles; each module has run(scale) doing a fixed amount of work."""
