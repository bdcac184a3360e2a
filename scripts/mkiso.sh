#!/bin/sh
# mkiso.sh OUT.iso KERNEL.elf "COMMAND LINE" [USERDIR]: a GRUB2 (BIOS) ISO
# whose only menu entry boots KERNEL with that command line, at once
# (timeout 0), with every user program USERDIR/NAME.elf (default: the
# user/ folder beside KERNEL, i.e. build/user) loaded as a multiboot2 module
# whose command line is NAME: the name the kernel finds the image by.
set -eu
out=$1 kernel=$2 cmdline=${3:-}
userdir=${4:-$(dirname "$kernel")/user}
dir=$(mktemp -d "${TMPDIR:-/tmp}/mdlos-iso.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/iso/boot/grub" "$dir/iso/boot/user"
# GRUB reads every byte of a module from the (emulated) CD, so the ISO gets
# copies without debug information; GDB uses the full files in build/.
# (The kernel's backtrace symbols are in its .ksyms section, which stays.)
OBJCOPY=${OBJCOPY:-objcopy}
"$OBJCOPY" --strip-debug "$kernel" "$dir/iso/boot/mdlos.elf"
modules=
for f in "$userdir"/*.elf; do
    [ -f "$f" ] || continue
    name=$(basename "$f" .elf)
    "$OBJCOPY" --strip-debug "$f" "$dir/iso/boot/user/$name.elf"
    modules="$modules
    module2 /boot/user/$name.elf $name"
done
cat > "$dir/iso/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
serial --unit=0 --speed=115200
terminal_output console
menuentry "mdlos" {
    multiboot2 /boot/mdlos.elf $cmdline$modules
    boot
}
CFG
# Only the modules needed: a smaller ISO and a faster GRUB.
grub-mkrescue -o "$out.tmp" "$dir/iso" --install-modules="multiboot2 normal configfile serial terminal boot" \
    --locales= --fonts= --themes= >/dev/null 2>"$dir/log" || { cat "$dir/log" >&2; exit 1; }
mv "$out.tmp" "$out"   # atomic: a parallel runner never sees half an ISO
