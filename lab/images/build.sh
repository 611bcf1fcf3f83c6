#!/usr/bin/env bash
# Build a Debian base image for the lab and the Molecule scenarios, locally:
# debootstrap from the machine's own Debian mirror, then `podman import`.
# No registry is involved. An image is rebuilt only when it is missing or when its recipe
# (this script, packages.txt, the suite) changed; the recipe hash is kept as an image label.
#
# usage: lab/images/build.sh SUITE [SUITE...]     (e.g. bookworm trixie)
# env:   LAB_DEBIAN_MIRROR   mirror URL (default: the one this machine's apt sources use)
#        LAB_IMAGE_PREFIX    image name prefix (default: localhost/cite-souveraine/debian)
#        LAB_IMAGE_FORCE=1   rebuild even when the recipe is unchanged
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=${LAB_IMAGE_PREFIX:-localhost/cite-souveraine/debian}
label=org.cite-souveraine.recipe

[ "$#" -ge 1 ] || { echo "usage: $0 SUITE [SUITE...]" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "build.sh: debootstrap needs root" >&2; exit 2; }

mirror=${LAB_DEBIAN_MIRROR:-$(python3 "$here/../apt_mirror.py")}
packages=$(grep -Ev '^\s*(#|$)' "$here/packages.txt" | paste -sd, -)

# One suite: debootstrap into a scratch root, then podman import (prints one line).
build_suite() {
    # root is global (each suite runs in its own subshell): the EXIT trap reads it after
    # the function has returned.
    local suite=$1 image recipe current
    image="$prefix:$suite"
    recipe=$(cat "$here/build.sh" "$here/packages.txt" <(echo "$suite") | sha256sum | cut -c1-16)
    current=$(podman image inspect --format "{{ index .Labels \"$label\" }}" "$image" 2>/dev/null || true)
    if [ "$current" = "$recipe" ] && [ "${LAB_IMAGE_FORCE:-0}" != 1 ]; then
        echo "image $image is up to date (recipe $recipe)"
        return 0
    fi
    echo "building $image from $mirror (recipe $recipe)"
    root=$(mktemp -d /var/tmp/cite-souveraine-rootfs.XXXXXX)
    trap 'rm -rf "$root" "$root.log"' EXIT
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" \
        > "$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; return 1; }

    # Every container must get its own identity and host keys at first boot.
    : > "$root/etc/machine-id"
    rm -f "$root"/etc/ssh/ssh_host_*
    cat > "$root/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate missing SSH host keys (lab image: keys are never baked in)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
    ln -sf /etc/systemd/system/ssh-hostkeys.service \
        "$root/etc/systemd/system/multi-user.target.wants/ssh-hostkeys.service"
    # apt retries what a busy mirror refuses for a moment (a 503, a reset connection)
    # instead of failing a converge on it.
    printf 'Acquire::Retries "5";\n' > "$root/etc/apt/apt.conf.d/80-cite-retries"
    # Units that have no meaning in a container and only fail there.
    for unit in systemd-remount-fs.service getty.target console-getty.service; do
        ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb

    tar -C "$root" --numeric-owner -c . | podman import --quiet \
        --change "CMD [\"/sbin/init\"]" \
        --change "LABEL $label=$recipe" \
        --change "STOPSIGNAL SIGRTMIN+3" \
        - "$image" > /dev/null
    echo "built $image"
}

# The suites are built side by side: debootstrap waits on the mirror as much as on the
# CPU, so two builds on two cores take little more than one.
pids=()
for suite in "$@"; do
    ( build_suite "$suite" ) &
    pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do
    wait "$pid" || status=1
done
exit "$status"
