#!/usr/bin/env bash
# placeholder.sh: a process whose process group and session were led by other
# processes, gone by the checkpoint: a session leader L starts a job A (a group of
# its own) that starts the counter P and ends, and L ends too. P alone is checkpointed
# (-p --kill). Its group and session leaders are not in the context, so a restart that
# restores its group or session has processes hold those ids meanwhile (placeholders).
#
# Restarted with --restore-pgid --restore-sid: pid P, group A and session L exactly as
# saved, P is cr_restart's only child and nothing holds pid A or L; killed, cr_restart
# exits as it did. The same at a new pid (--no-restore-pid), with only --restore-pgid
# (cr_restart's session) and with only --restore-sid (a new group of its own). A saved
# group id that another process's group has: EBUSY (16), a "- " line naming it, and
# nothing left behind; with --pidns the same ids are free in the new namespace and come
# back there, at the saved pid and at a new one. A failure after the placeholders exist
# (an injected fault) leaves nothing behind either. A session leader restored with
# --restore-sid but not --restore-pgid: EINVAL (22), as it leads its group too.
#
#   BIN=build/bin TBIN=build/tests bash tests/cli/placeholder.sh
# shellcheck source=tests/fail/common.bash
. "$(dirname "$0")/../fail/common.bash"
REAPER=$TBIN/fail/reaper
if [ ! -x "$REAPER" ]; then
	fail "setup" "$REAPER is missing (make test-progs)"
	finish
fi
cd "$W" || exit 2

# "pid pgid sid" of a process, as seen here.
ids() { # pid
	local s g i
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	read -r _ _ g i _ <<<"$s"
	echo "$1 $g $i"
}
# "pid pgid sid" of a process as its own pid namespace sees them.
ns_ids() { # pid
	awk '/^NSpid:/ {p = $NF} /^NSpgid:/ {g = $NF} /^NSsid:/ {s = $NF}
	     END {print p, g, s}' "/proc/$1/status" 2>/dev/null
}
vanished() { [ ! -d "/proc/$1" ]; }
# cr_restart, the child of the subshell start_restart made.
tool() {
	local t
	read -r t _ <<<"$(children "$rpid")"
	echo "$t"
}
# Kill what a failed case left: cr_restart's children, and cr_restart.
kill_restart() {
	local t
	t=$(tool)
	# shellcheck disable=SC2046 # a list of pids
	[ -n "$t" ] && kill -KILL $(children "$t") "$t" 2>/dev/null
}
# The one child of a process that runs the counter and is no longer traced: sets $new.
# shellcheck disable=SC2317 # called through wait_until
one_child() { # pid
	local c more
	[ -n "$1" ] || return 1
	read -r c more <<<"$(children "$1")"
	[ -n "$c" ] && [ -z "$more" ] && ready_at "$c" counter && new=$c
}
# shellcheck disable=SC2317 # called through wait_until
restarted() { one_child "$(tool)"; }

# ---- the orphan: pid P, group A, session L, neither leader alive ----
# A reaper is its parent (and reaps it at once when the checkpoint kills it).
"$REAPER" 300 setsid bash -c \
	'set -m; ("$0" "$1" </dev/null >/dev/null 2>&1 & echo $! >"$2") & wait' \
	"$COUNTER" "$W/p.count" "$W/pf" </dev/null >/dev/null 2>&1 &
orphan_reaper=$!
started+=("$orphan_reaper")
if ! wait_until test -s "$W/pf" || ! wait_until has_count "$W/p.count"; then
	fail "setup" "the counter did not start"
	finish
fi
P=$(cat "$W/pf")
read -r _ A L <<<"$(ids "$P")"
if [ "$A" = "$P" ] || [ "$L" = "$P" ] || [ "$A" = "$L" ] || ! wait_until vanished "$A" ||
	! wait_until vanished "$L"; then
	fail "setup" "want a counter whose group and session leaders are gone: $(ids "$P")"
	finish
fi
run "$CKPT" -p --kill -f "$W/ctx" "$P"
if [ "$rc" != 0 ] || ! wait_until vanished "$P"; then
	fail "setup" "checkpoint of pid $P: exit $rc: $(errline)"
	finish
fi
reap "$orphan_reaper"

# A restart that works: the counter's ids (as "pid pgid sid", "P" for its saved pid,
# "new" for any other), that it counts, is cr_restart's only child, and nothing holds
# pid A or L; killed, cr_restart exits as it did.
restored_as() { # name, want pgid, want sid, options...
	local name=$1 wpg=$2 wsid=$3 why="" got pid
	shift 3
	: >"$W/p.count"
	start_restart "$@" "$W/ctx"
	new=""
	if ! wait_until restarted; then
		why="cr_restart has not exactly the counter as its child: $(tr '\n' '|' <"$W/rerr");"
	else
		got=$(ids "$new")
		read -r pid _ <<<"$got"
		[ "$pid" = "$P" ] && pid=P || pid=new
		case " $* " in
		*" --no-restore-pid "*) [ "$pid" = new ] || why="pid $P restored;" ;;
		*) [ "$pid" = P ] || why="pid $new, want $P;" ;;
		esac
		[ "${got#* }" = "$wpg $wsid" ] || why="$why ids $got, want pgid $wpg sid $wsid;"
		wait_until has_count "$W/p.count" && progresses "$W/p.count" ||
			why="$why it does not count;"
		vanished "$A" || why="$why pid $A ($(comm "$A")) is there;"
		vanished "$L" || why="$why pid $L ($(comm "$L")) is there;"
		one_child "$(tool)" || why="$why cr_restart has other children: $(children "$(tool)");"
		kill -KILL "$new"
	fi
	[ -n "$why" ] && kill_restart
	reap "$rpid"
	[ -z "$why" ] && [ "$rrc" != 137 ] && why="cr_restart exit $rrc, want 137 (its child was killed)"
	verdict "$name" "$why"
}

