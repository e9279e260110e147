#!/usr/bin/env bash
# Fashion-MNIST quality vs NFE: OT-CFM, IDFF (velocity heads, CFM-weighted flow loss) and
# the published IDFF recipe, trained with the same UNet preset, data, batch, optimiser and
# number of steps, scored by FD-FMNIST-CNN (a Fréchet distance in the features of the
# shipped Fashion-MNIST classifier; not FID) with a bootstrap interval and k-NN
# precision/recall.
#
#   bash benchmarks/fmnist_nfe.sh                   # everything; rerun to resume after a stop
#   STEPS=4621 N_EVAL=2000 N_VAL=500 bash benchmarks/fmnist_nfe.sh
#   RUNS="otcfm idff" bash benchmarks/fmnist_nfe.sh # a subset
#   STAGE=bench bash benchmarks/fmnist_nfe.sh       # score trained runs only
#   TAG=-x3 STEPS=13863 RUNS="otcfm idff" NFES=2,4,10 IDFF_SOLVERS=midpoint,ddim2 \
#     IDFF_GAMMAS=0 CFM_SOLVERS=midpoint,heun bash benchmarks/fmnist_nfe.sh
#                                                   # the 3x-budget confirmation (runs/fmnist-NAME-x3)
#   TAG=-b128-s1 BATCH=128 SEED=1 STEPS=4561 RUNS="otcfm idff-s005" NFES=2,4,10 \
#     CFM_SOLVERS=midpoint bash benchmarks/fmnist_nfe.sh
#                                                   # batch 128, training seed 1 (the GPU recipe)
#
# Every stage resumes: training from the runs' checkpoints, the benchmark from its per-cell
# journals (results/eval/fmnist_*.jsonl). One torch thread per process; on a 2-core machine
# the jobs go two at a time. Each run's sampling candidates (solver and noise) are chosen per
# budget on a validation reference (10k training images), then scored once on the 10k test
# images with fresh seeds. Sampling times are per process, one thread each.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-4621}
N_EVAL=${N_EVAL:-2000}
N_VAL=${N_VAL:-500}
JOBS=${JOBS:-2}
RUNS=${RUNS:-"otcfm icfm idff idff-s005 idff-published"}
STAGE=${STAGE:-all}
BATCH=${BATCH:-}                   # empty: the preset's batch (32)
SEED=${SEED:-0}                    # training seed (train.seed)
TAG=${TAG:-}                       # run folders runs/fmnist-NAME$TAG, outputs ..._NAME$TAG
OUT=${OUT:-results/eval/fmnist${TAG//-/_}}
NFES=${NFES:-1,2,4,10,20}
CFM_SOLVERS=${CFM_SOLVERS:-euler,midpoint,heun}
IDFF_SOLVERS=${IDFF_SOLVERS:-euler,midpoint,ddim,ddim2}
IDFF_GAMMAS=${IDFF_GAMMAS:-0,0.5}
CLS=${CLS:-checkpoints/fashion_mnist/classifier/fmnist_cnn.pt}
CLS_SHA=461f769f7193fb4dbaa2bb43ddbeddff3498b9f5000ca4774c63ab6de80dedc5
IDFF=${IDFF:-.venv/bin/idff}
export OMP_NUM_THREADS=1
mkdir -p runs "$(dirname "$OUT")"

declare -A TRAIN=(
  [otcfm]="--set objective.name=otcfm --set objective.coupling=ot --set model.method=cfm"
  [icfm]="--set objective.name=icfm --set objective.coupling=independent --set model.method=cfm"
  [idff]="--set model.parametrization=velocity --set objective.flow_weighting=cfm --set objective.sigma=0.2"
  # the same with a quarter of the path noise: how much of the gap to OT-CFM is σ's
  [idff-s005]="--set model.parametrization=velocity --set objective.flow_weighting=cfm --set objective.sigma=0.05"
  [idff-published]="--set model.parametrization=x1 --set objective.score_target=x0 --set objective.flow_weighting=none --set objective.sigma=0.2"
)

train() {  # train NAME: start, or resume a stopped run
  local name=$1 resume=()
  [[ -f runs/fmnist-$name$TAG/state.pt ]] && resume=(--resume)
  [[ -n $BATCH ]] && resume+=(--batch-size "$BATCH")
  # shellcheck disable=SC2086
  "$IDFF" train fashion_mnist --out "runs/fmnist-$name$TAG" "${resume[@]}" --threads 1 \
    --steps "$STEPS" --set "train.seed=$SEED" ${TRAIN[$name]} >> "runs/fmnist-$name$TAG.log" 2>&1
}

bench() {  # bench NAME LABEL SUFFIX [idff bench nfe options]
  local name=$1 label=$2 suffix=$3; shift 3
  "$IDFF" bench nfe "runs/fmnist-$name$TAG" --run-label "$label" --n-eval "$N_EVAL" --n-val "$N_VAL" \
    --features classifier --classifier "$CLS" --classifier-sha256 "$CLS_SHA" --threads 1 \
    --out "${OUT}_$suffix" "$@" >> "runs/bench_$suffix$TAG.log" 2>&1
}

bench_run() {  # the benchmark cells of one run
  case $1 in
    otcfm)
      bench otcfm OT-CFM otcfm --nfe "$NFES" --solvers "$CFM_SOLVERS"
      bench otcfm OT-CFM otcfm_100 --nfe 100 ;;
    icfm)
      bench icfm I-CFM icfm --nfe "$NFES" --solvers "$CFM_SOLVERS"
      bench icfm I-CFM icfm_100 --nfe 100 ;;
    idff)
      bench idff IDFF idff --nfe "$NFES" --solvers "$IDFF_SOLVERS" --gammas "$IDFF_GAMMAS" ;;
    idff-s005)  # scored at NFE 2, 4, 10 with midpoint or ddim2 (as in docs/results/images.md)
      bench idff-s005 "IDFF σ=0.05" idff_s005 --nfe 2,4,10 --solvers midpoint,ddim2 \
        --gammas 0 ;;
    idff-published)
      # the published integrator (torchsde's SRK: 10 calls a step plus a shape check, counted,
      # and the final jump) for one step, then the package's solvers on the same network and
      # field at that budget and at NFE 4; s (σ or 2σ) chosen on the validation reference
      bench idff-published "IDFF published recipe (SRK)" published_srk --field published \
        --gammas 0.2,0.4 --solvers srk --nfe 12
      bench idff-published "IDFF published recipe" published --field published \
        --gammas 0.2,0.4 --solvers euler,midpoint --nfe 4,12 ;;
  esac
}

