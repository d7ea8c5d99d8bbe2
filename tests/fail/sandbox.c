/* sandbox: run a command under a seccomp filter that allows every call, as a container
 * runtime does (tests/cli/seccomp.sh).
 *
 *   sandbox COMMAND [ARGS...] */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = {1, &allow};

	if (argc < 2)
		return 2;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("sandbox: seccomp");
		return 2;
	}
	execvp(argv[1], argv + 1);
	perror("sandbox: exec");
	return 127;
}
