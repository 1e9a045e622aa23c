#!/usr/bin/env bash
# Build dlib from source for THIS machine's CPU (clang, -O3 -march=native, AVX, OpenBLAS + LAPACK), cache
# the wheel under var/wheels/ keyed by dlib version + CPU flags + compiler + build flags, and install it
# into a separate venv (.venv-fastdlib). The main .venv stays on the prebuilt dlib-bin wheel.
#
#   make fast-dlib                       # or: bash scripts/build_fast_dlib.sh
#   FAST_DLIB_VERSION=20.0.1 FAST_DLIB_JOBS=1 make fast-dlib
#   FAST_DLIB_CC=gcc FAST_DLIB_CXX=g++ make fast-dlib      # Debian's GCC 12 instead of clang
#
# The compiler and link-time optimisation matter for HOG detection, which is dlib's own SIMD code
# (docs/benchmarks.md): on an AMD EPYC (Zen 5), GCC 12 with -march=native made HOG 20 % slower than the dlib-bin
# wheel (GCC 14), 3-7 % slower with -fno-math-errno, while clang 16 made it 12-18 % faster; on a Zen 3 EPYC,
# clang 16 with LTO (pybind11's default until this script turned it off) made it 21 % slower. Encoding
# (OpenBLAS) wins either way.
#
# A second run with the same CPU, compiler and flags finds the cached wheel and only (re)creates the
# venv if it is missing. The wheel links to the system libopenblas/liblapack (Debian packages), so it
# is for this machine (and machines with the same CPU flags and libraries) only: never ship it.
# Run workers from this venv with OPENBLAS_NUM_THREADS=1 (one Celery process per core).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
# dlib-bin 20.0.1.post1 packages dlib 20.0.1: build the same upstream version.
VERSION="${FAST_DLIB_VERSION:-$(sed -n 's/^dlib-bin==\([0-9.]*[0-9]\).*/\1/p' requirements.txt)}"
VERSION="${VERSION:-20.0.1}"
VENV="${FAST_DLIB_VENV:-$ROOT/.venv-fastdlib}"
WHEELS="$ROOT/var/wheels"
# Not `nproc`: it honours OMP_NUM_THREADS, which the Makefile sets to 1.
JOBS="${FAST_DLIB_JOBS:-$(getconf _NPROCESSORS_ONLN)}"
CXXFLAGS_FAST="${FAST_DLIB_CXXFLAGS:--O3 -march=native -fno-math-errno}"
# Debian 12's newest clang; cmake takes the compilers from CC/CXX.
export CC="${FAST_DLIB_CC:-clang-16}" CXX="${FAST_DLIB_CXX:-clang++-16}"
# No link-time optimisation: pybind11 adds -flto to the Python module unless CMAKE_INTERPROCEDURAL_OPTIMIZATION is
# set. On an AMD EPYC (Zen 3) clang's LTO made HOG detection slower than dlib-bin (a standalone detector built both
# ways: 37-43 against 27-29 ms per 640x480 frame, 1.3-1.6x as long); the build took 21 minutes with it, 17 without.
CMAKE_SETS=(DLIB_USE_BLAS=ON DLIB_USE_LAPACK=ON USE_AVX_INSTRUCTIONS=ON USE_SSE4_INSTRUCTIONS=ON DLIB_USE_CUDA=OFF
    CMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF)

log() { printf '[fast-dlib] %s\n' "$*" >&2; }

# --- 1. system packages (only what is missing; apt-get update at most once) --------------------------
need=()
packages=(cmake build-essential libopenblas-dev liblapack-dev pkg-config)
[[ "$CXX" == clang++-* ]] && packages+=("clang-${CXX#clang++-}")
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        need+=("$pkg")
    fi
