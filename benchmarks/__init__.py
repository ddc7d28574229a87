"""Latency, memory, size and accuracy benchmarks for every shipped model and exported artifact.

    python -m benchmarks.run [--artifacts DIR] [--out DIR] [--quick]   # measure -> OUT/results.json
    python -m benchmarks.report [--results DIR] [--out DIR]            # results -> report.md + PNG charts
    python -m benchmarks.cost                                          # MACs / params per width

See ``benchmarks/README.md`` for the method and ``benchmarks/SCHEMA.md`` for the file formats.
"""
