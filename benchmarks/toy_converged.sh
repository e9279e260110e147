#!/usr/bin/env bash
# 2D-toy quality vs NFE at a converged training budget: IDFF (velocity heads) vs OT-CFM.
#
#   bash benchmarks/toy_converged.sh curve   # learning curve: checkerboard, seed 0
#   bash benchmarks/toy_converged.sh seeds   # 3 seeds x {checkerboard, 8gaussians} at STEPS
#   bash benchmarks/toy_converged.sh check   # the same runs trained on to CHECK_STEPS, paired
#   bash benchmarks/toy_converged.sh         # all three
#   BENCH_TAG=-fewstep SOLVERS=midpoint,euler,ddim,ab3,unipc3,rk2:0.25 \
#     GRIDS=uniform,power,power:1.5 NFE=1,2,3,4,6,10,100 \
#     RESULTS=benchmarks/results/toy_fewstep bash benchmarks/toy_converged.sh seeds
#                                            # the few-step solvers and grids, same runs
#   SELECT=mmd_fine BENCH_TAG=-fewstep-fine RESULTS=benchmarks/results/toy_fewstep_fine ...
#                                            # the same, the sampler chosen on mmd_fine
#
# Rerunnable and resumable: a run that already holds its target step is not trained again
# (a shorter one is resumed and extended), and every benchmark cell is journalled, so an
# interrupted call picks up where it stopped. Runs live under runs/toy_lc/ and
# runs/toy_converged/; the tables and figures go to benchmarks/results/.
#
# Environment: STEPS (budget of the seed study, chosen from the learning curve), CHECK_STEPS,
# CURVE_STEPS, SEEDS, DATASETS, METHODS (add icfm for I-CFM), NFE, RESULTS (output prefix
# of the seed study), SOLVERS, GRIDS and GAMMAS (the sampler candidates chosen per budget on
# the validation reference), BENCH_TAG (suffix of the seed study's benchmark folder, so that
# another sampler set keeps its own journals), SELECT (the validation metric that picks the
# sampler; default MMD², e.g. mmd_fine), NICE (prefix for every compute command).
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-30000}
CURVE_STEPS=${CURVE_STEPS:-"5000 10000 20000 30000 40000"}
SEEDS=${SEEDS:-"0 1 2"}
DATASETS=${DATASETS:-"checkerboard 8gaussians"}
METHODS=${METHODS:-"idff otcfm"}
NFE=${NFE:-1,2,4,10,100,adaptive}
NICE=${NICE-"nice -n 10"}  # NICE="" runs at normal priority
CHECK_STEPS=${CHECK_STEPS:-40000}
RESULTS=${RESULTS:-benchmarks/results/toy_converged}  # output prefix of the seed study
SOLVERS=${SOLVERS:-midpoint,euler,ddim}
GRIDS=${GRIDS:-}
GAMMAS=${GAMMAS:-0,0.5,1}
BENCH_TAG=${BENCH_TAG:-}
SELECT=${SELECT:-}
export OMP_NUM_THREADS=1

IDFF=.venv/bin/idff
PY=.venv/bin/python
BENCH_OPTS=(--n-eval 2000 --n-val 1000 --gammas "$GAMMAS" --solvers "$SOLVERS" --threads 1)
[[ -n $GRIDS ]] && BENCH_OPTS+=(--grids "$GRIDS")
[[ -n $SELECT ]] && BENCH_OPTS+=(--select-metric "$SELECT")

step_of() {  # the step of a run's snapshot, 0 when it has none
    if [[ -f "$1/snapshot.pt" || -f "$1/snapshot.safetensors" ]]; then
        $PY -c "import sys; from idff.training.checkpoint import load_run; print(load_run(sys.argv[1])[2])" "$1"
    else
        echo 0
    fi
}

train() {  # train METHOD DATASET SEED STEPS DIR: train, resume or extend DIR to STEPS
    local method=$1 dataset=$2 seed=$3 steps=$4 dir=$5 have
    have=$(step_of "$dir")
    if (( have >= steps )); then
        echo "[skip] $dir has step $have (target $steps)"
        return
    fi
    echo "[train] $dir: step $have -> $steps ($(date -u +%H:%M:%S))"
    local t0=$SECONDS resume=()
    [[ -f $dir/state.pt ]] && resume=(--resume)
    $NICE $IDFF train toy --method "$method" --dataset "$dataset" --steps "$steps" \
        --seed "$seed" --ckpt-every 1000 --out "$dir" "${resume[@]}" >"$dir.log" 2>&1
    echo "[train] $dir done in $((SECONDS - t0)) s"
}

