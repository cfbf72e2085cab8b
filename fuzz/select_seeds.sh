#!/usr/bin/env bash
# Picks the committed seed set of one fuzz target: at most MAX files that carry as much of the
# full corpus's coverage as such a small set can.
#
#   fuzz/select_seeds.sh TARGET [MAX=100]
#
# Keeps every hand-written seed (seeds/TARGET/seed-*, real inputs, written by the fuzz_replay
# test's write_seeds). The other places go to the inputs of seeds/TARGET and corpus/TARGET (the
# full corpus, git-ignored, grown by plateau.sh) that add the most coverage, counted the way
# `cargo fuzz cmin` counts it: libFuzzer's merge runs the hand-written seeds first, then every
# candidate from the smallest up, and credits each one with the coverage features (edges,
# counters, comparisons) that nothing before it reached. The candidates with the largest credit
# win; ties go to the smaller file, then to the name (libFuzzer names inputs by their SHA-1), so
# the choice is deterministic. Credits never overlap, so the seeds reach at least the sum of
# what they were credited with. The regressions (regressions/TARGET) are kept apart, all of
# them, and are not counted against MAX.
#
# Prints the coverage (libFuzzer's cov and ft) of the seeds and of the full corpus, each with
# the regressions. Needs nightly and cargo-fuzz, like plateau.sh.
set -euo pipefail
target=$1
max=${2:-100}
cd "$(dirname "$0")"
seeds=seeds/$target
corpus=corpus/$target
regressions=regressions/$target
mkdir -p "$seeds"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/first" "$tmp/pool"
find "$seeds" -maxdepth 1 -type f -name 'seed-*' -exec cp {} "$tmp/first/" \;
hand=$(find "$tmp/first" -type f | wc -l)
if [ "$hand" -gt "$max" ]; then
    echo "== $target: $hand hand-written seeds, more than $max" >&2
    exit 1
fi
find "$seeds" -maxdepth 1 -type f ! -name 'seed-*' -exec cp {} "$tmp/pool/" \;
if [ -d "$corpus" ]; then
    find "$corpus" -maxdepth 1 -type f -exec cp {} "$tmp/pool/" \;
fi
# The first directory is the merge's output and its "initial corpus": the hand-written seeds,
# credited first. libFuzzer copies the inputs it keeps into it; only the control file matters.
cargo +nightly fuzz run -s none "$target" "$tmp/first" "$tmp/pool" -- \
    -merge=1 -merge_control_file="$tmp/control" -max_len=65536 -timeout=20 \
    -rss_limit_mb=2048 >"$tmp/merge.log" 2>&1 || {
    echo "== $target: the merge failed" >&2
    tail -20 "$tmp/merge.log" >&2
    exit 1
}
# The control file: the number of inputs, the number in the first directory, one path a line
# (first directory first), then per input "STARTED index size" and "FT index features...".
awk '
    NR == 1 { n = $1; next }
    NR == 2 { first = $1; next }
    NR <= n + 2 { path[NR - 3] = $0; next }
    $1 == "STARTED" { size[$2] = $3 }
    $1 == "FT" { credit[$2] = NF - 2 }
    END {
        for (i = first; i < n; i++) {
            if (credit[i] > 0) {
                name = path[i]; sub(/.*\//, "", name)
                printf "%d\t%d\t%s\n", credit[i], size[i], name
            }
        }
    }' "$tmp/control" | sort -t "$(printf '\t')" -k1,1nr -k2,2n -k3,3 >"$tmp/ranked"
head -n "$((max - hand))" "$tmp/ranked" | cut -f3 >"$tmp/chosen"
find "$seeds" -maxdepth 1 -type f ! -name 'seed-*' -delete
while read -r name; do
    cp "$tmp/pool/$name" "$seeds/$name"
done <"$tmp/chosen"

coverage() {
    local dir
    dir=$(mktemp -d "$tmp/cov.XXXX")
    for source in "$@"; do
        [ -d "$source" ] && find "$source" -maxdepth 1 -type f -exec cp {} "$dir/" \;
    done
    cargo +nightly fuzz run -s none "$target" "$dir" -- -runs=0 -max_len=65536 -timeout=20 \
        -rss_limit_mb=2048 2>&1 | grep -Eo 'INITED cov: [0-9]+ ft: [0-9]+' | tail -1 |
        sed 's/INITED //'
}
echo "== $target: $(find "$seeds" -type f | wc -l) seeds ($hand hand-written, $(wc -l <"$tmp/chosen") chosen of $(wc -l <"$tmp/ranked") that add coverage)"
echo "== $target: seeds + regressions: $(coverage "$seeds" "$regressions")"
if [ -d "$corpus" ]; then
    echo "== $target: full corpus + regressions: $(coverage "$corpus" "$regressions")"
fi
