#!/usr/bin/env bash
# Fashion-MNIST quality vs NFE: IDFF, OT-CFM and I-CFM trained with the same UNet preset,
# data, batch, optimiser and number of steps, then scored by FD-FMNIST-CNN (a Fréchet
# distance in the features of the repo's Fashion-MNIST classifier; not FID).
#
#   bash benchmarks/fmnist_nfe.sh            # everything; rerun to resume after a stop
#   STEPS=4621 N_EVAL=1000 N_VAL=500 bash benchmarks/fmnist_nfe.sh
#
# Every stage resumes: training from the runs' checkpoints, the classifier from its cached
# file, the benchmark from its per-cell journals (results/eval/fmnist_nfe_*.jsonl).
# One torch thread per process; on a 2-core machine the training runs and the benchmarks
# go two at a time. Sampling times in the table are per process, one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-4621}
N_EVAL=${N_EVAL:-1000}
N_VAL=${N_VAL:-500}
GAMMAS=${GAMMAS:-0,0.5,1}
NFE=${NFE:-1,2,4,6,10,20,50,100,adaptive}
JOBS=${JOBS:-2}
OUT=${OUT:-results/eval/fmnist_nfe}
CLS_SHA=f335cfe5b9e53d4b1f71987607d9356efe6b2a1f8dce2c570cbe91b7dc0846d5
export OMP_NUM_THREADS=1
mkdir -p runs "$(dirname "$OUT")"

train() {  # train NAME [--set k=v ...]: start, or resume a stopped run
  local name=$1; shift
  local resume=()
  [[ -f runs/fmnist-$name/state.pt ]] && resume=(--resume)
  idff train fashion_mnist --out "runs/fmnist-$name" "${resume[@]}" --threads 1 \
    --steps "$STEPS" "$@" >> "runs/fmnist-$name.log" 2>&1
}

bench() {  # bench NAME LABEL
  idff bench nfe "runs/fmnist-$1" --label "$2" --nfe "$NFE" --n-eval "$N_EVAL" \
    --n-val "$N_VAL" --gammas "$GAMMAS" --features classifier \
    --classifier-sha256 "$CLS_SHA" --threads 1 --out "${OUT}_$1" >> "runs/bench_$(basename "$OUT")_$1.log" 2>&1
}

if [[ ! -f cache/eval/fmnist_cnn.pt ]]; then
  idff train-classifier --epochs 8 --threads 1
fi

echo "training (logs in runs/fmnist-*.log) ..."
train idff &
[[ $JOBS -lt 2 ]] && wait
train otcfm --set objective.name=otcfm --set objective.coupling=ot --set model.method=cfm &
wait
train icfm --set objective.name=icfm --set objective.coupling=independent \
  --set model.method=cfm
echo "benchmarking (logs in runs/bench_*.log) ..."
bench idff IDFF &
[[ $JOBS -lt 2 ]] && wait
{ bench otcfm OT-CFM; bench icfm I-CFM; } &
wait
idff bench merge "${OUT}_idff" "${OUT}_otcfm" "${OUT}_icfm" --out "$OUT" \
  --title "Fashion-MNIST, $STEPS training steps"
