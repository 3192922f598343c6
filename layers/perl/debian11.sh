#!/bin/sh
# Unpacks Debian 11's perl (5.32) and the libraries its modules load into a folder laid out
# like a root file system, the sysroot layers/perl/layer.toml builds from:
#
#   sh layers/perl/debian11.sh [ROOT] [ARCH]   # ARCH x86_64 or arm64 (default: ROOT's suffix,
#                                               # else x86_64); ROOT defaults to
#                                               # /srv/lamina/debian11-perl-ARCH
#
# Why Debian 11 and not the build machine's Debian 12 perl: provided.al2023 has glibc 2.34,
# and Debian 12's perl needs newer symbols where it matters: its libcrypt.so.1 (libxcrypt
# 4.4.33) needs GLIBC_2.36 (arc4random_buf) and its POSIX.so GLIBC_2.35 (hypot);
# `cargo lamina check` refuses both. Debian 11's (glibc 2.31) need at most GLIBC_2.29.
# Debian 11's long-term support ended in August 2026: no more security fixes for these.
#
# The packages are fetched with apt-get from Debian's archive through a private apt
# configuration (the machine's own apt sources and state are not touched), pinned to exact
# versions and checked against the sha256s below, then unpacked with dpkg-deb (nothing is
# installed). ROOT is written next to itself (ROOT.new) and renamed into place; when ROOT already holds
# exactly these packages (its stamp file matches), nothing is done.
set -eu

arch=${2:-}
if [ -z "$arch" ]; then
    case "${1:-}" in
        *-arm64) arch=arm64 ;;
        *) arch=x86_64 ;;
    esac
fi
# sha256 (of the .deb)  package=version, per architecture (perl-modules-5.32 is for all)
case "$arch" in
    x86_64)
        debian_arch=amd64
        packages='
16e27c3ebd97981e70db3733f899963362748f178a62644df69d1f247e741379 libbz2-1.0=1.0.8-4
f617952df0c57b4ee039448e3941bccd3f97bfff71e9b0f87ca6dae15cb3f5ef libcrypt1=1:4.4.18-4
00b9e63e287f45300d4a4f59b6b88e25918443c932ae3e5845d5761ae193c530 libdb5.3=5.3.28+dfsg1-0.8
e62caed68b0ffaa03b5fa539d6fdc08c4151f66236d5878949bead0b71b7bb09 libgdbm-compat4=1.19-2
e54cfe4d8b8f209bb7df31a404ce040f7c2f9b1045114a927a7e1061cdf90727 libgdbm6=1.19-2
078487a45916167e3e4ee2e584c50306c84368dd06dae276604861ca0426c34e libperl5.32=5.32.1-4+deb11u3
94c6299552866aadc58acb8ec5111a74b17bcb453f6e2f45ea5f7c4f42580d13 perl-base=5.32.1-4+deb11u3
9a5cb99d0f33cb11c7f535aaebfb569c6b6f97a75d748a9a52ea3afed5bd3960 perl-modules-5.32=5.32.1-4+deb11u3
'
        ;;
    arm64)
        debian_arch=arm64
        packages='
da340e8470e96445c56966f74e48a9a91dee0fa5c89876e88a4575cc17d17a97 libbz2-1.0=1.0.8-4
22b586b29e840dabebf0bf227d233376628b87954915d064bc142ae85d1b7979 libcrypt1=1:4.4.18-4
cf9aa3eae9cfc4c84f93e32f3d11e2707146e4d9707712909e3c61530b50353e libdb5.3=5.3.28+dfsg1-0.8
0853cc0b0f92784b7fbd193d737c63b1d95f932e2b95dc1bb10c273e01a0f754 libgdbm-compat4=1.19-2
97a88c2698bd836d04e51ad70c76826850857869b51e90b5343621ba30bbf525 libgdbm6=1.19-2
9a5524101015f14773246336cb615c0e58fff2e7420a79f511262df9a7ff1c91 libperl5.32=5.32.1-4+deb11u3
53e09d9594692c462f33d4e9394bff60f95fe74b70402772dc7396a5829b76e5 perl-base=5.32.1-4+deb11u3
9a5cb99d0f33cb11c7f535aaebfb569c6b6f97a75d748a9a52ea3afed5bd3960 perl-modules-5.32=5.32.1-4+deb11u3
'
        ;;
    *)
        echo "debian11.sh: architecture '$arch' is not x86_64 or arm64" >&2
        exit 2
        ;;
esac
root=${1:-/srv/lamina/debian11-perl-$arch}

stamp=$(echo "$packages" | sha256sum | cut -d' ' -f1)
# shellcheck source=../debian-sysroot.sh
. "$(dirname "$0")/../debian-sysroot.sh"
if debian_sysroot_is_current "$root" "$stamp"; then
    exit 0
fi
unpack_debian_packages debian11.sh "$root" bullseye "$debian_arch" "$stamp" "$packages"
# This machine's own architecture's perl is run once as a smoke test.
if [ "$arch" = "$(uname -m | sed 's/aarch64/arm64/')" ]; then
    "$root/usr/bin/perl" -e 'exit 0'
fi
echo "debian11.sh: Debian 11's perl 5.32 ($arch) is in $root"
