#!/usr/bin/env bash
# Runs one libFuzzer target (or all of them) for a while.
#
#   Tools/fuzz.sh TARGET SECONDS     TARGET: wire | control | http | state | store | all
#
# Targets, one per parser that reads bytes a peer controls, and one for the whole ingest path:
#   wire     WireDecoder.decode            (Sources/ProbeWire: ingest and control sockets)
#   control  ControlRequest.parse + args   (Sources/ProbeDaemon/Control/ControlRequest.swift: probectl's JSON)
#   http     HTTPRequestHead.endOfHead/route (Sources/ProbeDaemon/Metrics/HTTPRequestHead.swift: /metrics)
#   state    StateFile.decode and what reads its values (Sources/ProbeDaemon/State/: probed's state file)
#   store    client messages decoded, checked, logged and applied to a Store, then every report,
#            the metrics and probectl's tables rendered (Tools/fuzz/StoreFuzz.swift says how)
#
# Each is built with `swiftc -sanitize=fuzzer,address -parse-as-library -O` from the parser's own
# sources and a small entry file in Tools/fuzz/, into .build-fuzz/ (ignored); `state` compiles its
# modules' sources (ProbeStatistics, ProbeWire and the daemon's state files) as one module, their
# `import` lines dropped; `store` builds the daemon's modules one by one as SwiftPM would (C
# targets with clang), the entry file inside ProbeDaemon. Seeds: the protocol vectors
# (Protocol/vectors/*.hex) for wire, Tools/fuzz/seeds/TARGET/ for the others. The working
# corpus grows in .build-fuzz/corpus-TARGET/ and is kept between runs. A crash leaves its input as
# .build-fuzz/crash-TARGET-*; turn it into a regression vector or test together with the fix.
# SWIFT_BACKTRACE=enable=no: Swift's crash handler would otherwise trip ASan and can hang.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: Tools/fuzz.sh wire|control|http|state|store|all SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
target=$1 seconds=$2
[[ "$seconds" =~ ^[0-9]+$ ]] || usage

out=.build-fuzz
mkdir -p "$out"

