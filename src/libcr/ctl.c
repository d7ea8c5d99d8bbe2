/* ctl.c: what every crest library has: the control block the engine finds, the
 * CR_SIGNUM handler, and the constructor that installs it.
 *
 * The handler acts only on a signal the engine (or this library, passing it on to
 * another thread) sent with rt_sigqueueinfo() carrying the request's cookie: the
 * application's own raise() or kill() of CR_SIGNUM has another si_code or value and
 * is ignored. It leaves with rt_sigreturn itself, so a damaged sa_restorer in the
 * disposition does not matter (BLCR's tests/bug2003). */
#include "libcr/lib.h"

#include <blcr_common.h>

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef LIBCR_KIND
#error "LIBCR_KIND must be set"
#endif

struct crctl crest_ctl = {
    .magic = CRCTL_MAGIC,
    .version = CRCTL_VERSION,
    .size = sizeof(struct crctl),
    .kind = LIBCR_KIND,
};

/* The symbol that `-u NAME` pulls each library in by. */
#if LIBCR_KIND == LIBCR_KIND_FULL
__attribute__((visibility("default"))) int cr_link_me;
#elif LIBCR_KIND == LIBCR_KIND_RUN
__attribute__((visibility("default"))) int cr_run_link_me;
#else
__attribute__((visibility("default"))) int cr_omit_link_me;
#endif

/* The note that tells the engine where crest_ctl is (ctl.h), in the library's first
 * read-only segment; the offset is relative, so it needs no relocation. */
__asm__(".pushsection .note.crest,\"a\",@note\n"
	"\t.balign 4\n"
	"\t.long 6\n"  /* name size: "crest\0" */
	"\t.long 16\n" /* descriptor size */
	"\t.long 0x43520001\n"
	"\t.asciz \"crest\"\n"
	"\t.balign 4\n"
	"\t.long 1\n" /* version */
	"\t.long 0\n"
	"\t.quad crest_ctl - .\n"
	"\t.popsection\n");

_Static_assert(CRCTL_NOTE_TYPE == 0x43520001u, "the note above spells the type out");

/* Return from the handler through rt_sigreturn with the frame the kernel built: uc is
 * the handler's third argument, and the kernel expects the stack pointer right past
 * the return address, which is where uc lies. */
__attribute__((noreturn)) void crest_sigreturn(void *uc);
__asm__(".text\n"
	".globl crest_sigreturn\n"
	".hidden crest_sigreturn\n"
	".type crest_sigreturn, @function\n"
	"crest_sigreturn:\n"
	"\tmov %rdi, %rsp\n"
	"\tmov $15, %eax\n" /* SYS_rt_sigreturn */
	"\tsyscall\n"
	"\thlt\n"
	".size crest_sigreturn, .-crest_sigreturn\n");

