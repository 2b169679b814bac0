#!/usr/bin/env bash
# Builds every libFuzzer harness tests/fuzz/*.c and runs each for a short,
# fixed time with its seeds; fails when any harness finds a crash, a leak,
# undefined behaviour or a hang. See docs/internals/fuzzing.md.
#
#   FUZZ_SECONDS=20   seconds per harness
#   FUZZ_ONLY=name    run only tests/fuzz/<name>.c
#   FUZZ_SRC="..."    build the archive from these src files only (default:
#                     the Makefile's list, every src/**/*.c but main.c)
#   FUZZ_JOBS=2       parallel compile jobs
#
# The salon sources are compiled once into build/fuzz/libsalon.a through the
# root Makefile (VARIANT=fuzz, so these objects never mix with release or
# asan ones); each harness is then linked against that archive, so a new
# harness needs no change here.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-2}
OUT=build/fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
CFLAGS_FUZZ="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $SAN"

probe_fuzzer() {
    command -v clang >/dev/null 2>&1 || return 1
    local tmp
    tmp=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' >"$tmp/p.c"
    clang -fsanitize=fuzzer,address,undefined "$tmp/p.c" -o "$tmp/p" >/dev/null 2>&1
    local rc=$?
    rm -rf "$tmp"
    return $rc
}

# clang's libFuzzer runtime is in libclang-rt-dev, only a Recommends of
# clang, so ask for both.
if ! probe_fuzzer; then
    echo "fuzz: installing clang and its libFuzzer runtime" >&2
    apt-get install -y clang libclang-rt-dev >&2
    probe_fuzzer || { echo "fuzz: clang cannot build -fsanitize=fuzzer" >&2; exit 1; }
fi

shopt -s nullglob
harnesses=(tests/fuzz/*.c)
if [ -n "${FUZZ_ONLY:-}" ]; then
    harnesses=("tests/fuzz/$FUZZ_ONLY.c")
    [ -f "${harnesses[0]}" ] || { echo "fuzz: no ${harnesses[0]}" >&2; exit 1; }
fi
[ ${#harnesses[@]} -gt 0 ] || { echo "fuzz: no harness in tests/fuzz/" >&2; exit 1; }

# The archive's member list depends on FUZZ_SRC, so always rebuild it (ar is
# cheap; make still recompiles only what changed).
rm -f "$OUT/libsalon.a"
make_args=(VARIANT=fuzz CC=clang "CFLAGS_fuzz=$CFLAGS_FUZZ" "LDFLAGS_fuzz=$SAN"
           "WARN=-Wall -Wextra -Wno-unused-command-line-argument")
[ -n "${FUZZ_SRC:-}" ] && make_args+=("SRC=$FUZZ_SRC")
echo "fuzz: building $OUT/libsalon.a" >&2
make -s --no-print-directory -j"$FUZZ_JOBS" "${make_args[@]}" "$OUT/libsalon.a" >&2

# Link flags come from the Makefile itself, so a library added there is
# picked up here too.
# shellcheck disable=SC2016 # $(...) is for make, not the shell
mapfile -t pkg < <(printf 'print-fuzz-vars:\n\t@echo "$(PKG_CFLAGS)"\n\t@echo "$(PKG_LIBS)"\n' |
                   make -s --no-print-directory -f Makefile -f - print-fuzz-vars)
PKG_CFLAGS=${pkg[0]:-}
PKG_LIBS=${pkg[1]:-"-lhttp_parser -lpthread"}
mkdir -p "$OUT/bin" "$OUT/logs"

failed=()
for src in "${harnesses[@]}"; do
    name=$(basename "$src" .c)
    bin="$OUT/bin/$name"
    echo "fuzz: $name: build" >&2
    # shellcheck disable=SC2086
    if ! clang -std=c17 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer \
            -fsanitize=fuzzer $SAN -Isrc $PKG_CFLAGS \
            -o "$bin" "$src" "$OUT/libsalon.a" $PKG_LIBS; then
        failed+=("$name (build)")
        continue
    fi

    # New inputs go to build/fuzz/corpus/<name> (kept between runs); the
    # seeds in tests/fuzz/corpus/<name> are read, never written.
    work="$OUT/corpus/$name"
    artifacts="$OUT/artifacts/$name/"
    mkdir -p "$work" "$artifacts"
    corpora=("$work")
    [ -d "tests/fuzz/corpus/$name" ] && corpora+=("tests/fuzz/corpus/$name")
    extra=()
    [ -f "tests/fuzz/$name.flags" ] && read -r -a extra <"tests/fuzz/$name.flags"

    log="$OUT/logs/$name.log"
    echo "fuzz: $name: run ${FUZZ_SECONDS}s (log $log)" >&2
    # -timeout: an input that takes 10 s is a hang, reported as a failure.
    if UBSAN_OPTIONS=print_stacktrace=1 "$bin" -max_total_time="$FUZZ_SECONDS" \
            -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts" \
            "${extra[@]}" "${corpora[@]}" >"$log" 2>&1; then
        grep -aE '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" |
            sed "s/^/fuzz: $name: /" >&2 || true
    else
        echo "fuzz: $name: FAILED (full log: $log)" >&2
        grep -a -m1 -A20 -E '==ERROR|runtime error:|check failed|deadly signal|ALARM|out-of-memory' \
            "$log" >&2 || tail -n 20 "$log" >&2
        grep -aE 'Test unit written to' "$log" | sed "s/^/fuzz: $name: /" >&2 || true
        failed+=("$name")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#harnesses[@]} harness(es) passed"
