#!/usr/bin/env bash
# Build the fleet's bootable Debian VM image, locally: debootstrap from the site's own
# Debian mirror straight into a partitioned disk, then a compressed qcow2. Nothing is
# downloaded from anywhere else. The layout is the one ANSSI BP-028 asks for (R28: /boot,
# /tmp, /var, /var/log, /var/log/audit, /var/tmp, /home and /srv apart, each with its
# mount options). GRUB boots it from the disk (BIOS, GPT with a bios_grub partition), its
# console on the serial port; cloud-init reads the NoCloud disk that pulumi/ attaches
# (hostname, first admin key, static address) and nothing else: no network metadata source
# is ever probed. The packages are the lab images' (packages.txt) plus vm-packages.txt, so
# that a VM on an isolated tenant network converges without reaching a mirror.
#
# The image is rebuilt only when it is missing or its recipe (this script, its GRUB settings,
# both package lists, the suite) changed: the recipe hash is kept beside it, in OUTPUT.recipe.
#
# usage: lab/images/vm-image.sh SUITE OUTPUT.qcow2
# env:   LAB_DEBIAN_MIRROR   mirror URL (default: the one this machine's apt sources use)
#        LAB_IMAGE_FORCE=1   rebuild even when the recipe is unchanged
# needs: root, loop devices, debootstrap, sfdisk (fdisk), qemu-img (qemu-utils)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ "$#" -eq 2 ] || { echo "usage: $0 SUITE OUTPUT.qcow2" >&2; exit 2; }
suite=$1 out=$2
case "$suite" in
    *[!a-z]* | '') echo "vm-image.sh: suite must be a Debian codename, not '$suite'" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "vm-image.sh: loop devices and debootstrap need root" >&2; exit 2; }
for tool in debootstrap sfdisk qemu-img losetup mkfs.ext4; do
    command -v "$tool" >/dev/null || { echo "vm-image.sh: $tool is missing (make fleet-image installs it)" >&2; exit 2; }
done

mirror=${LAB_DEBIAN_MIRROR:-$(python3 "$here/../apt_mirror.py")}
packages=$(cat "$here/packages.txt" "$here/vm-packages.txt" | grep -Ev '^\s*(#|$)' | paste -sd, -)
recipe=$(cat "$here/vm-image.sh" "$here/vm-grub.cfg" "$here/packages.txt" "$here/vm-packages.txt" <(echo "$suite") \
    | sha256sum | cut -c1-16)
if [ -f "$out" ] && [ "$(cat "$out.recipe" 2>/dev/null)" = "$recipe" ] && [ "${LAB_IMAGE_FORCE:-0}" != 1 ]; then
    echo "image $out is up to date (recipe $recipe)"
    exit 0
fi
echo "building $out from $mirror (recipe $recipe)"

# Partitions: name, size in MiB (0: the rest), mount point, mount options. The disk is
# 6 GiB; qcow2 keeps only what is written (about 0.6 GiB compressed). A VM's disk grows
# from it (the fleet spec's disk_gib): /srv, the last partition, is the tenant's to extend.
layout=(
    "boot 256 /boot nodev,nosuid,noexec"
    "root 2560 / defaults"
    "var 1024 /var nodev"
    "log 512 /var/log nodev,nosuid,noexec"
    "audit 256 /var/log/audit nodev,nosuid,noexec"
    "vartmp 256 /var/tmp nodev,nosuid,noexec"
    "tmp 256 /tmp nodev,nosuid,noexec"
    "home 256 /home nodev,nosuid"
    "srv 0 /srv nodev,nosuid"
)

