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
make bench BENCH_ARGS="--sections 1,2 --rounds 20"   # sections 1–2 alone, with more paired rounds
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
   rate so far says is left, beyond the last 0.3 s, and polls every 20 ms over that last stretch: polling every
   20 ms throughout (what the bench did before 2026-11-29 05:00) cost the measured cores about 9 ms of CPU per
   frame in the bench's own Python and the PostgreSQL backend answering it, and sleeping half of all that was left
   (until 2026-11-29 11:00) saw the last frame 50–70 ms late, 0.7 % of a trial against the pipeline. The *raw
   loop* is `load_image_file` + `face_locations` + `face_encodings` + `compare_faces` over the same JPEG bytes in
   one process. Since 2026-11-29 07:00 the two sides are measured **in rounds** (sections 1 and 2 together): each
   round runs four trials back to back (the raw loop; the pipeline with one worker; a second worker is started
   and warmed up; the pipeline with two workers; two raw loops at once), every other round in the reverse
   order, and each ratio is taken within its round. The figure is the median of the per-round ratios (10 rounds,
   2 with `--quick`, `--rounds N` to choose; "paired, n=…" in the table), the frames/s columns the medians of
   each side. Before, every raw trial ran first and the pipeline's minutes later, and on the Xeon of 2026-11-29,
   whose speed drifted by 10–20 % within a minute (the raw loop alone went from 120 to 102 ms per frame in
   consecutive passes), that drift passed for overhead or for scaling: the same code measured 0.61× and 0.96× for
   one worker. Two diagnostics split the difference: the frame service and the worker's task body called
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
sample in sections 4 and 6, trial by trial in rounds in sections 1 and 2, where the ratio is the median of the
pairs) so drifting load hits both alike; runs section 5 twice per build; and reports CPU time next to wall time
for single-threaded work. CPU time excludes time spent waiting for a core, so it is the steadier figure for
comparing builds, though cache, memory-bandwidth and hyper-thread contention on the host still reach it.

On the Xeon of 2026-11-29 not even CPU time held still: the raw loop alone, in one process with nothing else
running on the machine, took 120 and then 152 ms of CPU per frame in two consecutive passes over the clip, with
no page faults and no context switches in either. The host's own load changed the speed of the virtual cores
from one pass to the next (a few seconds), so single trials there are worth ±15 %, and a pipeline trial and a
raw trial run a minute apart could differ by more than the pipeline's whole overhead.

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
on a CPU that has them), `DLIB_USE_BLAS=ON DLIB_USE_LAPACK=ON USE_AVX_INSTRUCTIONS=ON`, and without link-time
optimisation (`CMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF`), under `nice -n 19`. `FAST_DLIB_CC=gcc FAST_DLIB_CXX=g++`
builds with Debian's GCC 12 instead, and `FAST_DLIB_CXXFLAGS` replaces the flags.

pybind11 adds `-flto` to dlib's Python module unless `CMAKE_INTERPROCEDURAL_OPTIMIZATION` is set, and until
2026-11-29 12:20 every fast build had it. On the AMD EPYC (Zen 3, family 25 model 1) of that day, that build's
HOG detection was 0.79× as fast as `dlib-bin` at 640×480 in the bench. A standalone program running dlib's
frontal face detector on the same 640×480 frame, built from the same source with the same clang flags, took
27–28 ms per frame (fastest of 40–60 calls) without `-flto` and 37–43 ms with it; `-fPIC` alone changed nothing.
LTO is therefore off; the build there took 17 minutes without it and 21 with it (its single-threaded LTO link
alone ran for about 10).
The compiler comparisons that follow were all made with LTO on. On an earlier AMD EPYC (Zen 5), GCC 12 with
`-O3 -march=native` made HOG 20 % slower than `dlib-bin` (GCC 14), and 3–7 % slower with `-fno-math-errno`;
`-mprefer-vector-width=256` changed nothing. Clang 16 made it 12–18 % faster. On the Intel Xeon, GCC 12 with
`-O3 -march=native` won by 5–7 % and clang 16 by 14–26 %.

The wheel is cached in `var/wheels/dlib-<version>-<key>/`, where the key hashes the dlib version, the CPU's
flags, the compiler's version and the build options. A second run on the same machine is
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
## What the figures say (run of 2026-11-29 09:25 UTC, Intel Xeon family 6 model 207, dlib 20.0.1)

Same machine as the run of 07:15 UTC: an Intel Xeon (family 6 model 207, AVX-512) in a KVM guest with 2 virtual
cores, whose speed changes with the host's load from one pass to the next. In standalone passes of the raw loop
between the experiments below (a script of its own, nothing else running), it took 114–119 ms per frame at one
time and 147–173 ms a few minutes later. Sections 1 and 2 therefore run in interleaved rounds and take each ratio
within a round (see "How each figure is measured"); since this run the bench runs ten rounds by default instead
of six. That removes the drift between the two sides of a ratio, not the noise within a round: the per-round
ratios still spread by ±12–25 %.

