# Sourced by layers/*/debian*.sh: unpacks pinned Debian packages into a sysroot folder.
#
#   unpack_debian_packages SCRIPT ROOT SUITE DEBIAN_ARCH STAMP PACKAGES
#
# PACKAGES holds one "sha256 package=version" line per package. They are fetched with
# apt-get from Debian's archive (SUITE: bullseye, bookworm) through a private apt
# configuration (the machine's own apt sources and state are not touched), checked against
# their sha256s and unpacked with dpkg-deb (nothing is installed). ROOT is written next to
# itself (ROOT.new) and renamed into place, with STAMP in ROOT/.lamina-packages. SCRIPT names
# the caller in errors. Call it as a plain command (not in `if` or `||`, where `set -e` would
# not stop it at a failed step).
unpack_debian_packages() {
    script=$1 root=$2 suite=$3 debian_arch=$4 stamp=$5 packages=$6
    work=$(mktemp -d)
    staging="$root.new"
    trap 'rm -rf "$work" "$staging"' EXIT
    mkdir -p "$(dirname "$root")"
    rm -rf "$staging"
    mkdir -p "$work/etc/sources.list.d" "$work/etc/preferences.d" "$work/lists/partial" \
        "$work/cache/archives/partial" "$work/debs" "$staging"
    touch "$work/etc/sources.list"
    cat > "$work/etc/sources.list.d/$suite.sources" <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    apt() {
        command "$@" -q -o Dir::Etc="$work/etc" -o Dir::State::Lists="$work/lists" \
            -o Dir::Cache="$work/cache" -o Dir::State::status=/dev/null \
            -o APT::Architecture="$debian_arch" -o APT::Sandbox::User=root
    }
    apt apt-get update >/dev/null
    # shellcheck disable=SC2046 # one word per package=version
    (cd "$work/debs" && apt apt-get download $(echo "$packages" | awk 'NF { print $2 }') >/dev/null)

    echo "$packages" | while read -r sha package; do
        [ -n "$package" ] || continue
        name=${package%%=*}
        deb=$(ls "$work/debs/${name}_"*.deb)
        actual=$(sha256sum "$deb" | cut -d' ' -f1)
        if [ "$actual" != "$sha" ]; then
            echo "$script: $deb has sha256 $actual, expected $sha" >&2
            exit 1
        fi
        dpkg-deb -x "$deb" "$staging"
    done
    echo "$stamp" > "$staging/.lamina-packages"

    rm -rf "$root.old"
    [ ! -e "$root" ] || mv "$root" "$root.old"
    mv "$staging" "$root"
    rm -rf "$root.old"
}

# Whether ROOT already holds exactly the packages STAMP names (then nothing needs doing).
debian_sysroot_is_current() {
    [ "$(cat "$1/.lamina-packages" 2>/dev/null)" = "$2" ]
}