if [[ ! -f $CLS ]]; then
  echo "missing $CLS (shipped with the repository; or run idff train-classifier --out $CLS)" >&2
  exit 2
fi

running=0
for name in $RUNS; do
  if [[ $STAGE == bench ]]; then bench_run "$name" &
  else { train "$name" && bench_run "$name"; } & fi
  running=$((running + 1))
  if (( running >= JOBS )); then wait -n; running=$((running - 1)); fi
done
wait

parts=()
for p in otcfm otcfm_100 icfm icfm_100 idff idff_s005 published_srk published; do
  [[ -f ${OUT}_$p.jsonl ]] && parts+=("${OUT}_$p")
done
"$IDFF" bench merge "${parts[@]}" --out "${OUT}_nfe" --title "Fashion-MNIST, $STEPS training steps"
python=$(dirname "$IDFF")/python
"$python" benchmarks/fmnist_table.py "${OUT}_nfe.csv" > "${OUT}_table.md"
# where each run's velocity error sits in time, and where its loss puts its weight
diag=() labels=()
for name in otcfm idff idff-published icfm idff-s005; do
  [[ -d runs/fmnist-$name$TAG ]] && diag+=("runs/fmnist-$name$TAG") && labels+=(--label "$name")
done
"$IDFF" diagnose "${diag[@]}" "${labels[@]}" --n 500 --bins 10 --out "${OUT}_per_time"
