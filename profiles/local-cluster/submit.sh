#!/usr/bin/env bash
# Submit a Snakemake job script as a detached local process and print its "job id" (the PID).
# Snakemake's job script writes its own success/failure marker, so no status command is needed.
set -euo pipefail
jobscript="$1"
logdir="${SNAKEMAKE_LOCAL_CLUSTER_LOGS:-logs/cluster}"
mkdir -p "$logdir"
nohup bash "$jobscript" >"$logdir/$(basename "$jobscript").out" 2>&1 </dev/null &
echo "$!"
