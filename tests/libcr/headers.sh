#!/usr/bin/env bash
# BLCR's headers as programs use them (BLCR's testcxx): libcr.h and the four others
# compile as C++ and as pedantic C99, a client can expand blcr_errcodes.h with its own
# CR_ERROR_DEF, and a C++ program links with -lcr and runs. Needs LIB (libcr.so) and a
# C and a C++ compiler ($CC, $CXX; gcc and g++ by default).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-gcc}
if [ -z "${CXX:-}" ]; then
	CXX=$(command -v g++ || command -v clang++ || echo "")
fi
verdict() { # name, why it failed (empty: it passed)
	if [ -z "$2" ]; then echo "PASS headers: $1"; else echo "FAIL headers: $1: $2"; fi
}

cat >prog.cc <<'PROG'
#include <libcr.h>
#include <blcr_common.h>
#include <blcr_proc.h>
#include <blcr_ioctl.h>
#include <cstdio>
#include <cstring>

static const char *names[] = {
#define CR_ERROR_DEF(name, desc) #name,
#include <blcr_errcodes.h>
#undef CR_ERROR_DEF
};

static int cb(void *) { return cr_checkpoint(CR_CHECKPOINT_READY) < 0; }

int main()
{
	cr_checkpoint_args_t a;
	struct cr_rstrt_relocate *r = 0;
	unsigned long op = CR_OP_HAND_CHKPT;
	int id = cr_init();

	(void)r;
	(void)op;
	cr_initialize_checkpoint_args_t(&a);
	if (id < 0 || a.cr_fd != -1 || cr_register_callback(cb, 0, CR_SIGNAL_CONTEXT) < 0)
		return 1;
	if (sizeof(names) / sizeof(names[0]) != CR_MAX_ERRCODE - CR_MIN_ERRCODE - 1 ||
	    std::strcmp(names[0], "CR_ETEMPFAIL") || !*cr_strerror(CR_ENOINIT))
		return 2;
	std::printf("%s %s %d\n", LIBCR_VERSION, CR_CTRL_FILE, CR_SIGNUM);
	return 0;
}
PROG
if [ -z "$CXX" ]; then
	echo "SKIP headers: C++: no C++ compiler (g++ or clang++)"
else
out=$("$CXX" -Wall -Wextra -Werror -I"$top/include" -o prog prog.cc -L"$LIB" -Wl,-rpath,"$LIB" \
	-lcr 2>&1)
verdict "C++ compiles and links" "$out"
out=$(./prog 2>&1)
verdict "the C++ program runs" "$([ "$out" = "0.5.5 /proc/checkpoint/ctrl 64" ] || echo "'$out'")"
fi

printf '#include <libcr.h>\n#include <blcr_proc.h>\nint main(void) { return cr_strerror(CR_ETEMPFAIL) == 0; }\n' >prog.c
out=$("$CC" -std=c99 -pedantic -Wall -Wextra -Werror -I"$top/include" -c -o prog.o prog.c 2>&1)
verdict "pedantic C99" "$out"
out=$("$CC" -std=gnu89 -Wall -Wextra -Werror -Wno-long-long -I"$top/include" -c -o prog.o prog.c 2>&1)
verdict "gnu89" "$out"
exit 0