sources() {
    case $1 in
        wire) echo Sources/ProbeWire/*.swift Tools/fuzz/WireDecoderFuzz.swift ;;
        control) echo Sources/ProbeDaemon/Control/ControlRequest.swift Tools/fuzz/ControlRequestFuzz.swift ;;
        http) echo Sources/ProbeDaemon/Metrics/HTTPRequestHead.swift Sources/ProbeDaemon/StringTrimming.swift Tools/fuzz/HTTPRequestFuzz.swift ;;
        state) echo Sources/ProbeStatistics/*.swift Sources/ProbeWire/*.swift Sources/ProbeDaemon/State/CRC32C.swift \
               Sources/ProbeDaemon/State/StateBytes.swift Sources/ProbeDaemon/State/StateImage.swift \
               Sources/ProbeDaemon/State/StateFile.swift Sources/ProbeDaemon/Store/CallEntry.swift \
               Sources/ProbeDaemon/Store/ConnectionRecord.swift \
               Sources/ProbeDaemon/Store/Series.swift Sources/ProbeDaemon/Memory/ProcStatus.swift Tools/fuzz/StateFileFuzz.swift ;;
        store) find Sources/ProbeWire Sources/ProbePosix Sources/ProbeStatistics Sources/ProbeControl Sources/ProbeCLI \
                    Sources/ProbeDaemon Sources/CProbeSys Sources/CNVML -name '*.swift' -o -name '*.[ch]' | sort
               echo Tools/fuzz/StoreFuzz.swift ;;
        *) usage ;;
    esac
}

maxlen() {
    case $1 in
        wire) echo 65536 ;;     # WireProtocol.maxMessageBytes (+ bigger is refused as oversized)
        control) echo 4200 ;;   # a CONTROL_REQUEST carries at most 4096 bytes of text
        http) echo 9000 ;;      # the request head is refused past 8192 bytes
        state) echo 65536 ;;    # a state of a few series; the seeds are a few KiB
        store) echo 262144 ;;   # a script of several messages
    esac
}

build() {
    local t=$1 bin=$out/fuzz-$1
    # Rebuild only when a source is newer than the binary.
    local newer=1
    if [ -x "$bin" ]; then
        newer=0
        for f in $(sources "$t"); do [ "$f" -nt "$bin" ] && newer=1; done
    fi
    if [ $newer -eq 1 ]; then
        echo "fuzz.sh: building $t" >&2
        if [ "$t" = store ]; then
            build_store "$bin"
        elif [ "$t" = state ]; then
            # One module from several: copies without their imports of each other.
            rm -rf "$out/src-$t" && mkdir -p "$out/src-$t"
            for f in $(sources "$t"); do
                sed -E '/^import (ProbeStatistics|ProbeWire)$/d' "$f" > "$out/src-$t/$(echo "$f" | tr / _)"
            done
            # shellcheck disable=SC2046
            swiftc -sanitize=fuzzer,address -parse-as-library -O -package-name probe -module-name "Fuzz_$t" \
                $(ls "$out/src-$t"/*.swift) -o "$bin"
        else
            # shellcheck disable=SC2046
            swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name "Fuzz_$t" \
                $(sources "$t") -o "$bin"
        fi
    fi
}

# The daemon's modules in dependency order, each one object and one .swiftmodule (whole-module,
# -O, instrumented for libFuzzer and ASan), `package` access shared as in SwiftPM; the C targets
# get a module map each. The entry file is compiled into ProbeDaemon, then everything is linked.
build_store() {
    local bin=$1 dir=$out/store
    rm -rf "$dir" && mkdir -p "$dir/obj" "$dir/modules"
    for c in CProbeSys CNVML; do
        mkdir -p "$dir/modules/$c"
        printf 'module %s {\n    header "%s"\n    export *\n}\n' "$c" "$PWD/Sources/$c/include/$c.h" > "$dir/modules/$c/module.modulemap"
        clang -c -O1 -fsanitize=fuzzer-no-link,address -I "Sources/$c/include" "Sources/$c/$c.c" -o "$dir/obj/$c.o"
    done
    local includes=(-I "$dir/modules" -I "$dir/modules/CProbeSys" -I "$dir/modules/CNVML")
    module() {
        local name=$1; shift
        swiftc -sanitize=fuzzer,address -parse-as-library -O -wmo -package-name probe -module-name "$name" \
            "${includes[@]}" -emit-module -emit-module-path "$dir/modules/$name.swiftmodule" \
            -c "$@" -o "$dir/obj/$name.o"
    }
    module ProbeWire Sources/ProbeWire/*.swift
    module ProbeStatistics Sources/ProbeStatistics/*.swift
    module ProbePosix Sources/ProbePosix/*.swift
    module ProbeControl Sources/ProbeControl/*.swift
    module ProbeCLI Sources/ProbeCLI/*.swift
    # shellcheck disable=SC2046
    module ProbeDaemon $(find Sources/ProbeDaemon -name '*.swift' | sort) Tools/fuzz/StoreFuzz.swift
    # gold warns once per ASan helper symbol it cannot export (hundreds of lines): not ours.
    swiftc -sanitize=fuzzer,address -O "$dir"/obj/*.o -ldl -o "$bin" 2> >(grep -v "Cannot export local symbol" >&2)
}

seed() {
    local t=$1 corpus=$out/corpus-$1
    mkdir -p "$corpus"
    if [ "$t" = wire ] || [ "$t" = store ]; then
        # Each vector's bytes: hex pairs with `#` comments and whitespace stripped.
        for f in Protocol/vectors/*.hex; do
            hex=$(sed 's/#.*//' "$f" | tr -d ' \t\r\n')
            printf "$(printf '%s' "$hex" | sed 's/../\\x&/g')" > "$corpus/vector-$(basename "$f" .hex)"
        done
    fi
    if [ "$t" = store ]; then
        # Scripts written by Tools/fuzz/store_seeds.py: whole client sessions, and each protocol
        # vector sent on a connection that has said HELLO and DEFINEd the ids the vectors use.
        rm -f "$corpus"/vector-*
        python3 Tools/fuzz/store_seeds.py "$corpus"
    elif [ "$t" != wire ]; then
        cp Tools/fuzz/seeds/"$t"/* "$corpus"/
    fi
}

run() {
    local t=$1
    build "$t"
    seed "$t"
    echo "fuzz.sh: running $t for ${seconds}s" >&2
    # detect_leaks=0: LeakSanitizer reports the Swift runtime's and Foundation's one-time caches.
    # The kill is a last resort for a hung target (libFuzzer's -timeout catches a slow input):
    # libFuzzer runs the whole corpus once before its clock starts, and a corpus grown by long
    # local runs of a slow target (store: ~20 inputs/s) takes a while, so it gets a second per
    # 5 inputs on top.
    local inputs
    inputs=$(find "$out/corpus-$t" -type f | wc -l)
    SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 \
        timeout -s KILL $((seconds + 60 + inputs / 5)) "$out/fuzz-$t" \
        -max_total_time="$seconds" -max_len="$(maxlen "$t")" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/crash-$t-" "$out/corpus-$t"
}

if [ "$target" = all ]; then
    # The store target compiles the whole daemon (about two minutes, on one core); libFuzzer runs
    # on one core too, so the store target builds beside the others' builds and runs.
    build store &
    store_build=$!
    for t in wire control http state; do run "$t"; done
    wait "$store_build" || { echo "fuzz.sh: building the store target failed" >&2; exit 1; }
    run store
else
    run "$target"
fi
