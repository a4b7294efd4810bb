#!/usr/bin/env bash
# A real single-node Slurm for the cluster tests (shared/docs/CLUSTER.md's recipe): Debian's
# slurmctld, slurmd, slurm-client and munge, installed without starting their services, a
# minimal slurm.conf under $SLURM_DIR (default ~/.cache/sluice/slurm), then munged,
# slurmctld and slurmd started as root. Idempotent: daemons already up are left alone.
#   scripts/setup-slurm.sh && export SLURM_CONF=~/.cache/sluice/slurm/slurm.conf
set -euo pipefail
dir=${SLURM_DIR:-$HOME/.cache/sluice/slurm}
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  # Package scripts must not start the daemons (no systemd here): policy-rc.d says no.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
  $sudo rm -f /usr/sbin/policy-rc.d
fi
mkdir -p "$dir"/{state,spool,log}
host=$(hostname -s)
conf="$dir/slurm.conf"
cat > "$conf" <<EOF
ClusterName=sluicetest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MaxArraySize=10001
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$conf"
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chmod 400 /etc/munge/munge.key
fi
mkdir -p /var/lib/munge /var/log/munge /run/munge
pgrep -x munged >/dev/null || munged --force --socket="$dir/munge.sock" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge.seed"
pgrep -x slurmctld >/dev/null || slurmctld -i -f "$conf"
pgrep -x slurmd >/dev/null || slurmd -f "$conf"
for _ in $(seq 60); do
  if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    echo "slurm up: SLURM_CONF=$conf ($(sinfo -h -o '%N %c CPUs %T'))"
    exit 0
  fi
  sleep 1
done
echo "slurm did not come up; logs in $dir/log" >&2
exit 1
