#!/bin/sh
# Deterministic time (-icount): two runs of SeaBIOS with no disk, to its
# reboot, must retire the same number of instructions and end in the same
# CPU and RAM state; and the reference interpreter (-no-tcache) must reach
# the same state as the translation cache.
# usage: determinism.sh VESSEL
set -u
vessel=$1
run() { timeout 120 "$vessel" -nographic -no-reboot -icount shift=0 -d exitstate "$@" </dev/null 2>&1 >/dev/null | grep '^exitstate:'; }
a=$(run); b=$(run); c=$(run -no-tcache)
echo "run 1:      $a"; echo "run 2:      $b"; echo "no-tcache:  $c"
[ -n "$a" ] || { echo "FAIL: no exitstate line"; exit 1; }
[ "$a" = "$b" ] || { echo "FAIL: two deterministic runs differ"; exit 1; }
[ "$a" = "$c" ] || { echo "FAIL: the translation cache and the reference interpreter differ"; exit 1; }
echo "determinism: ok"
