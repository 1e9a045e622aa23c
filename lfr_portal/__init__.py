import os

# One BLAS thread per process. Matching runs one Celery process per core; OpenBLAS (numpy's, and the fast dlib
# build's) would otherwise start a thread per core in every process, and the workers would fight over the cores.
# Set first thing in the package that the worker, gunicorn and manage.py (through the settings) all import,
# before anything loads numpy or dlib, so a worker started without the Makefile's environment (a service unit, a
# container) gets it too. A value in the process environment wins; one in .env is read too late to count.
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

from .celery import app as celery_app  # noqa: E402 - after the thread defaults above

__all__ = ["celery_app"]
