#!/usr/bin/env bash
# The man pages, the --help texts and the option tables cannot drift apart: for each
# tool, the options it accepts (its struct option table and short-option string), the
# options its man page documents (the .TP entries of OPTIONS) and the options its
# --help prints must be the same set, and each long option must show an argument in
# the man page and in --help exactly when it takes one. Each man page must render
# without warnings. Env: BIN (tools).
set -u
cd "$(dirname "$0")/../.." || exit 2
fails=0
pass() { echo "PASS manpages/$1"; }
fail() { echo "FAIL manpages/$1: $2"; fails=$((fails + 1)); }
verdict() { # name, why it failed (empty: it passed)
	if [ -z "$2" ]; then pass "$1"; else fail "$1" "$2"; fi
}

# tool  source  table  parsing function
tools=(
	"cr_checkpoint src/tools/opts.c ckpt_long ckpt_parse"
	"cr_restart src/tools/opts.c rst_long rst_parse"
	"cr_info src/tools/cr_info.c longopts main"
)

# The body of C function NAME (from its definition line to the first "}" in column 0).
c_function() { # file name
	awk -v name="$2" '
		!on && $0 ~ "^[a-z].*[ *]" name "\\(" && $0 !~ /;$/ { on = 1 }
		on { print }
		on && /^}/ { exit }' "$1"
}

