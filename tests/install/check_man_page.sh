#!/usr/bin/env bash
# Checks one rendered man page as an admin meets it: `man -l PAGE` formats it
# without a single groff warning; its .TH names the page and section its file
# name says; it opens with a NAME section in which lexgrog (what mandb builds
# the whatis index from, and what lintian checks) finds "name - description";
# every .SH heading is in capitals (a `## Subsection` in the Markdown, which
# go-md2man turns into .SH where `### ` was meant, shows up here).
# usage: check_man_page.sh /path/to/NAME.SECTION
set -euo pipefail
page=${1:?usage: check_man_page.sh PAGE}
file=$(basename "$page")
name=${file%.*}
section=${file##*.}
fail() { echo "check_man_page: $page: $*" >&2; exit 1; }

[ -s "$page" ] || fail "missing or empty"

err=$(mktemp)
trap 'rm -f "$err"' EXIT
text=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$page" 2>"$err") ||
    fail "man -l failed: $(cat "$err")"
[ ! -s "$err" ] || fail "man --warnings says: $(cat "$err")"

th=$(grep -m1 '^\.TH ' "$page") || fail "no .TH line"
read -r _ th_name th_section _ <<<"$th"
upper_name=${name^^}
[ "$th_name" = "$upper_name" ] || fail ".TH names '$th_name', file name says '$upper_name'"
[ "$th_section" = "$section" ] || fail ".TH section '$th_section', file name says '$section'"

first_sh=$(grep -m1 '^\.SH ' "$page")
[ "$first_sh" = ".SH NAME" ] || fail "first section is '$first_sh', not NAME"
whatis=$(lexgrog "$page") || fail "lexgrog cannot read the NAME section (want 'name - description')"
grep -qF "\"$name - " <<<"$whatis" || fail "NAME section does not start '$name - ': $whatis"
[ -n "$text" ] || fail "man printed nothing"
if bad=$(grep '^\.SH ' "$page" | grep '[a-z]'); then
    fail "section heading not in capitals (meant as ### subsection?): $bad"
fi
echo "check_man_page: $file OK"