#if LIBCR_KIND == LIBCR_KIND_RUN
/* libcr_run: nothing to run; answer at once and wait for the engine's word. */
static void run_handle(void)
{
	uint32_t want = CRCTL_REQUESTED;

	if (!__atomic_compare_exchange_n(&crest_ctl.phase, &want, CRCTL_RUNNING, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	lib_restore_app_sa();
	lib_vote(CR_CHECKPOINT_READY);
	lib_wait_final(NULL);
	lib_finish();
}
#endif

static void handler(int sig, siginfo_t *si, void *uc)
{
	int saved_errno = errno;
	uint64_t cookie = __atomic_load_n(&crest_ctl.cookie, __ATOMIC_ACQUIRE);

	(void)sig;
	if (si->si_code == SI_QUEUE && cookie &&
	    (uint64_t)(uintptr_t)si->si_value.sival_ptr == cookie &&
	    !__atomic_load_n(&crest_ctl.superseded, __ATOMIC_ACQUIRE)) {
#if LIBCR_KIND == LIBCR_KIND_FULL
		cb_handle();
#elif LIBCR_KIND == LIBCR_KIND_RUN
		run_handle();
#endif
		/* libcr_omit: the engine never asks it; a stray request is ignored. */
	}
	errno = saved_errno;
	crest_sigreturn(uc);
}

/* Another crest library loaded in this process (libcr_run preloaded by cr_run, then
 * libcr.so opened with dlopen...). */
struct others {
	struct crctl *full; /* a libcr.so that is in charge */
	struct crctl *stub; /* a libcr_run.so or libcr_omit.so that is in charge */
	bool supersede;     /* mark every other one superseded */
};

static void scan_notes(struct dl_phdr_info *info, const ElfW(Phdr) * ph, struct others *o)
{
	const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr);
	const char *end = p + ph->p_memsz;

	while (p + sizeof(ElfW(Nhdr)) <= end) {
		const ElfW(Nhdr) *nh = (const void *)p;
		const char *name = p + sizeof(*nh);
		const char *desc = name + ((nh->n_namesz + 3) & ~3u);
		struct crctl *c;

		p = desc + ((nh->n_descsz + 3) & ~3u);
		if (p > end)
			return;
		if (nh->n_type != CRCTL_NOTE_TYPE || nh->n_namesz != 6 ||
		    memcmp(name, "crest", 6) || nh->n_descsz != sizeof(struct crctl_note_desc))
			continue;
		{
			const struct crctl_note_desc *d = (const void *)desc;

			c = (struct crctl *)((const char *)&d->offset + d->offset);
		}
		if (c == &crest_ctl || c->magic != CRCTL_MAGIC ||
		    __atomic_load_n(&c->superseded, __ATOMIC_ACQUIRE))
			continue;
		if (o->supersede) {
			__atomic_store_n(&c->superseded, 1, __ATOMIC_RELEASE);
			continue;
		}
		if (c->kind == CRCTL_FULL)
			o->full = c;
		else
			o->stub = c;
	}
}

static int each_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_NOTE)
			scan_notes(info, &info->dlpi_phdr[i], arg);
	return 0;
}

static void fork_child(void)
{
	/* A child starts with no request of its parent's. */
	crest_ctl.cookie = 0;
	crest_ctl.vote = 0;
	crest_ctl.final_signal = 0;
	crest_ctl.app_sa_saved = 0;
	crest_ctl.nfwd = 0;
	__atomic_store_n(&crest_ctl.phase, CRCTL_IDLE, __ATOMIC_RELEASE);
#if LIBCR_KIND == LIBCR_KIND_FULL
	cb_fork_child();
#endif
}

#if LIBCR_KIND == LIBCR_KIND_FULL
static void no_traced_file(size_t n, void *f)
{
	(void)n;
	(void)f;
}

/* LIBCR_DISABLE_NSCD (BLCR's tests set it): no connection to nscd, whose socket would
 * lead outside a checkpoint. The glibc function is private: looked up, never linked. */
static void disable_nscd(void)
{
	const char *v = getenv("LIBCR_DISABLE_NSCD");
	void (*fn)(void (*)(size_t, void *));

	if (!v || !v[0])
		return;
	*(void **)&fn = dlsym(RTLD_DEFAULT, "__nss_disable_nscd");
	if (fn)
		fn(no_traced_file);
}
#endif

extern int __libc_current_sigrtmax(void);
extern int __libc_allocate_rtsig(int high);

__attribute__((constructor)) static void crest_lib_init(void)
{
	struct others o = {0};
	struct sigaction sa;

	dl_iterate_phdr(each_object, &o);
#if LIBCR_KIND == LIBCR_KIND_FULL
	/* The full library takes CR_SIGNUM over from any stub. */
	o.supersede = true;
	dl_iterate_phdr(each_object, &o);
	o.supersede = false;
#else
	if (o.full || o.stub) {
		/* Someone is in charge already: stay out of the way. */
		crest_ctl.superseded = 1;
		return;
	}
#endif
	/* Take CR_SIGNUM from glibc's real-time signals, so that the application sees
	 * SIGRTMAX one lower, as under BLCR. */
	if (!o.full && !o.stub && __libc_current_sigrtmax() == CRCTL_SIGNUM)
		__libc_allocate_rtsig(0); /* 0: from the top */

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigaction(CRCTL_SIGNUM, &sa, NULL);
	/* What the kernel holds now is what the engine compares a process's disposition
	 * with, and puts back if the application changed it. */
	lib_ksigaction(CRCTL_SIGNUM, NULL, &crest_ctl.own_sa);
	pthread_atfork(NULL, NULL, fork_child);
#if LIBCR_KIND == LIBCR_KIND_FULL
	disable_nscd();
#endif
}
