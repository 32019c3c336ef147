#!/usr/bin/env bash
# Stop the test cluster that tests/slurm/start-cluster.sh started in STATE_DIR: cancel its jobs, shut
# down slurmctld and slurmd, stop munged, and check that none of their processes is left. Only the
# processes named in STATE_DIR's pid files are signalled. Safe to run twice or on a half-started cluster.
#
#   tests/slurm/stop-cluster.sh STATE_DIR
set -uo pipefail

state="${1:?usage: stop-cluster.sh STATE_DIR}"
[ -d "$state" ] || exit 0
state="$(cd "$state" && pwd)"

alive() {  # pid file -> true while its process runs
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_gone() {  # pid file, seconds -> true once its process has exited
  local pidfile="$1" seconds="$2"
  for _ in $(seq 1 $((seconds * 5))); do
    alive "$pidfile" || return 0
    sleep 0.2
  done
  ! alive "$pidfile"
}

stop_pid() {  # pid file: TERM, then KILL after 10 s
  local pidfile="$1"
  alive "$pidfile" || return 0
  kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
  wait_gone "$pidfile" 10 && return 0
  kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
  wait_gone "$pidfile" 5
}

if [ -f "$state/slurm.conf" ] && alive "$state/slurmctld.pid"; then
  export SLURM_CONF="$state/slurm.conf"
  scancel --full --quiet --user="$(id -un)" 2>/dev/null || true
  for _ in $(seq 1 30); do  # running jobs end within KillWait (5 s)
    [ -z "$(squeue -h -t PENDING,RUNNING,COMPLETING,SUSPENDED -o %i 2>/dev/null)" ] && break
    sleep 1
  done
  scontrol shutdown >/dev/null 2>&1 || true  # slurmctld and every slurmd
fi

status=0
for daemon in slurmd slurmctld; do
  if ! stop_pid "$state/$daemon.pid"; then
    echo "stop-cluster: $daemon (pid $(cat "$state/$daemon.pid")) still running" >&2
    status=1
  fi
done
# munged last: slurmctld needs it to shut down the node
if alive "$state/munge/munged.pid"; then
  munged --stop --socket="$state/munge/munge.socket" >/dev/null 2>&1 || true
  if ! stop_pid "$state/munge/munged.pid"; then
    echo "stop-cluster: munged (pid $(cat "$state/munge/munged.pid")) still running" >&2
    status=1
  fi
fi
[ "$status" -eq 0 ] && echo "stop-cluster: SLURM and munge in $state stopped"
exit "$status"
