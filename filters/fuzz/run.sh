#!/usr/bin/env bash
# The libFuzzer harnesses of the C registry reader and model resolver
# (filters/vmaf_registry.c), built with Debian's clang under ASan and UBSan and linked
# with the patched FFmpeg's libavutil (build/ffmpeg: make ffmpeg first).
#
#   run.sh [SECONDS]   fuzz both harnesses side by side for SECONDS (default 60) from the
#                      committed corpus; print executions and coverage; a crash fails
#   run.sh --replay    run every committed corpus input once (no fuzzing)
#   run.sh --merge     fold what earlier runs found into the committed corpus, keeping
#                      only inputs that add coverage
#
# Crashes are written to build/fuzz/crash-*; new inputs to build/fuzz/corpus-*; each
# run's figures are appended to build/fuzz/runs.tsv.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/filters/fuzz
FF=$ROOT/build/ffmpeg
OUT=$ROOT/build/fuzz
HARNESSES="registry onnx"

say() { echo "fuzz: $*" >&2; }
die() { say "$*"; exit 1; }

if ! command -v clang >/dev/null || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
    [ "$(id -u)" -eq 0 ] || die "needs Debian's clang and libclang-rt-14-dev (apt-get install them)"
    say "installing clang libclang-rt-14-dev"
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev >&2
fi
[ -f "$FF/lib/libavutil.a" ] || die "no $FF/lib/libavutil.a: run make ffmpeg first"

mkdir -p "$OUT"
AVUTIL_LIBS=$(PKG_CONFIG_PATH=$FF/lib/pkgconfig pkg-config --static --libs libavutil)
for h in $HARNESSES; do
    # shellcheck disable=SC2086  # the library list is words
    clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
        -I"$HERE" -I"$ROOT/filters" -I"$FF/include" \
        "$HERE/fuzz_$h.c" "$ROOT/filters/vmaf_registry.c" $AVUTIL_LIBS -o "$OUT/fuzz_$h"
    mkdir -p "$OUT/corpus-$h"
done

dict() { [ -f "$HERE/$1.dict" ] && echo "-dict=$HERE/$1.dict"; true; }

case "${1:-60}" in
--replay)
    for h in $HARNESSES; do
        # shellcheck disable=SC2046
        "$OUT/fuzz_$h" -runs=0 $(dict "$h") "$HERE/corpus/$h" 2>"$OUT/replay-$h.log" \
            || { tail -n 30 "$OUT/replay-$h.log" >&2; die "fuzz_$h fails on its committed corpus"; }
        say "fuzz_$h: $(find "$HERE/corpus/$h" -type f | wc -l) corpus inputs replayed, no crash"
    done
    ;;
--merge)
    for h in $HARNESSES; do
        "$OUT/fuzz_$h" -merge=1 "$HERE/corpus/$h" "$OUT/corpus-$h" 2>"$OUT/merge-$h.log"
        say "fuzz_$h: committed corpus now $(find "$HERE/corpus/$h" -type f | wc -l) inputs"
    done
    ;;
*[!0-9]*)
    die "usage: run.sh [SECONDS | --replay | --merge]"
    ;;
*)
    seconds=$1
    pids=()
    for h in $HARNESSES; do
        # shellcheck disable=SC2046
        "$OUT/fuzz_$h" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
            -artifact_prefix="$OUT/crash-$h-" $(dict "$h") \
            "$OUT/corpus-$h" "$HERE/corpus/$h" >"$OUT/run-$h.log" 2>&1 &
        pids+=($!)
    done
    failed=0
    i=0
    for h in $HARNESSES; do
        wait "${pids[$i]}" || failed=1
        i=$((i + 1))
        log=$OUT/run-$h.log
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
        printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$h" "$seconds" "${execs:-0}" "$cov" >> "$OUT/runs.tsv"
        say "fuzz_$h: ${execs:-0} executions in $seconds s, $cov, $(find "$OUT/corpus-$h" -type f | wc -l) new inputs"
    done
    if [ "$failed" -ne 0 ] || compgen -G "$OUT/crash-*" >/dev/null; then
        for h in $HARNESSES; do grep -A 20 -m1 'ERROR\|==ERROR\|deadly' "$OUT/run-$h.log" >&2 || true; done
        die "a harness crashed; reproduce with build/fuzz/fuzz_NAME build/fuzz/crash-*"
    fi
    total=$(awk -F'\t' '{s += $4} END {print s + 0}' "$OUT/runs.tsv")
    say "all runs recorded in build/fuzz/runs.tsv: $total executions"
    ;;
esac