work=$(mktemp -d /var/tmp/cite-vm-image.XXXXXX)
root=$work/root
loop=""
mounted=()
# Whatever fails, nothing stays mounted or attached, and no half-built image is left.
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
    done
    [ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mount_on() {  # mount_on SOURCE TARGET [mount options...]
    mkdir -p "$2"
    mount "${@:3}" "$1" "$2"
    mounted+=("$2")
}

truncate -s 6G "$work/disk.raw"
{
    echo "label: gpt"
    echo "size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name=bios_grub"
    for entry in "${layout[@]}"; do
        read -r name size _ _ <<<"$entry"
        if [ "$size" = 0 ]; then echo "name=$name"; else echo "size=${size}MiB, name=$name"; fi
    done
} | sfdisk --quiet "$work/disk.raw"
loop=$(losetup --find --show --partscan "$work/disk.raw")
# The kernel's own scan may not publish the partitions here (loop's max_part=0): ask again.
partx --add "$loop" 2>/dev/null || partx --update "$loop"

# Filesystems, and the fstab that says the same; mounted parents first (by depth: / before
# /boot and /var, /var before /var/log), whatever their order on the disk: a /boot mounted
# before / is hidden by it, and the kernel and GRUB would land on the root file system.
fstab="# Written by lab/images/vm-image.sh: ANSSI BP-028 R28 partitions and mount options."
part=2
mounts=()
for entry in "${layout[@]}"; do
    read -r name _ mountpoint options <<<"$entry"
    device=${loop}p$part
    for _ in 1 2 3 4 5; do [ -b "$device" ] && break; sleep 1; done
    mkfs.ext4 -q -L "$name" "$device"
    depth=$(tr -cd / <<<"${mountpoint%/}" | wc -c)
    mounts+=("$depth $mountpoint $device")
    uuid=$(blkid -s UUID -o value "$device")
    pass=2; [ "$mountpoint" = / ] && pass=1
    fstab+=$'\n'"UUID=$uuid $mountpoint ext4 $options 0 $pass"
    part=$((part + 1))
done
while read -r _ mountpoint device; do
    mount_on "$device" "$root$mountpoint"
done < <(printf '%s\n' "${mounts[@]}" | sort -n -k1,1 -s)
chmod 1777 "$root/tmp" "$root/var/tmp"

debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
    > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

printf '%s\n' "$fstab" > "$root/etc/fstab"
echo debian > "$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
# Name resolution: the resolvers cloud-init gives networkd (the site model's, per network),
# through systemd-resolved, listed as they are (no stub listener, no port opened); never
# the build machine's resolv.conf, which debootstrap copies in.
mkdir -p "$root/etc/systemd/resolved.conf.d"
printf '[Resolve]\nDNSStubListener=no\nLLMNR=no\nMulticastDNS=no\n' \
    > "$root/etc/systemd/resolved.conf.d/90-cite-souveraine.conf"
ln -sfn ../run/systemd/resolve/resolv.conf "$root/etc/resolv.conf"
# Every VM gets its own identity and host keys at first boot (systemd, cloud-init).
: > "$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
printf 'Acquire::Retries "5";\n' > "$root/etc/apt/apt.conf.d/80-cite-retries"
# cloud-init: the NoCloud disk only (no cloud metadata service is ever asked), the network
# it describes rendered for systemd-networkd, which starts at boot.
cat > "$root/etc/cloud/cloud.cfg.d/90-cite-souveraine.cfg" <<'CFG'
# Written by lab/images/vm-image.sh: pulumi/ attaches a NoCloud disk (label cidata).
datasource_list: [NoCloud, None]
# The VM's own name resolves (127.0.1.1 in /etc/hosts; sudo asks for it).
manage_etc_hosts: localhost
system_info:
  network:
    renderers: [networkd]
CFG
for unit in systemd-networkd.service:multi-user.target systemd-networkd.socket:sockets.target \
    systemd-resolved.service:multi-user.target; do
    mkdir -p "$root/etc/systemd/system/${unit#*:}.wants"
    ln -sf "/lib/systemd/system/${unit%%:*}" "$root/etc/systemd/system/${unit#*:}.wants/${unit%%:*}"
done
# GRUB on the disk, its menu and the kernel's console on the serial port (virsh console).
install -m 0644 "$here/vm-grub.cfg" "$root/etc/default/grub.d/90-cite-souveraine.cfg"
# The chroot's /dev is its own: the disk's nodes and the by-uuid links GRUB's scripts look
# for (no udev makes them here), so that the menu names the root by UUID and nothing is
# added to this machine's /dev.
mount_on tmpfs "$root/dev" -t tmpfs -o mode=0755,nosuid
cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom "$loop" "$loop"p* "$root/dev/"
mkdir -p "$root/dev/disk/by-uuid"
for device in "$loop"p*; do
    uuid=$(blkid -s UUID -o value "$device" || true)
    [ -z "$uuid" ] || ln -s "../../${device#/dev/}" "$root/dev/disk/by-uuid/$uuid"
done
for fs in proc sys; do
    mount_on "/$fs" "$root/$fs" --bind
done
chroot "$root" grub-install --target=i386-pc --modules="part_gpt ext2" "$loop" \
    > "$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; exit 1; }
chroot "$root" update-grub > "$work/grub.log" 2>&1 || { cat "$work/grub.log" >&2; exit 1; }
grep -q "root=UUID=$(blkid -s UUID -o value "${loop}p3")" "$root/boot/grub/grub.cfg" \
    || { echo "vm-image.sh: GRUB's menu does not name the root by UUID" >&2; exit 1; }
# The kernel and GRUB's files are on the /boot partition, where the VM will find them.
for file in "$root"/boot/grub/grub.cfg "$root"/boot/vmlinuz-*; do
    [ "$(findmnt -n -o SOURCE --target "$file")" = "${loop}p2" ] \
        || { echo "vm-image.sh: ${file#"$root"} is not on the boot partition" >&2; exit 1; }
done
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/*

# Unmount (children first), detach, convert: the qcow2 appears only once complete.
for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[i]}"; done
mounted=()
losetup -d "$loop"
loop=""
mkdir -p "$(dirname "$out")"
qemu-img convert -c -O qcow2 "$work/disk.raw" "$out.tmp"
mv "$out.tmp" "$out"
echo "$recipe" > "$out.recipe"
echo "built $out ($(du -h "$out" | cut -f1) on disk)"
