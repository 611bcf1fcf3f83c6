#!/usr/bin/env bash
# Fetch the auditors' content: Debian's ssg-debian package (SCAP Security Guide) at the
# version the project is judged by, with apt, from the Debian mirror this machine uses, and
# unpack it under .cache/compliance/. Bookworm's own ssg-debian (0.1.65) has no Debian 12
# content and trixie's (0.1.76) none for Debian 13, so this uses a private apt
# configuration naming sid, where 0.1.82 has both: the machine's /etc/apt is not touched.
# Signatures are checked with Debian's archive keyring.
#
#   compliance/fetch_ssg.sh [VERSION [SUITE]]   (default 0.1.82-1 from sid)
# Prints the content directory, which holds ssg-debian12-ds.xml and ssg-debian13-ds.xml.
set -euo pipefail

version="${1:-${SSG_VERSION:-0.1.82-1}}"
suite="${2:-${SSG_SUITE:-sid}}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/compliance"
dest="$cache/ssg-debian_$version"
content="$dest/usr/share/xml/scap/ssg/content"
if [[ -s "$content/ssg-debian12-ds.xml" && -s "$content/ssg-debian13-ds.xml" ]]; then
  echo "$content"
  exit 0
fi

mirror="${LAB_DEBIAN_MIRROR:-$(python3 "$root/lab/apt_mirror.py")}"
[[ -n "$mirror" ]] || { echo "no Debian mirror known: set LAB_DEBIAN_MIRROR" >&2; exit 2; }
apt_dir="$cache/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$dest"
cat > "$apt_dir/sources.list" <<SOURCES
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main
SOURCES
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir"
  -o "Debug::NoLocking=1"
  -o "APT::Get::List-Cleanup=0"
)
apt-get -qq "${apt_opts[@]}" update >&2
(cd "$apt_dir/archives" && apt-get -qq "${apt_opts[@]}" download "ssg-debian=$version" >&2)
deb="$(ls "$apt_dir"/archives/ssg-debian_"${version/:/%3a}"_all.deb)"
dpkg-deb -x "$deb" "$dest"
for release in 12 13; do
  [[ -s "$content/ssg-debian$release-ds.xml" ]] || {
    echo "$deb has no ssg-debian$release-ds.xml" >&2
    exit 1
  }
done
echo "$content"
