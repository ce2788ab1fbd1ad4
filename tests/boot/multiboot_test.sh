#!/bin/sh
# -kernel with a multiboot (v1) test kernel and two modules through SeaBIOS
# and multiboot.bin: the kernel reports its command line, memory map and
# each module's string, length and byte sum.  The output must equal the
# expected text, and QEMU's output for the same kernel when QEMU is there.
# usage: multiboot_test.sh VESSEL KERNEL_BIN
set -u
vessel=$1 kernel=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf 'hello module one\n' > "$dir/m1.txt"
i=0; while [ $i -lt 1000 ]; do printf 'abcde'; i=$((i + 1)); done > "$dir/m2.bin"
cat > "$dir/expected" <<EOT
cmdline: $kernel console=test x=1
flags mem|mmap: 00000041
RAM above 1 MiB in the memory map is 124-127 MiB: yes
modules: 00000002
module '$dir/m1.txt arg1 arg2' len 00000011 sum 00000626
module '$dir/m2.bin' len 00001388 sum 00078D98
multiboot: ok
EOT
fail=0
for emu in "$vessel" "qemu-system-i386 -M pc"; do
    case $emu in qemu*) command -v qemu-system-i386 >/dev/null || continue;; esac
    rm -f "$dir/out"
    timeout 60 $emu -m 128 -display none -no-reboot -kernel "$kernel" -initrd "$dir/m1.txt arg1 arg2,$dir/m2.bin" \
        -append "console=test x=1" -debugcon "file:$dir/out" -device isa-debug-exit,iobase=0xf4,iosize=4 </dev/null
    st=$?
    if [ $st -ne 1 ] || ! diff -u "$dir/expected" "$dir/out"; then
        echo "FAIL: $emu (status $st)"; fail=1
    else
        echo "ok: $emu"
    fi
done
exit $fail
