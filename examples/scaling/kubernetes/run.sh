#!/bin/bash
# Run the four steps on Kubernetes, each Job started once the one before has completed
# (a Job has no "after" field; an Argo Workflow or a Kueue/JobSet setup can chain them instead).
# usage: examples/scaling/kubernetes/run.sh   (kubectl pointed at your cluster and namespace)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# wait_for <job>: until the Job is Complete; stop with its pods' logs if it Failed
wait_for() {
  local job=$1
  until kubectl wait --for=condition=complete "job/$job" --timeout=60s >/dev/null 2>&1; do
    if [ "$(kubectl get "job/$job" -o jsonpath='{.status.conditions[?(@.type=="Failed")].status}')" = True ]; then
      echo "job $job failed:" >&2
      kubectl logs -l "job-name=$job" --all-containers --prefix --tail=50 >&2 || true
      exit 1
    fi
  done
  echo "job $job complete"
}

kubectl apply -f "$here/pvc.yaml"
for step in embed index search merge; do
  kubectl apply -f "$here/$step-job.yaml"
  wait_for "bingo-$step"
done