mysid=$(ids $$ | awk '{print $3}')
restored_as "--restore-pgid --restore-sid: pid, group and session as saved" "$A" "$L" \
	--restore-pgid --restore-sid
restored_as "--no-restore-pid --restore-pgid --restore-sid: a new pid, group and session as saved" \
	"$A" "$L" --no-restore-pid --restore-pgid --restore-sid
restored_as "--restore-pgid: the saved group in cr_restart's session" "$A" "$mysid" --restore-pgid
restored_as "--no-restore-pid --restore-pgid: a new pid in the saved group" "$A" "$mysid" \
	--no-restore-pid --restore-pgid
restored_as "--restore-sid: the saved session, a group of its own" "$P" "$L" --restore-sid

# A failure after the placeholders exist: nothing is left (the reaper would say).
for opts in "" "--no-restore-pid"; do
	# shellcheck disable=SC2086 # the options, word by word
	CREST_FAULT=restart:restore run "$REAPER" 5 "$RSTRT" $opts --restore-pgid --restore-sid \
		"$W/ctx"
	why=""
	[ "$rc" = 5 ] || why="exit $rc, want 5 (EIO, the fault);"
	grep -q '^LEFT' "$W/err" && why="$why left: $(grep '^LEFT' "$W/err" | tr '\n' ' ');"
	vanished "$A" || why="$why pid $A is there;"
	vanished "$L" || why="$why pid $L is there;"
	verdict "a failure after the placeholders are made leaves nothing${opts:+ ($opts)}" "$why"
done

# ---- group A taken by another process's group ----
"$ATPID" "$A" setsid bash -c 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $! >"$0"' \
	"$W/hf" </dev/null >/dev/null 2>&1
H=$(cat "$W/hf" 2>/dev/null)
if [ -z "$H" ] || [ "$(ids "$H")" != "$H $A $A" ] || ! wait_until vanished "$A"; then
	fail "setup" "want a process in group $A without pid $A: $(ids "${H:-0}")"
else
	started+=("$H")
	for opts in "" "--no-restore-pid"; do
		# shellcheck disable=SC2086 # the options, word by word
		run "$REAPER" 5 "$RSTRT" $opts --restore-pgid --restore-sid "$W/ctx"
		why=""
		[ "$rc" = 16 ] || why="exit $rc, want 16 (EBUSY);"
		grep -qE "^- .*\\b$A\\b.*\\b$H\\b" "$W/err" ||
			why="$why no '- ' line naming group $A and pid $H;"
		grep -q '^LEFT' "$W/err" && why="$why left: $(grep '^LEFT' "$W/err" | tr '\n' ' ');"
		vanished "$L" || why="$why pid $L is there;"
		[ "$(ids "$H")" = "$H $A $A" ] || why="$why the holder changed: $(ids "$H");"
		verdict "a saved group another process's group has: EBUSY${opts:+ ($opts)}" "$why"
	done
	# In a new pid namespace the ids are free.
	for opts in "" "--no-restore-pid"; do
		start_restart --pidns $opts --restore-pgid --restore-sid "$W/ctx"
		init="" new="" why=""
		for _ in $(seq 500); do
			read -r init _ <<<"$(children "$(tool)")"
			[ -n "$init" ] && one_child "$init" && break
			sleep 0.02
		done
		if [ -z "$new" ]; then
			why="no counter under crest-init: $(tr '\n' '|' <"$W/rerr");"
		else
			got=$(ns_ids "$new")
			want="$P $A $L"
			if [ -n "$opts" ]; then
				want="${got%% *} $A $L"
				[ "${got%% *}" != "$P" ] || why="pid $P restored;"
			fi
			[ "$got" = "$want" ] || why="$why ids in the namespace $got, want $want;"
			comm_is "$init" crest-init || why="$why its parent is $(comm "$init");"
			kill -KILL "$new"
		fi
		[ -n "$why" ] && kill_restart
		reap "$rpid"
		[ -z "$why" ] && [ "$rrc" != 137 ] && why="cr_restart exit $rrc, want 137"
		[ -n "$init" ] && ! wait_until vanished "$init" && why="$why crest-init is left"
		verdict "--pidns${opts:+ $opts} while group $A is taken here: the saved ids there" "$why"
	done
	kill -KILL "$H"
fi

# ---- a session leader: --restore-sid without --restore-pgid is impossible ----
"$REAPER" 300 setsid "$COUNTER" "$W/s.count" </dev/null >/dev/null 2>&1 &
lead_reaper=$!
started+=("$lead_reaper")
S=""
wait_until has_count "$W/s.count" && read -r S _ <<<"$(children "$lead_reaper")"
if [ -z "$S" ] || [ "$(ids "$S")" != "$S $S $S" ]; then
	fail "setup" "want a counter leading its session: $(ids "${S:-0}")"
else
	run "$CKPT" -p --kill -f "$W/sctx" "$S"
	[ "$rc" = 0 ] && wait_until vanished "$S" || fail "setup" "checkpoint of $S: $(errline)"
	reap "$lead_reaper"
	run "$REAPER" 5 "$RSTRT" --restore-sid "$W/sctx"
	why=""
	[ "$rc" = 22 ] || why="exit $rc, want 22 (EINVAL);"
	grep -q "leads session $S" "$W/err" || why="$why no explanation: $(errline);"
	grep -q '^LEFT' "$W/err" && why="$why left: $(grep '^LEFT' "$W/err" | tr '\n' ' ');"
	verdict "a session leader with --restore-sid and not --restore-pgid: EINVAL" "$why"
fi
finish
