"""gunicorn settings for the web tier, read by the Procfile, the bench and any `gunicorn -c gunicorn.conf.py`.

Threaded workers keep each client's connection open between requests (HTTP keep-alive); gunicorn's default
sync workers close it after every response. A camera unit posts several frames a second: on a 2-core machine
on 2026-11-29, keeping its connection cut the CPU of a frame POST by 11 % (API, client, PostgreSQL and Redis
together, 12.3 against 13.9 ms, four alternating runs of 150 frames; docs/benchmarks.md). A connection idle in
keep-alive waits in the worker's poller, not in a thread.

Each thread holds its own database connection: size PostgreSQL's `max_connections` for workers × threads
(docs/operations.md). WEB_CONCURRENCY (processes) and WEB_THREADS (threads per process) override the defaults.
"""

import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "2"))
keepalive = 5  # seconds a client's idle connection is kept; a camera posts far more often than that