done
if ((${#need[@]})); then
    log "installing Debian packages: ${need[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        log "not root: run 'sudo apt-get install -y ${need[*]}' and try again"
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- 2. cache key: dlib version + CPU flags + compiler + build options -------------------------------
cpu_flags="$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2 | tr ' ' '\n' | sort | tr '\n' ' ')"
# The compiler is part of the key, so a build with another compiler never reuses this one's wheel.
cc_version="$("$CXX" --version | head -1)"
key_src="$VERSION|$cpu_flags|$cc_version|$CXXFLAGS_FAST|${CMAKE_SETS[*]}|$(uname -m)"
KEY="$(printf '%s' "$key_src" | sha256sum | cut -c1-16)"
WHEEL_DIR="$WHEELS/dlib-$VERSION-$KEY"
mkdir -p "$WHEEL_DIR"

wheel="$(ls "$WHEEL_DIR"/dlib-*.whl 2>/dev/null | head -1 || true)"
if [[ -n "$wheel" ]]; then
    log "cached wheel: $wheel"
else
    log "building dlib $VERSION (key $KEY) with CXXFLAGS='$CXXFLAGS_FAST' ${CMAKE_SETS[*]}, -j$JOBS"
    log "this takes 10+ minutes on 2 cores; the build runs under nice -n 19"
    BUILD="$WHEELS/build-$KEY"
    rm -rf "$BUILD"
    mkdir -p "$BUILD"
    # A throwaway build venv: setuptools/wheel/packaging from PyPI wheels, cmake from Debian (dlib's own
    # setup.py warns against the PyPI cmake). --no-build-isolation below keeps pip from compiling cmake.
    "$PYTHON" -m venv "$BUILD/venv"
    "$BUILD/venv/bin/python" -m pip install -q -U pip
    "$BUILD/venv/bin/python" -m pip install -q 'setuptools<81' wheel packaging
    "$BUILD/venv/bin/python" -m pip download -q --no-deps --no-binary dlib --no-build-isolation \
        "dlib==$VERSION" -d "$BUILD"
    tar -xzf "$BUILD/dlib-$VERSION.tar.gz" -C "$BUILD"
    # dlib's setup.py reads its --set/--compiler-flags options inside build_ext, after setuptools has already
    # rejected them ("option --set not recognized"). Read them at import time instead, as older dlib did.
    sed -i -e 's/^setup($/_PRESET_CMAKE_OPTIONS = get_extra_cmake_options()\n\nsetup(/' \
        -e 's/= get_extra_cmake_options()$/= _PRESET_CMAKE_OPTIONS/' "$BUILD/dlib-$VERSION/setup.py"
    if ! grep -q '^_PRESET_CMAKE_OPTIONS = get_extra_cmake_options()' "$BUILD/dlib-$VERSION/setup.py" \
        || ! grep -q 'clean_build_folder = _PRESET_CMAKE_OPTIONS' "$BUILD/dlib-$VERSION/setup.py"; then
        log "could not patch dlib $VERSION's setup.py option parsing; set FAST_DLIB_VERSION or update this script"
        exit 1
    fi
    set_args=()
    for s in "${CMAKE_SETS[@]}"; do set_args+=(--set "$s"); done
    (
        cd "$BUILD/dlib-$VERSION"
        export CMAKE_BUILD_PARALLEL_LEVEL="$JOBS"
        nice -n 19 "$BUILD/venv/bin/python" setup.py bdist_wheel \
            "${set_args[@]}" --compiler-flags "$CXXFLAGS_FAST" >"$BUILD/build.log" 2>&1
    ) || {
        log "build FAILED; last lines of $BUILD/build.log:"
        tail -30 "$BUILD/build.log" >&2
        exit 1
    }
    built="$(ls "$BUILD/dlib-$VERSION"/dist/dlib-*.whl | head -1)"
    # Record how it was built next to the wheel (the bench prints this).
    {
        echo "dlib_version=$VERSION"
        echo "cache_key=$KEY"
        echo "compiler=$cc_version"
        echo "cxxflags=$CXXFLAGS_FAST"
        echo "cmake=${CMAKE_SETS[*]}"
        echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        grep -E "Enabling (AVX|SSE)|Found BLAS|Found LAPACK|Using (BLAS|LAPACK)|BLAS library|LAPACK library" \
            "$BUILD/build.log" | sed 's/^-- /cmake: /' | sort -u || true
        # The flags cmake actually passed to the compiler for libdlib and for the Python module.
        for f in $(find "$BUILD" -name flags.make \( -path '*dlib.dir*' -o -path '*_dlib_pybind11.dir*' \) | sort); do
            echo "flags[$(basename "$(dirname "$f")")]: $(grep -E '^CXX_(FLAGS|DEFINES)' "$f" | tr '\n' ' ')"
        done
    } >"$WHEEL_DIR/BUILD_INFO.txt"
    cp "$built" "$WHEEL_DIR/"
    cp "$BUILD/build.log" "$WHEEL_DIR/build.log"
    wheel="$WHEEL_DIR/$(basename "$built")"
    rm -rf "$BUILD"
    log "wheel cached: $wheel"
fi

# --- 3. the separate venv: project requirements minus dlib-bin, plus this dlib ------------------------
# Keyed by the build and by the requirements: a dependency added to the project reaches this venv too (a stale venv
# cannot import the portal, and the bench's fast-build rows would say "not measured").
REQS_KEY="$(cat requirements.txt requirements-nodeps.txt | sha256sum | cut -c1-12)"
STAMP="$VENV/.fastdlib-$KEY-$REQS_KEY"
if [[ -f "$STAMP" && -x "$VENV/bin/python" ]]; then
    log "$VENV already has this build"
else
    log "creating $VENV (fresh venv, not --system-site-packages)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q -U pip
    reqs="$(mktemp)"
    grep -v -E '^[[:space:]]*dlib-bin' requirements.txt >"$reqs"
    "$VENV/bin/python" -m pip install -q --only-binary=dlib -r "$reqs"
    rm -f "$reqs"
    "$VENV/bin/python" -m pip install -q --no-deps "$wheel"
    "$VENV/bin/python" -m pip install -q --no-deps -r requirements-nodeps.txt
    cp "$WHEEL_DIR/BUILD_INFO.txt" "$VENV/FASTDLIB_BUILD_INFO.txt" 2>/dev/null || true
    touch "$STAMP"
fi

OPENBLAS_NUM_THREADS=1 "$VENV/bin/python" - <<'EOF'
import dlib
print(f"[fast-dlib] {dlib.__file__}: dlib {dlib.__version__}, "
      f"BLAS={dlib.DLIB_USE_BLAS} LAPACK={dlib.DLIB_USE_LAPACK} CUDA={dlib.DLIB_USE_CUDA}")
EOF
log "done: run 'make bench' to compare it with dlib-bin side by side"
