"""The lecture's experiments, one module each: degradation, gap, bottleneck."""
