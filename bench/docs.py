"""The fixed text of docs/benchmarks.md around the results that `make bench` writes into it."""

INTRO = """
# Benchmarks

`make bench` measures the matcher and the live pipeline **on the machine it runs on**, each figure next to the raw
`face_recognition` library doing the same work on the same inputs (issue 8). This file is rewritten by every full
run (`make bench BENCH_ARGS=--no-docs` prints without touching it). Speed is measured here, never asserted by timed
tests.

```
make bench                        # all six sections, both dlib builds if .venv-fastdlib exists (15–25 min)
make bench BENCH_ARGS=--quick     # fewer repeats
make bench BENCH_ARGS="--sections 4,6 --no-docs"
make fast-dlib                    # build dlib for this CPU into .venv-fastdlib (first time 10–40 min, then cached)
make bench BENCH_ARGS="--from-json var/bench/last-run.json"   # re-render this file from the last run's raw results
```

Sections 1–3 and the worker half of 5 need Redis on 127.0.0.1:6379 (the bench uses DB **7** and flushes it) and
PostgreSQL on 127.0.0.1:5432 (the bench drops, creates, migrates and finally drops the database **`lfr_bench`**).
Without them those rows say "not measured: <reason>" and the rest still runs.
"""

METHOD = """
## How each figure is measured

Inputs are the shared files in `../shared/data/faces/` (public photos from the face_recognition project; never
copied into the repository). Engine settings are the defaults: HOG, upsample 0, 1 jitter, the large (68-point)
landmark model, faces under 40 px ignored. The raw loops use the same settings, so both sides do the same work.

1. **Pipeline throughput.** Every 5th frame of `short_hamilton_clip.mp4`, read with OpenCV, resized to 640×480
   and JPEG-encoded (quality 90): 55 frames. The *pipeline* is the real path: gunicorn with two worker processes (the
   server the Procfile uses), a camera unit's token, a multipart `POST /api/v1/sessions/<id>/frames/`, the frame store
   in Redis, the Celery `matching` queue, `celery -A lfr_portal worker -Q matching -c 1` (with
   `LFR_BROKER_ACK_EMULATION=0`, as docs/operations.md advises for matching-only workers) doing the gates,
   decode, detect, encode and 1:N search, and the alert row in PostgreSQL. The bench seeds an authorised
   deployment, an approved one-person watch-list (`lin-manuel-miranda.png`) and a live session through the
   services, then posts the whole clip as fast as the API takes it; frames/s = frames processed ÷ (last frame
   processed − first frame posted), read from the session's counters. The poller sleeps for half the time the drain
   rate so far says is left and polls every 20 ms only near the end: polling every 20 ms throughout (what the bench
   did before 2026-11-29 05:00) cost the measured cores about 9 ms of CPU per frame in the bench's own Python and
   the PostgreSQL backend answering it. The *raw loop* is
   `load_image_file` + `face_locations` + `face_encodings` + `compare_faces` over the same JPEG bytes in one
   process. Since 2026-11-29 07:00 the two sides are measured **in rounds** (sections 1 and 2 together): each
   round runs four trials back to back (the raw loop; the pipeline with one worker; a second worker is started
   and warmed up; the pipeline with two workers; two raw loops at once), every other round in the reverse
   order, and each ratio is taken within its round. The figure is the median of the per-round ratios (6 rounds,
   2 with `--quick`; "paired, n=…" in the table), the frames/s columns the medians of each side. Before, every
   raw trial ran first and the pipeline's minutes later, and on the Xeon of 2026-11-29, whose speed drifted by
   10–20 % within a minute (the raw loop alone went from 120 to 102 ms per frame in consecutive passes), that
   drift passed for overhead or for scaling: the same code measured 0.61× and 0.96× for one worker. Two
   diagnostics split the difference: the frame service and the worker's task body called
   in-process (no HTTP, no broker) next to the raw loop, and the time of one API POST. A note gives the CPU
   each process used per frame during the throughput runs, read from `/proc` (the matching worker's pool
   process and its parent, gunicorn, PostgreSQL, Redis, and the bench's own camera client and poller).
   For these runs the bench raises `LFR_MAX_SESSION_QUEUE` (1000) and `LFR_LIVE_BUDGET_SECONDS` (300) so a
   queued clip is neither refused nor dropped as stale, and sets `LFR_ALERT_REPEAT_SECONDS=0` so that every
   matching frame writes its own alert row (otherwise repeat sightings update one row).
2. **Scaling.** The same with two worker processes (`-c 1` each; this machine has 2 cores), against two raw
   loops running at once (two processes, each over the whole clip). Scaling is two workers ÷ one worker within
   each round, and the raw column two raw loops ÷ one raw loop within the same round: it shows how much of a
   second core the machine really gave during that run.
3. **Alert latency.** Frames posted at a steady 0.6 × the measured throughput for 40 s; latency = the moment a
   poller (every 10 ms) first sees the frame's alert row − the moment its POST started. Only frames with a
   watched face raise an alert, so n is the number of alert rows; p99 of a few dozen samples is close to the
   maximum. The raw column is the plain loop's own time per frame.
4. **1:N search.** Synthetic watch-lists of 1k, 10k and 100k random vectors scaled to norms 1.3–1.5 like real
   encodings; probes are entries plus noise (distance about 0.35). The engine's `search` on a float32
   `Gallery.build` matrix, one probe per call, against `face_recognition.face_distance` on the same matrix as
   float64 (what the library gets from a list of encodings). Both must return the planted entry. From 8,000
   entries the engine's first pass reads an 8-bit copy of the gallery (docs/architecture.md, "1:N search") and
   measures in float32 only the entries its bounds cannot rule out, so the answer is exact; below that it is one
   float32 pass. Engine and
   raw samples alternate, each running for about 0.1 s, and the ratio is the median of the per-pair ratios.
   Equal sample times matter at 100k: the first few searches after a `face_distance` call run up to 1.6×
   slower while the memory system recovers from its 200 MB of temporaries, so a sample of five fast calls
   (what the bench took before 2026-11-29) measured that recovery, not the search (16× then, 25× after, on the
   Xeon of that day). numpy's own BLAS does this; dlib is not involved, so one figure serves both builds. At 100k
   entries both sides are memory-bound (the engine's 8-bit codes are 12.8 MB, the float64 matrix 102 MB plus a
   temporary as large), so the ratio moves with the host's memory traffic.
5. **Enrolment.** The 10 single-person photos at the top of the faces folder (`two_people.jpg` excluded):
   `matching.engine.enrolment_encoding` against `load_image_file` + `face_locations` + `face_encodings`, in one
   process, per dlib build; and through the workers: an enrolment batch created through the service (encrypted
   upload, `compliance.tasks.process_enrolment_batch` on the `enrolment` queue) until every image has its
   verdict, with one worker (one batch of 10) and two workers (two batches of 5; a batch is one task).
6. **Encoding and HOG.** `face_locations` (HOG) on `obama-480p.jpg` centre-cropped to 640×480 and on
   `obama-720p.jpg` (1280×720), upsample 0 and 1; `face_encodings` of the one face found, large landmarks,
   1 jitter. One long-lived `bench.micro --serve` process per build (the main `.venv` with `dlib-bin`, and
   `.venv-fastdlib`, see below) is driven sample by sample in alternation (A B, B A, …), and the speed-up is
   the median of the per-pair ratios, so load that drifts during the run cannot pass for a build difference.
   The two builds' encodings of the same face are compared too (they agree to about 1e-6).
   The build line reports `dlib.DLIB_USE_BLAS` / `DLIB_USE_LAPACK` / `DLIB_USE_CUDA`, the compiler recorded in
   the binary's `.comment` section, the BLAS it links, and counts of AVX (ymm), AVX2-integer and FMA
   instructions in its disassembly (the evidence for "uses AVX2/FMA or not").

Every loop is bounded in count and in time; every subprocess (API server, workers, raw-loop children) is stopped
by its own process id at the end, and the bench database and Redis DB 7 are cleaned up.

## Noise

This machine has 2 cores shared with other engineers' test suites (and, while it builds, `make fast-dlib`), so
wall-clock figures move by tens of percent between runs. The bench therefore repeats each measurement and reports
the median with the spread; alternates the two sides of a comparison (engine/raw, dlib-bin/fast-dlib; sample by
sample in sections 4 and 6, where the ratio is the median of the pairs) so drifting load hits both alike; runs
section 5 twice per build; and reports CPU time next to wall time for single-threaded work. CPU time excludes
time spent waiting for a core, so it is the steadier figure for comparing builds, though cache, memory-bandwidth
and hyper-thread contention on the host still reach it.

The raw columns show how much of the machine was really free: two raw loops at once gave 1.9–2.0× one loop on
a quiet machine, but only 1.1–1.3× while other engineers' suites were running, and scaling rows from such a run
say more about the neighbours than about the pipeline. Pipeline figures (sections 1–3) are multi-process and
measured in wall time: they are the most exposed to other load, and the API server, PostgreSQL, Redis and the
workers all share the same 2 cores. The CPU notes (per process, from `/proc`) say where a frame's cost went,
which moves much less between runs than the frames per second do. Treat a single run as indicative; compare
runs made on a quiet machine.

## `make fast-dlib`

`scripts/build_fast_dlib.sh` downloads the dlib source that `dlib-bin` packages (20.0.1), installs
`cmake build-essential libopenblas-dev liblapack-dev pkg-config clang-16` if missing (`apt-get update` once), and
builds a wheel with Debian's clang 16, `-O3 -march=native -fno-math-errno` (`-march=native` implies AVX2/FMA/AVX-512
on a CPU that has them), `DLIB_USE_BLAS=ON DLIB_USE_LAPACK=ON USE_AVX_INSTRUCTIONS=ON`, under `nice -n 19`.
`FAST_DLIB_CC=gcc FAST_DLIB_CXX=g++` builds with Debian's GCC 12 instead, and `FAST_DLIB_CXXFLAGS` replaces the
flags. The compiler decides the HOG figure: on the AMD EPYC of 2026-11-29, GCC 12 with `-O3 -march=native` made
HOG 20 % slower than `dlib-bin` (GCC 14), and 3–7 % slower with `-fno-math-errno`; `-mprefer-vector-width=256`
changed nothing. Clang 16 made it 12–18 % faster. On the Intel Xeon before it, GCC 12 with `-O3 -march=native`
had won by 5–7 %. The wheel is cached in `var/wheels/dlib-<version>-<key>/`, where the key hashes the dlib
version, the CPU's flags, the compiler's version and the build options. A second run on the same machine is
instant, and a different CPU or compiler gets its own build. It is
installed into a **separate** fresh venv, `.venv-fastdlib` (the project's requirements except `dlib-bin`, then
the wheel, then `face_recognition --no-deps`); the main `.venv` stays on `dlib-bin`. Because of
`-march=native` and the system OpenBLAS, the wheel only runs on machines like the one that built it: never ship
it. Workers run from that venv need `OPENBLAS_NUM_THREADS=1` (one process per core; OpenBLAS threads would
fight the other worker for the cores).

dlib 20.0.1's `setup.py` reads its `--set`/`--compiler-flags` options only inside `build_ext`, after setuptools
has already rejected them ("option --set not recognized"); the script patches that one call to run at import
time, as older dlib releases did, and fails loudly if the patch no longer applies.
"""

