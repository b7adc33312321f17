#!/bin/sh
# install-deps.sh -- make sure the Debian packages agrad builds with are here:
#   uthash-dev (uthash.h), check (unit tests), pkg-config, zlib1g-dev (IDX .gz
#   files), libjansson-dev (checkpoint headers), plus any extra
#   package names given as arguments (graphviz, valgrind, ...).
# Installs what is missing with apt-get, through sudo when not root; says what
# to run when neither works. Prints nothing when everything is present.
set -u

missing=""
need() { missing="$missing $1"; }

[ -f /usr/include/uthash.h ] || need uthash-dev
command -v pkg-config >/dev/null 2>&1 || need pkg-config
if ! pkg-config --exists check 2>/dev/null; then need check; fi
[ -f /usr/include/zlib.h ] || need zlib1g-dev
[ -f /usr/include/jansson.h ] || need libjansson-dev
for extra in "$@"; do
    case "$extra" in
        graphviz) command -v dot >/dev/null 2>&1 || need graphviz ;;
        valgrind) command -v valgrind >/dev/null 2>&1 || need valgrind ;;
        clang) command -v clang >/dev/null 2>&1 || need clang ;;
        doxygen) command -v doxygen >/dev/null 2>&1 || need doxygen ;;
        *) dpkg -s "$extra" >/dev/null 2>&1 || need "$extra" ;;
    esac
done

[ -z "$missing" ] && exit 0

echo "agrad: installing missing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "agrad: cannot install packages (not root, no password-less sudo)." >&2
    echo "agrad: please run:  sudo apt-get install -y$missing" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y -q --no-install-recommends $missing; then
    $SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends $missing || {
        echo "agrad: apt-get could not install:$missing" >&2
        exit 1
    }
fi