# "--name kind" for each entry of the struct option table NAME; kind is no, required
# or optional.
table_opts() { # file table
	awk -v name="$2" '
		$0 ~ "struct option " name "\\[\\] = \\{" { on = 1; next }
		on && /^[ \t]*\};/ { exit }
		on {
			line = $0
			while (match(line, /\{"[^"]+", *[a-z_]+_argument/)) {
				split(substr(line, RSTART + 2, RLENGTH - 2), f, /", */)
				sub(/_argument$/, "", f[2])
				print "--" f[1], f[2]
				line = substr(line, RSTART + RLENGTH)
			}
		}' "$1"
}

# "-c" for each character of the short-option string passed to getopt_long with
# TABLE, inside FUNCTION; "-?" too when the function treats optopt '?' as help.
short_opts() { # file table function
	local body s i c
	body=$(c_function "$1" "$3")
	s=$(grep -oE "getopt_long\(argc, argv, \"[^\"]*\", $2" <<<"$body" | head -n 1 |
		sed -E 's/^[^"]*"([^"]*)".*/\1/')
	[ -n "$s" ] || return 1
	s=${s//:/}
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		echo "-$c"
	done
	grep -q "optopt == '?'" <<<"$body" && echo "-?"
	return 0
}

# The tag line of every .TP entry of the OPTIONS section, as it reads once rendered:
# the arguments of .B/.I are joined by spaces, those of .BR, .BI and the other
# alternating-font macros without, quotes dropped, \- \e \& and font escapes resolved.
man_tags() { # file
	awk '
		/^\.SH / { in_opts = ($0 ~ /^\.SH "?OPTIONS"?[ \t]*$/); next }
		!in_opts { next }
		/^\.TP/ { want = 1; next }
		!want { next }
		{
			want = 0
			line = $0
			macro = ""
			if (line ~ /^\.[A-Z]+/) {
				macro = line
				sub(/[ \t].*/, "", macro)
				line = substr(line, length(macro) + 1)
			}
			sep = (macro == ".B" || macro == ".I" || macro == "") ? " " : ""
			out = ""; arg = ""; n = 0; q = 0; have = 0
			for (i = 1; i <= length(line); i++) {
				c = substr(line, i, 1)
				if (c == "\"") { q = !q; have = 1; continue }
				if (!q && (c == " " || c == "\t")) {
					if (have) { out = out (n++ ? sep : "") arg; arg = ""; have = 0 }
					continue
				}
				arg = arg c; have = 1
			}
			if (have)
				out = out (n++ ? sep : "") arg
			gsub(/\\f(\(..|\[[^]]*\]|.)/, "", out)
			gsub(/\\-/, "-", out)
			gsub(/\\&/, "", out)
			gsub(/\\e/, "\\", out)
			print out
		}' "$1"
}

# The option column of --help: lines that start with blanks and a dash, up to the
# first run of two blanks after the options.
help_tags() { # help text on stdin
	sed -nE 's/^ +(-.*)$/\1/p' | sed -E 's/  .*//'
}

# Every option named in tag lines on stdin, one per line, sorted and unique.
opt_names() {
	grep -oE -- '(^|[^A-Za-z0-9_-])--?[A-Za-z?][A-Za-z0-9-]*' | sed -E 's/^[^-]//' |
		sort -u
}

# "--name kind" for every long option in tag lines on stdin, by what follows it:
# "[=ARG]" optional, " ARG" or "=ARG" required, anything else none.
opt_kinds() {
	grep -oE -- '--[A-Za-z][A-Za-z0-9-]*(\[=[A-Za-z]+\]| +[A-Z][A-Z]*|=[A-Z][A-Z]*)?' |
		sed -E -e 's/^(--[A-Za-z0-9-]*)\[=.*/\1 optional/' \
			-e 's/^(--[A-Za-z0-9-]*)[ =][A-Z].*/\1 required/' \
			-e '/ (optional|required)$/!s/$/ no/' | sort -u
}

# For each long option in both lists, say where WHAT shows another kind of argument
# than the tool takes (kind: no, required, optional).
kind_differ() { # what, "--name kind" the tool takes, "--name kind" documented
	awk -v what="$1" '
		BEGIN { d["no"] = "no argument"; d["required"] = "an argument"
			d["optional"] = "an optional argument" }
		FNR == NR { took[$1] = $2; next }
		($1 in took) && took[$1] != $2 {
			printf "%s%s takes %s, %s shows %s", sep, $1, d[took[$1]], what, d[$2]
			sep = "; "
		}' <(echo "$2") <(echo "$3")
}

# Compare two sorted lists; print what WHAT lacks and what it has extra, or nothing.
differ() { # what, list the tool accepts, list documented
	local missing extra out=""
	missing=$(comm -23 <(echo "$2") <(echo "$3") | tr '\n' ' ')
	extra=$(comm -13 <(echo "$2") <(echo "$3") | tr '\n' ' ')
	[ -n "$missing" ] && out="$1 lacks ${missing% }"
	[ -n "$extra" ] && out="${out:+$out; }$1 has ${extra% }, which the tool does not accept"
	echo "$out"
}

if [ -z "${BIN:-}" ] || [ ! -d "$BIN" ]; then
	echo "FAIL manpages/setup: BIN must name the directory of the built tools"
	exit 1
fi

for entry in "${tools[@]}"; do
	read -r tool src tbl func <<<"$entry"
	page=docs/man/$tool.1

	longs=$(table_opts "$src" "$tbl")
	shorts=$(short_opts "$src" "$tbl" "$func") || shorts=""
	if [ -z "$longs" ] || [ -z "$shorts" ]; then
		fail "$tool-source" "cannot find the option table $tbl or the short options of $func() in $src"
		continue
	fi
	accepted=$(printf '%s\n%s\n' "$(cut -d' ' -f1 <<<"$longs")" "$shorts" | sort -u)
	kinds=$(sort -u <<<"$longs")

	if [ ! -f "$page" ]; then
		fail "$tool-man" "$page is missing"
	else
		tags=$(man_tags "$page")
		why=$(differ "the man page" "$accepted" "$(opt_names <<<"$tags")")
		verdict "$tool-man" "$why"
		why=$(kind_differ "the man page" "$kinds" "$(opt_kinds <<<"$tags")")
		verdict "$tool-man-arguments" "$why"
	fi

	if ! help=$("$BIN/$tool" --help 2>&1); then
		fail "$tool-help" "$BIN/$tool --help failed: $help"
	else
		tags=$(help_tags <<<"$help")
		why=$(differ "--help" "$accepted" "$(opt_names <<<"$tags")")
		verdict "$tool-help" "$why"
		why=$(kind_differ "--help" "$kinds" "$(opt_kinds <<<"$tags")")
		verdict "$tool-help-arguments" "$why"
	fi

	if ! command -v man >/dev/null; then
		fail "$tool-render" "man is not installed (scripts/deps.sh --test installs man-db)"
	elif [ -f "$page" ]; then
		out=$(man --warnings -E UTF-8 -l -Tutf8 "$page" 2>&1 >/dev/null)
		rc=$?
		if [ $rc = 0 ] && [ -z "$out" ]; then
			pass "$tool-render"
		else
			fail "$tool-render" "man --warnings (exit $rc): $(echo "$out" | head -n 3 | tr '\n' ' ')"
		fi
	fi
done
[ $fails = 0 ]
