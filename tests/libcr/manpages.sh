#!/usr/bin/env bash
# libcr's manual pages: libcr(3) and cr_run(1) render without warnings, every function
# libcr.so.0 exports has a page (libcr.3 or a .so link to it), and cr_run(1) documents
# exactly the options cr_run --help lists. Needs CR_RUN and LD_LIBRARY_PATH (the
# libraries); run from anywhere.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
man_dir=$top/docs/man
verdict() { # name, why it failed (empty: it passed)
	if [ -z "$2" ]; then echo "PASS libcr-man: $1"; else echo "FAIL libcr-man: $1: $2"; fi
}

for page in libcr.3 cr_run.1; do
	if ! command -v man >/dev/null; then
		verdict "$page renders" "man is not installed"
		continue
	fi
	out=$(man --warnings -E UTF-8 -l -Tutf8 "$man_dir/$page" 2>&1 >/dev/null)
	verdict "$page renders" "$out"
done

lib=$(for d in ${LD_LIBRARY_PATH//:/ }; do [ -e "$d/libcr.so.0" ] && echo "$d/libcr.so.0" && break; done)
missing=
# cri_init_*_args_t are reached through the cr_initialize_*_args_t macros.
for sym in $(nm -D --defined-only "$lib" | awk '$2 == "T" && $3 !~ /^cri_/ {print $3}'); do
	[ -f "$man_dir/$sym.3" ] || missing="$missing $sym"
	grep -q "$sym" "$man_dir/libcr.3" || missing="$missing $sym(not in libcr.3)"
done
[ -n "$lib" ] || missing="no libcr.so.0 on LD_LIBRARY_PATH"
verdict "a page for every function of libcr.so.0" "$missing"

documented=$(awk '/^\.SH OPTIONS/ {on = 1; next} /^\.SH/ {on = 0} on && prev ~ /^\.TP/ {print} {prev = $0}' \
	"$man_dir/cr_run.1" | grep -oE -- '\\-(\\-)?[a-z?]+' | sed 's/\\//g' | sort -u | tr '\n' ' ')
helped=$("$CR_RUN" --help | sed -nE 's/^ +(-.*)$/\1/p' | sed -E 's/  .*//' |
	grep -oE -- '--?[a-z?]+' | sort -u | tr '\n' ' ')
[ "$documented" = "$helped" ] && why= || why="man: $documented; --help: $helped"
verdict "cr_run(1) and cr_run --help list the same options" "$why"
exit 0