curve() {
    local dir=runs/toy_lc prefixes=() steps m
    mkdir -p "$dir"
    for steps in $CURVE_STEPS; do
        local runs=() labels=()
        for m in $METHODS; do
            local live=$dir/checkerboard-$m-s0 frozen=$dir/checkerboard-$m-s0-n$steps
            if [[ ! -f "$frozen/snapshot.pt" && ! -f "$frozen/snapshot.safetensors" ]]; then
                train "$m" checkerboard 0 "$steps" "$live"
                [[ $(step_of "$live") == "$steps" ]] || {
                    echo "$live is past $steps steps; cannot freeze it at $steps" >&2; exit 1; }
                rm -rf "$frozen.tmp" && cp -r "$live" "$frozen.tmp" && mv "$frozen.tmp" "$frozen"
            fi
            runs+=("$frozen") labels+=(--label "$m")
        done
        echo "[bench] learning curve at $steps steps ($(date -u +%H:%M:%S))"
        $NICE $IDFF bench nfe "${runs[@]}" "${labels[@]}" --nfe 4,100 "${BENCH_OPTS[@]}" \
            --seed 0 --out "$dir/bench-n$steps" >"$dir/bench-n$steps.log" 2>&1
        prefixes+=("$dir/bench-n$steps")
    done
    $NICE $PY benchmarks/toy_seeds.py curve "${prefixes[@]}" \
        --out benchmarks/results/toy_learning_curve
}

seeds() {
    local dir=runs/toy_converged prefixes=() ds seed m bench=runs/toy_converged/bench$BENCH_TAG
    mkdir -p "$bench"
    for ds in $DATASETS; do
        for seed in $SEEDS; do
            local runs=() labels=()
            for m in $METHODS; do
                local run=$dir/$ds-$m-s$seed-n$STEPS
                local lc=runs/toy_lc/$ds-$m-s$seed-n$STEPS  # same command, frozen at STEPS
                if [[ ! -e "$run" && ( -f "$lc/snapshot.pt" || -f "$lc/snapshot.safetensors" ) ]]; then
                    echo "[reuse] $lc (learning-curve run) as $run"
                    cp -r "$lc" "$run.tmp" && mv "$run.tmp" "$run"
                fi
                train "$m" "$ds" "$seed" "$STEPS" "$run"
                runs+=("$run") labels+=(--label "$m")
            done
            local out=$bench/$ds-s$seed-n$STEPS
            echo "[bench] $ds seed $seed ($(date -u +%H:%M:%S))"
            local t0=$SECONDS
            $NICE $IDFF bench nfe "${runs[@]}" "${labels[@]}" --nfe "$NFE" "${BENCH_OPTS[@]}" \
                --seed "$seed" --out "$out" >"$out.log" 2>&1
            echo "[bench] $ds seed $seed done in $((SECONDS - t0)) s"
        done
    done
    # every (dataset, seed) benchmarked at STEPS so far, checkerboard first
    for f in "$bench"/checkerboard-s*-n"$STEPS".csv "$bench"/*-s*-n"$STEPS".csv; do
        if [[ -f $f && " ${prefixes[*]} " != *" ${f%.csv} "* ]]; then
            prefixes+=("${f%.csv}")
        fi
    done
    $NICE $PY benchmarks/toy_seeds.py seeds "${prefixes[@]}" \
        --steps "$STEPS" --out "$RESULTS"
}

check() {  # is STEPS converged? every seed trained on to CHECK_STEPS, paired with STEPS
    local ds m seed
    for ds in $DATASETS; do
        for m in $METHODS; do
            for seed in $SEEDS; do  # start from the STEPS run: only the extra steps are trained
                local from=runs/toy_converged/$ds-$m-s$seed-n$STEPS
                local to=runs/toy_converged/$ds-$m-s$seed-n$CHECK_STEPS
                local lc=runs/toy_lc/$ds-$m-s$seed-n$CHECK_STEPS
                if [[ ! -e "$to" && ( -f "$from/snapshot.pt" || -f "$from/snapshot.safetensors" ) \
                      && ! -f "$lc/snapshot.pt" && ! -f "$lc/snapshot.safetensors" ]]; then
                    cp -r "$from" "$to.tmp" && mv "$to.tmp" "$to"
                fi
            done
        done
    done
    STEPS=$CHECK_STEPS RESULTS=runs/toy_converged/check-n$CHECK_STEPS seeds
    $NICE $PY benchmarks/toy_seeds.py compare benchmarks/results/toy_converged.csv \
        "runs/toy_converged/check-n$CHECK_STEPS.csv" --out benchmarks/results/toy_learning_curve
}

case "${1:-all}" in
    curve) curve ;;
    seeds) seeds ;;
    check) check ;;
    all) curve; seeds; check ;;
    *) echo "usage: $0 [curve|seeds|check|all]" >&2; exit 2 ;;
esac
