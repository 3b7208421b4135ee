#!/usr/bin/env bash
# A one-node Slurm on localhost for the sharded-scan tests (issue 19):
# munged + slurmctld + slurmd, configured here, idempotent (a second call
# finds everything up and returns). Needs root and Debian's slurm-wlm + munge.
# Prints nothing on success but the final `sinfo` line.
set -euo pipefail

conf_dir=/etc/slurm
conf="$conf_dir/slurm.conf"
state=/var/spool/slurmctld
spool=/var/spool/slurmd
log=/var/log/slurm
cpus="$(nproc)"
host=localhost

if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)$'; then
  sinfo -h -o '%P %D %T %c'
  exit 0
fi

mkdir -p "$conf_dir" "$state" "$spool" "$log" /run/munge /var/lib/munge /var/log/munge
# Slurm daemons run as root here (SlurmUser=root): nothing else to chown.

# munge: a key if there is none, then the daemon.
if ! [ -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --force; else
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; fi
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! munge -n </dev/null | unmunge >/dev/null 2>&1; then
  # munged refuses to run as root unless forced; as the munge user it needs no force.
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
  else
    /usr/sbin/munged --force
  fi
  for _ in $(seq 50); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi

cat >"$conf" <<CONF
# Written by .ci/slurm-up.sh: one node, localhost, for tests.
ClusterName=mmsafe-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
StateSaveLocation=$state
SlurmdSpoolDir=$spool
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
InactiveLimit=0
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
Waittime=0
MaxArraySize=1001
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
# slurm-wlm 22.05 has no "disabled" cgroup plugin; without cgroup.conf slurmd
# autodetects and, with proctrack/linuxproc and task/none, uses no cgroups.
rm -f "$conf_dir/cgroup.conf"

pgrep -x -r R,S,D slurmctld >/dev/null || /usr/sbin/slurmctld
pgrep -x -r R,S,D slurmd >/dev/null || /usr/sbin/slurmd
for _ in $(seq 100); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)$'; then break; fi
  # A node left DOWN by an earlier run comes back.
  scontrol update NodeName=$host State=RESUME >/dev/null 2>&1 || true
  sleep 0.2
done
if ! sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)$'; then
  echo "slurm-up: the node did not come up; logs:" >&2
  tail -n 20 "$log/slurmctld.log" "$log/slurmd.log" >&2 || true
  exit 1
fi
sinfo -h -o '%P %D %T %c'
