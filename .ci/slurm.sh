#!/usr/bin/env bash
# A one-node SLURM cluster on this machine for the tests of tests/test_slurm_cluster.py.
#
#   bash .ci/slurm.sh start    install slurm-wlm and munge with apt if missing (root), write
#                              /etc/slurm/slurm.conf, start munged, slurmctld and slurmd, wait
#                              until the node is idle; does nothing when that cluster already runs
#   bash .ci/slurm.sh stop     stop the three daemons started by "start"
#   bash .ci/slurm.sh status   exit 0 when sinfo answers and the node takes jobs
#
# No cgroups (proctrack/linuxproc, task/none), no accounting; one partition "debug" holding this
# host with max(2, nproc) CPUs. An existing /etc/slurm/slurm.conf not written by this script is
# never touched: "start" fails instead. State and logs: $EFN_SLURM_STATE (default
# /var/tmp/efn-slurm). Exit status 0 on success; on failure the reason is the last line.
set -uo pipefail

STATE=${EFN_SLURM_STATE:-/var/tmp/efn-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# efn-local-cluster: written by .ci/slurm.sh"
HOST=$(hostname -s)

fail() { echo "slurm.sh: $*" >&2; exit 1; }

node_ready() {
  local state
  state=$(timeout 10 sinfo -h -n "$HOST" -o %T 2>/dev/null) || return 1
  [[ $state == idle* || $state == mixed* || $state == allocated* ]]
}

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && command -v sbatch >/dev/null && return 0
  [ "$(id -u)" = 0 ] || fail "slurm-wlm and munge are not installed and this is not root"
  command -v apt-get >/dev/null || fail "slurm-wlm and munge are not installed and there is no apt-get"
  local start=$SECONDS
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >"$STATE/apt.log" 2>&1 \
    || { DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$STATE/apt.log" 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >>"$STATE/apt.log" 2>&1; } \
    || fail "apt-get install slurm-wlm munge failed (log: $STATE/apt.log)"
  echo "slurm.sh: installed slurm-wlm and munge in $((SECONDS - start)) s"
}

write_conf() {
  if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    fail "$CONF exists and was not written by this script: not touching a real cluster's configuration"
  fi
  local cpus
  cpus=$(nproc)
  [ "$cpus" -ge 2 ] || cpus=2
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
  cat >"$CONF" <<EOF
$MARK
ClusterName=efn
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if [ -S /run/munge/munge.socket.2 ] && munge -n </dev/null | unmunge >/dev/null 2>&1; then
    return 0
  fi
  mkdir -p /run/munge
  chown munge:munge /run/munge 2>/dev/null || true
  [ -s /etc/munge/munge.key ] || { mungekey --create >/dev/null 2>&1 || fail "cannot create /etc/munge/munge.key"; }
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged --force || fail "munged did not start"
  else
    munged --force || fail "munged did not start"
  fi
  for _ in $(seq 50); do
    munge -n </dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "munged does not answer"
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  mkdir -p "$STATE"
  if node_ready; then
    echo "slurm.sh: the cluster already runs (node $HOST)"
    return 0
  fi
  install
  write_conf
  start_munge
  alive "$STATE/slurmctld.pid" || slurmctld || fail "slurmctld did not start (log: $STATE/slurmctld.log)"
  alive "$STATE/slurmd.pid" || slurmd || fail "slurmd did not start (log: $STATE/slurmd.log)"
  for _ in $(seq 60); do
    if node_ready; then
      echo "slurm.sh: cluster up (node $HOST, $(sinfo -h -o %c) CPUs, state $STATE)"
      return 0
    fi
    # a node left down or drained by an earlier run comes back
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  fail "the node $HOST did not become idle (logs: $STATE/slurmctld.log, $STATE/slurmd.log)"
}

stop_pid() {  # stop_pid PIDFILE NAME: TERM the daemon recorded there, wait for it to end
  alive "$1" || return 0
  local pid
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -9 "$pid" 2>/dev/null
}

stop() {
  [ -f "$CONF" ] && grep -qF "$MARK" "$CONF" || { echo "slurm.sh: no cluster of this script to stop"; return 0; }
  scancel --quiet --user=root >/dev/null 2>&1 || true
  stop_pid "$STATE/slurmd.pid"
  stop_pid "$STATE/slurmctld.pid"
  munged --stop >/dev/null 2>&1 || true
  echo "slurm.sh: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) node_ready ;;
  *) echo "usage: bash .ci/slurm.sh start|stop|status" >&2; exit 2 ;;
esac
