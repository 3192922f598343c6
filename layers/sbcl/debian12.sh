#!/bin/sh
# Unpacks Debian 12's SBCL (Steel Bank Common Lisp 2.2.9) for one architecture into a folder
# laid out like a root file system, the sysroot layers/sbcl/layer.toml builds from:
#
#   sh layers/sbcl/debian12.sh [ROOT] [ARCH]   # ARCH x86_64 (default) or arm64;
#                                               # ROOT defaults to /srv/lamina/debian12-sbcl-ARCH
#
# Why Debian 12's package: its runtime (/usr/bin/sbcl) needs at most GLIBC_2.34, which
# provided.al2023 has, and libzstd.so.1, which the image has too; the rest of SBCL is its
# core (/usr/lib/sbcl/sbcl.core, the whole Lisp heap) and the contribs' fasls, plain files.
#
# The package is fetched with apt-get from Debian's archive through a private apt
# configuration (the machine's own apt sources and state are not touched), pinned to an exact
# version and checked against the sha256 below, then unpacked with dpkg-deb (nothing is
# installed). ROOT is written next to itself (ROOT.new) and renamed into place; when ROOT
# already holds exactly this package (its stamp file matches), nothing is done.
set -eu

arch=${2:-}
if [ -z "$arch" ]; then
    case "${1:-}" in
        *-arm64) arch=arm64 ;;
        *) arch=x86_64 ;;
    esac
fi
# sha256 (of the .deb)  package=version, per Debian architecture
case "$arch" in
    x86_64)
        debian_arch=amd64
        packages='
60a5f82ccad1cdb08bc93a104132b99397bb6672b5a0ce0d50b01d47bd0b4765 sbcl=2:2.2.9-1
'
        ;;
    arm64)
        debian_arch=arm64
        packages='
d98601d80cd45b22f074001ebb052ac9c06c59835a158b8f526e2073809dec5e sbcl=2:2.2.9-1
'
        ;;
    *)
        echo "debian12.sh: architecture '$arch' is not x86_64 or arm64" >&2
        exit 2
        ;;
esac
root=${1:-/srv/lamina/debian12-sbcl-$arch}

stamp=$(echo "$debian_arch $packages" | sha256sum | cut -d' ' -f1)
# shellcheck source=../debian-sysroot.sh
. "$(dirname "$0")/../debian-sysroot.sh"
if debian_sysroot_is_current "$root" "$stamp"; then
    exit 0
fi
unpack_debian_packages debian12.sh "$root" bookworm "$debian_arch" "$stamp" "$packages"
# This machine's own architecture's sbcl is run once, with its core, as a smoke test.
if [ "$arch" = "$(uname -m | sed 's/aarch64/arm64/')" ]; then
    "$root/usr/bin/sbcl" --core "$root/usr/lib/sbcl/sbcl.core" --noinform --non-interactive \
        --no-sysinit --no-userinit --eval '(sb-ext:exit :code 0)' >/dev/null
fi
echo "debian12.sh: Debian 12's SBCL 2.2.9 ($arch) is in $root"
