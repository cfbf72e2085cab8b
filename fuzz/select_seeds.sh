#!/usr/bin/env bash
# Picks the committed seed set of one fuzz target: at most MAX files that carry as much of the
# full corpus's coverage as such a small set can.
#
#   fuzz/select_seeds.sh TARGET [MAX=100]
#
# Keeps every hand-written seed (seeds/TARGET/seed-*, real inputs, written by the fuzz_replay
# test's write_seeds). The other places go to the inputs of seeds/TARGET and corpus/TARGET (the
# full corpus, git-ignored, grown by plateau.sh) chosen greedily by coverage: libFuzzer's
# set-cover merge (`-set_cover_merge=1`, with the control file `cargo fuzz cmin` uses) runs
# every input and records all the coverage features (edges and their hit-count buckets) each
# one reaches; starting from what the hand-written seeds and the regressions reach, the script
# repeatedly takes the input that adds the most edges not yet reached, then the most features.
# Ties go to the smaller file, then to the name (libFuzzer names inputs by their SHA-1), so the
# same corpus always gives the same seeds. The regressions (regressions/TARGET) are kept apart, all of them, and
# are not counted against MAX.
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
if [ -d "$regressions" ]; then
    find "$regressions" -maxdepth 1 -type f -exec cp {} "$tmp/first/" \;
fi
find "$seeds" -maxdepth 1 -type f ! -name 'seed-*' -exec cp {} "$tmp/pool/" \;
if [ -d "$corpus" ]; then
    find "$corpus" -maxdepth 1 -type f -exec cp {} "$tmp/pool/" \;
fi
# The first directory is the merge's output and its "initial corpus": what is kept anyway.
# libFuzzer copies inputs into it; only the control file matters here.
cargo +nightly fuzz run -s none "$target" "$tmp/first" "$tmp/pool" -- \
    -set_cover_merge=1 -merge_control_file="$tmp/control" -max_len=65536 -timeout=20 \
    -rss_limit_mb=2048 >"$tmp/merge.log" 2>&1 || {
    echo "== $target: the merge failed" >&2
    tail -20 "$tmp/merge.log" >&2
    exit 1
}
# The control file: the number of inputs, the number in the first directory, one path a line
# (first directory first), then per input "STARTED index size" and "FT index features...".
# Greedy maximum coverage: the gain of an input is first the edges it adds, then the features.
# A feature of libFuzzer's inline 8-bit counters is the counter's index times 8 plus a bucket
# of its hit count, so feature / 8 is the edge (the targets run without value profiling).
# Lazily: a candidate's stored gain only ever falls, so the candidate with the best stored
# gain is taken once its gain, counted again, is unchanged.
awk -v picks="$((max - hand))" '
    NR == 1 { n = $1; next }
    NR == 2 { first = $1; next }
    NR <= n + 2 { name[NR - 3] = $0; sub(/.*\//, "", name[NR - 3]); next }
    $1 == "STARTED" { size[$2] = $3 }
    $1 == "FT" { i = $2; $1 = ""; $2 = ""; ft[i] = $0 }
    function gain(i,    k, m, f, g, e, edge, seen) {
        m = split(ft[i], f, " ")
        g = 0
        e = 0
        for (k = 1; k <= m; k++) {
            if (f[k] in covered) continue
            g++
            edge = int(f[k] / 8)
            if (!(edge in edges) && !(edge in seen)) { seen[edge] = 1; e++ }
        }
        return e * 10000000 + g
    }
    function cover(i,    k, m, f) {
        m = split(ft[i], f, " ")
        for (k = 1; k <= m; k++) { covered[f[k]] = 1; edges[int(f[k] / 8)] = 1 }
    }
    function better(i, j) {
        if (j < 0) return 1
        if (cached[i] != cached[j]) return cached[i] > cached[j]
        if (size[i] != size[j]) return size[i] + 0 < size[j] + 0
        return name[i] < name[j]
    }
    END {
        for (i = 0; i < first; i++) cover(i)
        for (i = first; i < n; i++) if (i in ft) cached[i] = gain(i)
        while (picks > 0) {
            best = -1
            for (i in cached) if (better(i, best)) best = i
            if (best < 0 || cached[best] == 0) break
            now = gain(best)
            if (now < cached[best]) { cached[best] = now; continue }
            print name[best]
            cover(best)
            delete cached[best]
            picks--
        }
    }' "$tmp/control" >"$tmp/chosen"
find "$seeds" -maxdepth 1 -type f ! -name 'seed-*' -delete
while read -r file; do
    cp "$tmp/pool/$file" "$seeds/$file"
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
echo "== $target: $(find "$seeds" -type f | wc -l) seeds ($hand hand-written, $(wc -l <"$tmp/chosen") chosen by coverage)"
echo "== $target: seeds + regressions: $(coverage "$seeds" "$regressions")"
if [ -d "$corpus" ]; then
    echo "== $target: full corpus + regressions: $(coverage "$corpus" "$regressions")"
fi
