#!/usr/bin/env bash
# Submit a sharded scan and its report: N array tasks, then the report job.
#   MMSAFE_RUN_NAME=nightly-$(date +%F) MMSAFE_STORE=postgres://mmsafe@db/mmsafe \
#     deploy/slurm/submit.sh 8 --target "$T" --suite figstep:safebench.csv --attack figstep
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
n="${1:?usage: submit.sh N SCAN-ARGS…}"
shift
jid=$(sbatch --parsable --array=0-$((n - 1)) --export=ALL,MMSAFE_SHARDS="$n" "$here/scan-array.sbatch" "$@")
rid=$(sbatch --parsable --dependency=afterany:"$jid" --kill-on-invalid-dep=no \
  --export=ALL,MMSAFE_SHARDS="$n" "$here/report.sbatch")
echo "scan array $jid ($n shards), report $rid"
