#!/usr/bin/env bash
# Few-step samplers on the shipped Fashion-MNIST checkpoints: for IDFF (σ = 0.05) and OT-CFM,
# the solver × time grid is chosen per NFE budget on the validation reference (10k training
# images, N_VAL samples per candidate), then scored once with N_EVAL fresh samples against
# the 10k test images (FD-FMNIST-CNN with a bootstrap interval, k-NN precision/recall).
# The candidate "midpoint uniform" is the sampler of the earlier tables. Each run then stores
# its choices (idff bench nfe --store: sampling.budgets), so `idff sample RUN --nfe 4` uses
# them; STORE=0 leaves the runs as they are.
#
#   bash benchmarks/fmnist_fewstep.sh                        # both checkpoints; resumable
#   RUNS=idff NFES=2,4 SOLVERS=midpoint,dpm2m N_VAL=150 bash benchmarks/fmnist_fewstep.sh
#   SRC=runs TAG=-b128-s0 RUNS="idff otcfm" bash benchmarks/fmnist_fewstep.sh
#       # other trained runs: SRC/fmnist-idff-s005$TAG and SRC/fmnist-otcfm$TAG (the
#       # benchmarks/fmnist_nfe.sh folders), outputs results/eval/fmnist_fewstep$TAG_*
set -euo pipefail
cd "$(dirname "$0")/.."

N_EVAL=${N_EVAL:-2000}
N_VAL=${N_VAL:-500}
NFES=${NFES:-2,3,4,6,10}
RUNS=${RUNS:-"idff otcfm"}
SOLVERS=${SOLVERS:-midpoint,ab3,unipc3,rk2:0.2,rk2:0.25}
GRIDS=${GRIDS:-uniform,power,power:1.5}
CLS=${CLS:-checkpoints/fashion_mnist/classifier/fmnist_cnn.pt}
CLS_SHA=461f769f7193fb4dbaa2bb43ddbeddff3498b9f5000ca4774c63ab6de80dedc5
IDFF=${IDFF:-.venv/bin/idff}
SRC=${SRC:-checkpoints/fashion_mnist}  # or runs: the folders of benchmarks/fmnist_nfe.sh
TAG=${TAG:-}
OUT=results/eval/fmnist_fewstep${TAG//-/_}
STORE=${STORE:-1}
STORE_ARG=()
if [[ $STORE == 1 ]]; then STORE_ARG=(--store); fi
export OMP_NUM_THREADS=1

declare -A LABEL=([idff]=IDFF [otcfm]=OT-CFM [icfm]=I-CFM)
declare -A FOLDER=([idff]=fmnist-idff-s005 [otcfm]=fmnist-otcfm [icfm]=fmnist-icfm)
run_dir() {  # the checkpoint folder of run NAME
  if [[ $SRC == checkpoints/fashion_mnist ]]; then echo "$SRC/$1"; else echo "$SRC/${FOLDER[$1]}$TAG"; fi
}
for name in $RUNS; do
  NOISE=()  # IDFF's noise candidates; a velocity run refuses --gammas (it has no noise)
  if [[ $name == idff ]]; then NOISE=(--gammas 0); fi
  "$IDFF" bench nfe "$(run_dir "$name")" --run-label "${LABEL[$name]}" --nfe "$NFES" \
    --n-eval "$N_EVAL" --n-val "$N_VAL" --solvers "$SOLVERS" --grids "$GRIDS" "${NOISE[@]}" \
    --features classifier --classifier "$CLS" --classifier-sha256 "$CLS_SHA" --threads 1 \
    --out "${OUT}_$name" "${STORE_ARG[@]}" &
done
wait
# one table and figure for both runs (rewritten from the parts; nothing is sampled again)
if [[ "$RUNS" == "idff otcfm" ]]; then
  "$IDFF" bench merge "${OUT}_idff" "${OUT}_otcfm" \
    --out "$OUT" --title "Few-step samplers (solver x grid chosen per budget)"
fi
