#!/usr/bin/env bash
# Installs the system libraries DetSharp needs on Debian/Ubuntu, only where they are missing.
# OpenCvSharp's official linux-x64 runtime links GTK 3 (for OpenCV's highgui), even though DetSharp never opens a window.
set -euo pipefail
missing=()
ldconfig -p | grep 'libgtk-3.so.0' >/dev/null || missing+=(libgtk-3-0)
# Open MPI: mpirun starts the ranks of distributed training (--launcher mpi); DetSharp calls libmpi.so.40 directly.
command -v mpirun >/dev/null || missing+=(openmpi-bin)
ldconfig -p | grep 'libmpi.so.40' >/dev/null || missing+=(libopenmpi-dev)
if ((${#missing[@]} == 0)); then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-deps: please install these system libraries with your package manager: ${missing[*]}" >&2
  exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]} ..." >&2
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
