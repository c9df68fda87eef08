#!/usr/bin/env bash
# Open MPI for the data-parallel tests (`--features mpi`), installed from Debian when missing and this shell may
# (root with apt-get; ~35 s, ~150 MB): libopenmpi-dev + openmpi-bin, and libclang for the bindings `mpi-sys`
# generates at build time. Source it (`. ci/mpi.sh`); exports T1_MPI=1 when MPI can be built against. Nothing here
# fails the run: without MPI the data-parallel tests say SKIPPED and why.

t1_mpi_ready() { command -v mpicc >/dev/null && command -v mpirun >/dev/null && ls /usr/lib/llvm-*/lib/clang/*/include/stddef.h >/dev/null 2>&1; }

if ! t1_mpi_ready && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "mpi: installing Open MPI and libclang from Debian"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libopenmpi-dev openmpi-bin libclang1-14 libclang-common-14-dev; } >/dev/null 2>&1 \
        || echo "mpi: apt-get could not install Open MPI"
fi
if t1_mpi_ready; then
    export T1_MPI=1
    echo "mpi: $(mpirun --version 2>/dev/null | head -n 1)"
else
    echo "mpi: Open MPI (mpicc, mpirun) or libclang missing; the data-parallel tests will say SKIPPED" \
         "(apt-get install libopenmpi-dev openmpi-bin libclang1-14 libclang-common-14-dev)"
fi
