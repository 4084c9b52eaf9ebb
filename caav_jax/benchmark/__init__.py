"""--mode=benchmark and the standalone benchmarks: step and pipeline throughput, FLOPs, comparisons across devices."""