FINDINGS = """
## What the figures say (run of 2026-11-29 05:41 UTC, AMD EPYC family 23, dlib 20.0.1)

The machine changed again: an AMD EPYC of family 23 (Zen 1, AVX2, no AVX-512, 8 MiB of L3), about 2.7 times
slower per frame than the family-26 EPYC of the run before and with far less memory bandwidth (about 7 GB/s from
one core). Runs of the same code here move by ±5 %: a full run 35 minutes earlier, with one more change that
was then reverted (no health check before a web request), gave 0.97× for one worker and 1.81× for scaling. So
each change was judged on its own measured cost and on the tests that pin it, and the targets below sit at the
edge of that noise.

- **One `dlib-bin` worker: 0.91× the raw loop's frames per second** (target 0.9×: met, narrowly; 0.97× in the
  earlier full run, 0.88–0.95× in quick runs). The code that had landed measured 0.85× here at the start of
  the session. The fast build gives 0.85× (not met): its matcher is twice as fast, so the fixed per-frame work
  weighs twice as much.
  - The in-process diagnostic, with no HTTP and no broker, gives 0.93×: the worker's pool process spends
    about 140 ms of CPU per frame where the raw loop spends 131. What is left is the governance the product
    exists for: every gate read fresh with the session when the frame is taken, and again under a lock on the
    session row before an alert is written; the counters; and, for the 36 % of this clip's frames that show
    the watched person, the alert row with its encrypted crop and its audit record (py-spy: about 5 % of the
    worker's CPU in all, decoding aside, which the raw loop pays too).
  - What changed on 2026-11-29 (this session), each measured:
    - **the bench's own poller.** Polling the session's counters every 20 ms for the whole trial cost the
      measured cores about 9 ms of CPU per frame (the bench's Python, 6.1 ms against 1.0 at a steady rate, and
      the PostgreSQL backend answering it). It now sleeps until near the end of the drain. This was a flaw in
      the measurement, not in the pipeline: one worker went from 0.85× to 0.90–0.95× in quick runs;
    - **Redis ack emulation off on matching-only workers** (`LFR_BROKER_ACK_EMULATION=0`, docs/operations.md):
      the worker's parent process went from 3.0–3.6 to 1.5–1.8 ms of CPU per frame;
    - two copies of every decoded frame, and Celery's repr of the task's arguments.
- **Two `dlib-bin` workers give 1.78× one worker** (target 1.8×: not met; 1.81× in the earlier full run, 1.65–1.88×
  in quick runs). Two raw loops give 1.95×. The fast build gives 1.63×.
  - With both cores matching, the rest of the pipeline has no core of its own. Per frame: gunicorn 7.8–9.0 ms
    of CPU on the POST (7.1–12.4 ms between runs), PostgreSQL 3.1–3.3, the worker's parent 1.8, the bench's
    camera client 1.0–1.4, Redis 0.9: about 16 ms, taken from the matchers, where the raw loops pay nothing.
  - The ratio is 2·(M+w)/(M+w+o), with M+w the worker's time per frame and o everything else's CPU per frame.
    With `dlib-bin` (M+w ≈ 140 ms) 1.8× needs o ≤ 15.5 ms; with the fast build (M+w ≈ 72 ms) o ≤ 8 ms, less
    than the HTTP request alone. The POST's own CPU is the lever left. With the web tier and the database on
    cores or machines of their own (docs/operations.md), the workers scale as the raw loops do.
- **Alert latency meets its target at 640×480** with either build and one or two workers, at a steady 0.6 × the
  measured throughput: p95 345–352 ms with `dlib-bin` (one frame takes 131 ms to match here), 161–181 ms with
  the fast build.
- **1:N search at 100,000 entries: 25× faster than `face_distance`** (target 20×: met; 27× in the earlier full
  run, 15× on the previous machine, 25× on the Xeon before it). The engine needs 2.8 ms per probe,
  `face_distance` 71 ms.
  - A search of a large watch-list is memory-bound. The float32 pass streamed the 51 MB matrix per probe: 6–8 ms
    here, 10× `face_distance`. From 8,000 entries the engine now reads an 8-bit copy of the gallery first
    (12.8 MB at 100k, through OpenCV's `batchDistance`), then measures in float32 only the entries that the
    rounding errors cannot rule out. The answer is exact, not approximate: tests compare it with brute force,
    including entries whose codes cannot be ordered and a probe far outside the gallery's range, and a probe
    whose bounds cannot vouch is searched again in float32. The codes cost a quarter more memory.
  - Picking the two nearest with two `argmin` passes instead of `argpartition` took 0.5 ms off every 100k
    search.
  - The spread between samples can be wide here (±13 % in this run, ±45 % in the earlier one):
    `face_distance`'s 200 MB of temporaries and the engine's streaming compete for the same small cache and
    memory bandwidth. The ratio is the median of 12 alternating pairs. At 10,000 entries it is 19×; at 1,000,
    1.8× (both are a few numpy calls).
- **The fast dlib wins on both counts on this CPU too**, built with clang 16, `-O3 -march=native
  -fno-math-errno` and OpenBLAS: encoding a face takes 4.0× less time than with `dlib-bin` (37–39 against
  151–154 ms), and HOG detection 10–20 % less at every size and upsampling (in alternating pairs). Both builds give
  the same encoding to within 1e-6, so calibrations carry over.
- **Enrolment**: the engine's enrolment path runs at the raw loop's speed (0.99–1.00×). One enrolment worker
  reaches 0.74–0.83× of it from upload to verdict (encryption, storage and audit included), and two workers
  reach 1.27–1.48×.

Not covered by `make bench`: accuracy and false alerts (the calibration issue's `calibrate` command), the CNN
detector, and GPUs (none here).
"""
