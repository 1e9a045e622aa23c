"""`make bench`: the matcher and the live pipeline measured against the raw face_recognition library.

Run as `python -m bench` (see bench/__main__.py and docs/benchmarks.md). Nothing here imports Django at
module level: the micro-benchmarks (bench.micro) also run inside .venv-fastdlib, and the pipeline sections
(bench.pipeline) run in a subprocess with their own database, broker and workers.
"""
