#!/usr/bin/env bash
# The worked example of issue 26: teach SmolLM2-135M-Instruct to add
# multi-digit numbers by reasoning in a <think> section, then sharpen it with
# GRPO, and report exact-match accuracy on held-out problems at each stage.
#
#   scripts/teach-addition.sh [RUNS_DIR]        (default: runs/addition)
#
# Stages (each a plain monologue command, printed before it runs):
#   1. base: the model as it ships, asked the question (no reasoning asked for)
#   2. SFT:  LoRA fine-tuning on generated traces (`finetune --task addition`)
#   3. GRPO: GRPO on the SFT adapter through the chat template, replies
#            opened with <think>; accuracy before (= after SFT) and after
#   4. the GRPO model again with a think budget: reasoning still open after
#      BUDGET tokens is closed for it (</think> written), and it answers
# Environment: DIGITS (3), EXAMPLES (1500), STEPS (30), EVAL (500), BUDGET (48),
# THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/addition}
DIGITS=${DIGITS:-3}
EXAMPLES=${EXAMPLES:-1500}
STEPS=${STEPS:-30}
EVAL=${EVAL:-500}
BUDGET=${BUDGET:-48}
THREADS=${THREADS:-2}
M=target/release/monologue
[ -x "$M" ] || cargo build --release -q
mkdir -p "$RUNS"
run() { echo "+ $*" >&2; "$@"; }

run $M rlvr --model smollm2 --task addition --digits "$DIGITS" --steps 0 --eval "$EVAL" \
    --max-new 160 --out "$RUNS/base" --threads "$THREADS" --json 2> "$RUNS/base.log" >/dev/null
run $M finetune --model smollm2 --task addition --task-examples "$EXAMPLES" --digits "$DIGITS" \
    --lora-rank 16 --lora-alpha 32 --lr 1e-3 --min-lr 1e-4 --warmup 5 --seq 512 --batch 4 \
    --epochs 1 --eval-every 0 --validation 0 --out "$RUNS/sft" --threads "$THREADS" --json \
    > "$RUNS/sft.jsonl" 2> "$RUNS/sft.log"
run $M rlvr --model "$RUNS/sft" --task addition --digits "$DIGITS" --think --steps "$STEPS" \
    --eval "$EVAL" --max-new 160 --group 8 --prompts 4 --lr 2e-5 --beta 0.02 --temperature 1.0 \
    --updates 2 --out "$RUNS/grpo" --threads "$THREADS" --json > "$RUNS/grpo.jsonl" 2> "$RUNS/grpo.log"
run $M rlvr --model "$RUNS/grpo" --task addition --digits "$DIGITS" --think --think-budget "$BUDGET" \
    --steps 0 --eval "$EVAL" --max-new 160 --out "$RUNS/budget" --threads "$THREADS" --json \
    2> "$RUNS/budget.log" >/dev/null

echo
echo "exact match on $EVAL held-out additions of $DIGITS-digit numbers (greedy)"
echo "| stage | accuracy |"
echo "|---|---|"
echo "| base SmolLM2-135M-Instruct | $(grep -o '[0-9.]*% of' "$RUNS/base.log" | tr -d '% of')% |"
echo "| after SFT (LoRA r16), with <think> | $(grep -o 'accuracy [0-9.]*%' "$RUNS/grpo.log" | tr -d 'accuracy ')|"
echo "| after GRPO ($STEPS steps), no budget (160 tokens) | $(grep -o '→ [0-9.]*%' "$RUNS/grpo.log" | tr -d '→ ')|"
echo "| after GRPO, think budget $BUDGET tokens | $(grep -o '[0-9.]*% of' "$RUNS/budget.log" | tr -d '% of')% |"
