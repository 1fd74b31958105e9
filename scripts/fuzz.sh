#!/usr/bin/env bash
# Fuzzes every parser of patchlag-exporter with cargo-fuzz (libFuzzer + AddressSanitizer), one
# target after the other, each for a fixed time. The corpus of each target starts from the
# seeds in fuzz/seeds/ and the test fixtures, and grows in fuzz/corpus/ from run to run.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
#   SECONDS_PER_TARGET   default 60 (or $FUZZ_SECONDS)
#   TARGET               default: every target in fuzz/fuzz_targets/
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly compiler: `cargo +nightly` when a
# nightly toolchain is installed, otherwise the stable compiler with RUSTC_BOOTSTRAP=1. Not part
# of the test command. A crash stops that target, leaves the input in fuzz/artifacts/TARGET/
# (reproduce with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`), and makes
# the script exit non-zero after the other targets have run.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

seconds=${1:-${FUZZ_SECONDS:-60}}
shift $(($# > 0 ? 1 : 0))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz not found: cargo install cargo-fuzz" >&2
    exit 2
fi
if rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    # libFuzzer and the sanitizers need unstable compiler flags.
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

# seed TARGET FILE...: copies seed files into the target's corpus.
seed() {
    local target=$1
    shift
    mkdir -p "fuzz/corpus/$target"
    for f in "$@"; do
        [ -f "$f" ] && cp -n "$f" "fuzz/corpus/$target/"
    done
}
for target in "${targets[@]}"; do
    seed "$target" fuzz/seeds/"$target"/*
done
seed msrc tests/fixtures/core/msrc-updates.json tests/fixtures/msrc/updates.json examples/fixtures/msrc-updates.json
seed msrc_document tests/fixtures/msrc/cvrf-2025-Jul.json tests/fixtures/msrc/cvrf-2025-Oct.json tests/fixtures/msrc/cvrf-2026-Jan.json
seed m365_apps tests/fixtures/m365/OfficeReleases.json tests/fixtures/m365/OfficeReleases-later.json tests/fixtures/m365/OfficeReleases-quirks.json
seed json tests/fixtures/core/pmimport-releases.json
seed csv tests/fixtures/core/office365-builds.csv
seed config examples/demo.yml

"${fuzz[@]}" build -O || exit 2
mkdir -p fuzz/artifacts

failed=()
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s"
    # -max_len: large enough for real answers' structure, small enough to stay fast.
    if "${fuzz[@]}" run -O "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>&1 | tee "fuzz/artifacts/$target.log" | grep -E '^(#[0-9]+ *DONE|stat::|==[0-9]+==|SUMMARY|.*panicked)'; then
        :
    fi
    if grep -qE 'panicked|ERROR: libFuzzer|SUMMARY: AddressSanitizer' "fuzz/artifacts/$target.log"; then
        failed+=("$target")
        echo "!! $target crashed: see fuzz/artifacts/$target.log and fuzz/artifacts/$target/"
    fi
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "crashed: ${failed[*]}"
    exit 1
fi
echo "no crash in ${#targets[@]} targets (${seconds}s each)"
