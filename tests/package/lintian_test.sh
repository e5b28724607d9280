#!/usr/bin/env bash
# lintian on the package scripts/build-deb made: no error and no warning.
# A warning that is wrong about us is overridden in
# debian/pershome.lintian-overrides, with the reason beside it; info and
# pedantic tags are printed for the reader and do not fail the test
# (not --show-overrides: with it, lintian 2.116 fails on overridden tags).
# usage: lintian_test.sh DEB_DIR
set -euo pipefail
dir=${1:?usage: lintian_test.sh DEB_DIR}
changes=("$dir"/pershome_*.changes)
[ -f "${changes[0]}" ] || { echo "lintian_test: $dir: no pershome_*.changes (scripts/build-deb makes it)" >&2; exit 1; }
# lintian warns when run as root (these tests are); that note is not a finding.
lintian -I --pedantic --fail-on error,warning \
    "${changes[0]}" 2> >(grep -v 'running with root privileges is not recommended' >&2)
echo "lintian_test: no errors, no warnings"