- **One `dlib-bin` worker: 0.95× the raw loop in this run** (target 0.9×: met here; its ten rounds gave
  0.79–1.02×), and 0.93× with the fast build (0.63–1.04×; it gave 0.79× at 07:15 UTC, and the confirmation run
  measured `dlib-bin` only). **The verdict is not stable on this host.** The same code, run again at once
  (sections 1–2 only, ten rounds, 09:47 UTC), gave **0.88×** (0.80–1.05×). Earlier today a four-round run gave
  0.79×, and the two six-round experiments below, with the same trials, gave 0.97× and 0.99× for the plain
  prefork worker. The run of record of 07:15 UTC gave 0.87× (six rounds) and a ten-round run after it 0.84×. Of
  these seven runs, four came out below the target and three above (0.79–0.99×): the pipeline sits at the
  target, inside this host's noise, and no single run settles on which side.
- **Where the pipeline's time goes.** Called in-process next to the raw loop (no HTTP, no broker), the frame
  service and the worker's task body took 166 ms per frame against the raw loop's 154 (0.93×; 0.95× in the
  confirmation run): the service 3.3 ms and the task body 9 ms more than the raw loop. A separate in-process run,
  timed function by function while the host was faster (the raw loop at 98 ms per frame), found the two sides
  spending the same time in dlib (detection 34.8 ms on both, encoding 62.5 against 61.7 ms per frame) and
  the task body 5.3 ms on top: the alert rows with their encrypted crops and audit records, and the counters
  (2.9 ms per frame; 20 of the clip's 55 frames show the watched person), the gate check read with the session
  (1.5 ms), claiming the frame in Redis (0.3 ms), and 0.6 ms in the 1:N search and the body's own Python. That
  is the governance the product exists for; it does not account for all of the 9 ms in this run. Through
  Celery, the matching worker's pool process spent 147 ms of CPU per frame (154 in the confirmation run) and its
  parent 1.8 ms, where the single-threaded raw loop took about 143 ms per frame (7.01 frames/s) in the same
  rounds. py-spy on the pool process (07:15 UTC session: 94.8 % of its samples inside dlib, under 1 % in Celery)
  does not place that difference in Python.
- **Celery's solo pool is no faster than prefork** here. A one-off script (not part of `make bench`) alternated
  the raw loop, a prefork worker (`-c 1`) and a solo-pool worker on the same session for six rounds: the median
  per-round ratio to the raw loop was 0.97× for prefork and 0.93× for solo, while solo ÷ prefork within each
  round had a median of 1.03×. Per-round ratios spread by ±15 % (0.84–1.13×), so neither figure separates the
  two pools. CPU per frame was 144 ms for prefork (pool and parent) and 141 for solo. The matching workers stay
  on prefork, whose hard time limit (`LFR_MATCH_TIME_LIMIT`) the solo pool does not enforce.
- **Sharing a core is not the cause either.** Another one-off six-round run pinned the pool process to one core
  and everything else (the worker's parent, gunicorn, PostgreSQL, Redis, the bench) to the other in one trial of
  each round, and left them free in another: the free trials gave 0.99× the raw loop and the pinned 0.98×
  (pinned ÷ free 1.01× per round), and the pool spent 156 ms of CPU per frame pinned against 151 free.
- **Two `dlib-bin` workers give 1.84× one worker** (target 1.8×: met; per-round 1.43–2.11×), and 1.86× in the
  confirmation run. Two raw loops gave 1.85× in the same rounds: the pipeline scales as the raw library does on
  this machine. The fast build gives 1.93× (raw 2.01×). Per frame, on the cores the workers need (this run and
  the confirmation run), gunicorn spent 7.3–8.5 ms of CPU on the POST, PostgreSQL 2.6–3.3, the worker's parent
  1.6–1.9, Redis 0.7–1.1 and the bench's camera client 1.0–1.3.
- **Alert latency meets its target at 640×480** with either build and one or two workers, at a steady 0.6 × the
  measured throughput: p95 314–428 ms with `dlib-bin` (this run and the confirmation run), 201–254 ms with the
  fast build.
- **1:N search at 100,000 entries: 21× faster than `face_distance`** (target 20×: met; 5.9 ms per probe against
  129 ms; the 12 pairs gave 19.3–29.9×). From 8,000 entries the engine first reads an exact 8-bit copy of the
  gallery (docs/architecture.md, "1:N search"). The engine took 2.7× and `face_distance` 1.7× as long as in the
  run of 07:15 UTC (2.2 and 76 ms, 32×); both read the whole gallery from memory, so the ratio moves with how
  fast the host serves memory at the time. At 10,000 entries it is 20.5×, at 1,000 6.2×.
- **The fast dlib wins on both counts on this CPU** (clang 16, `-O3 -march=native -fno-math-errno`, OpenBLAS):
  encoding a face is 2.6–2.8× as fast as with `dlib-bin` (54–62 against 146–174 ms), and HOG detection 1.14–1.26×
  as fast at every size and upsampling, in alternating pairs. Both builds give the same encoding to within 1e-6,
  so calibrations carry over.
- **Enrolment**: the engine's enrolment path runs at the raw loop's speed with `dlib-bin` (1.03×) and at 0.93×
  with the fast build. One enrolment worker reaches 0.81–0.84× of the raw loop from upload to verdict
  (encryption, storage and audit included), and two workers 1.31–1.65×.

Not covered by `make bench`: accuracy and false alerts (the calibration issue's `calibrate` command), the CNN
detector, and GPUs (none here).
"""
