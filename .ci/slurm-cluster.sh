#!/usr/bin/env bash
# A throwaway single-node SLURM cluster on localhost, for CI (needs root, Debian/Ubuntu).
#   .ci/slurm-cluster.sh start   install slurm-wlm + munge if missing, write the config, start
#                                munged, slurmctld and slurmd, wait until the node is idle
#   .ci/slurm-cluster.sh stop    stop the daemons by their process ids
# The node advertises one GPU as a generic resource with no device behind it, so that jobs
# asking for `--gpus=1` are scheduled as written (torch then finds no CUDA and uses the CPU).
# Finished jobs stay visible to squeue for MinJobAge seconds (the executor plugin reads them) and
# are appended to $STATE/jobcomp.txt, which the SLURM test reads to check every job's end state.
set -euo pipefail
STATE=${SLURM_CI_STATE:-/tmp/dccnnreg-slurm}
CONF=/etc/slurm/slurm.conf

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 || { apt-get update -q >/dev/null; apt-get install -y -q slurm-wlm munge >/dev/null; }
}

configure() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 2048 ))
    mkdir -p "$STATE"/{ctld,spool,log} /run/munge /etc/slurm
    chown -R slurm:slurm "$STATE"
    chmod 755 "$STATE"
    cat > "$CONF" <<EOF
ClusterName=dccnnreg-ci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/jobcomp.txt
MinJobAge=600
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    echo "NodeName=$host Name=gpu File=/dev/null" > /etc/slurm/gres.conf
    chown munge:munge /run/munge
}

start() {
    install
    configure
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    runuser -u munge -- munged --pid-file=/run/munge/munged.pid
    slurmctld
    slurmd
    for _ in $(seq 60); do
        [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && { echo "slurm cluster up: $(sinfo -h -o '%P %N %c CPUs %m MB %G')"; return; }
        sleep 1
    done
    echo "slurm cluster did not come up; logs in $STATE/log" >&2
    tail -n 20 "$STATE"/log/*.log >&2
    exit 1
}

stop() {
    for pidfile in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" /run/munge/munged.pid; do
        [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}

"${1:?usage: $0 start|stop}"
