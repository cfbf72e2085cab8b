#!/usr/bin/env bash
# Fuzzes one target in rounds until coverage plateaus, then minimises its corpus and picks the
# committed seeds from it.
#
#   fuzz/plateau.sh TARGET [ROUND_SECONDS=60] [MAX_ROUNDS=8]
#
# Each round is `cargo +nightly fuzz run` for ROUND_SECONDS on a working copy (fuzz/corpus-work/
# TARGET, git-ignored) that starts from the committed seeds (fuzz/seeds/TARGET), the
# regressions and the full corpus of earlier runs on this machine (fuzz/corpus/TARGET,
# git-ignored), with the target's dictionary. The run stops after the first round that adds no
# coverage (libFuzzer's `cov:`), or after MAX_ROUNDS. Then the corpus is minimised with
# `cargo fuzz cmin` into fuzz/corpus/TARGET, fuzz/select_seeds.sh picks the at most 100 seeds
# to commit from it, and one line of figures is appended to fuzz/figures.tsv. A crash stops
# everything: its input is in fuzz/artifacts/.
set -euo pipefail
target=$1
round=${2:-60}
max_rounds=${3:-8}
cd "$(dirname "$0")"
corpus=corpus/$target
work=corpus-work/$target
mkdir -p "$work"
for source in "seeds/$target" "regressions/$target" "$corpus"; do
    cp -n "$source"/* "$work"/ 2>/dev/null || true
done
dict=()
[ -f "dict/$target.dict" ] && dict=("-dict=dict/$target.dict")
files_before=$(find "$work" -type f | wc -l)
bytes_before=$(du -sb "$work" | cut -f1)
prev_cov=-1
execs_total=0
seconds_total=0
rounds=0
cov=0
ft=0
for _ in $(seq 1 "$max_rounds"); do
    log=$(mktemp)
    start=$(date +%s)
    if ! cargo +nightly fuzz run -s none "$target" "$work" -- \
        -max_total_time="$round" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        echo "== $target: the fuzzer stopped on a finding" >&2
        grep -E "panicked|ERROR|SUMMARY|Test unit written|artifact" "$log" | head -20 >&2
        exit 1
    fi
    seconds_total=$((seconds_total + $(date +%s) - start))
    rounds=$((rounds + 1))
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -Eo 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    execs=$(grep -E 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    execs_total=$((execs_total + ${execs:-0}))
    echo "== $target round $rounds: cov $cov ft $ft execs $execs corpus $(find "$work" -type f | wc -l)"
    rm -f "$log"
    if [ "$cov" -le "$prev_cov" ]; then
        break
    fi
    prev_cov=$cov
done
files_grown=$(find "$work" -type f | wc -l)
rm -rf "$corpus"
mkdir -p "$corpus"
cargo +nightly fuzz cmin -s none "$target" "$work" -- -max_len=65536 -timeout=20 >/dev/null 2>&1
# cmin minimised the working copy in place; keep it, skipping anything over 64 KB.
find "$work" -type f -size -65537c -exec cp {} "$corpus"/ \;
files_after=$(find "$corpus" -type f | wc -l)
bytes_after=$(du -sb "$corpus" | cut -f1)
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$(date -u +%F)" "$rounds" \
    "$seconds_total" "$execs_total" "$cov" "$ft" "$files_before" "$files_grown" "$files_after" \
    "$bytes_after" >>figures.tsv
./select_seeds.sh "$target"
echo "== $target done: $rounds rounds, ${seconds_total}s, $execs_total execs, cov $cov, ft $ft, corpus $files_before seeds -> $files_grown -> $files_after after cmin ($bytes_after bytes)"
