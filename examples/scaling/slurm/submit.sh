#!/bin/bash
# Mine a config's bags on Slurm, in n shards: four jobs, each starting when the one before has
# completed without error (--dependency=afterok):
#   embed (n tasks) -> index (n tasks) -> search (n*n tasks) -> merge (1 task)
# usage: examples/scaling/slurm/submit.sh <config.yaml> <n> [bingo options, e.g. --set bags.search=hnsw]
# Run it from the repository root: the jobs run where sbatch is called. Any sbatch setting can
# come from its environment variables (SBATCH_PARTITION, SBATCH_TIMELIMIT, SBATCH_ACCOUNT, ...).
# BINGO_SLURM_LOGS: the folder for the jobs' output (default slurm-logs).
# Prints one line per job: "<step> <job id>".
set -euo pipefail
usage="usage: $0 <config.yaml> <n> [bingo options]"
config=${1:?$usage}
n=${2:?$usage}
shift 2
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
  echo "n must be a positive integer (the number of embedding shards), not '$n'" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
logs=${BINGO_SLURM_LOGS:-slurm-logs}
mkdir -p "$logs"

# submit <step> <tasks, or 0 for a plain job> <job id to wait for, or ""> -> the job id
submit() {
  local step=$1 tasks=$2 after=$3 options=()
  if [ "$tasks" -gt 0 ]; then
    options+=(--array="0-$((tasks - 1))" --output="$logs/%x-%A_%a.out")
  else
    options+=(--output="$logs/%x-%j.out")
  fi
  if [ -n "$after" ]; then options+=(--dependency="afterok:$after"); fi
  sbatch --parsable "${options[@]}" "$here/$step.sbatch" "$config" "${bingo_options[@]}" | cut -d';' -f1
}

bingo_options=("$@")
embed=$(submit embed "$n" "")
echo "embed $embed"
index=$(submit index "$n" "$embed")
echo "index $index"
search=$(submit search "$((n * n))" "$index")
echo "search $search"
merge=$(submit merge 0 "$search")
echo "merge $merge"
