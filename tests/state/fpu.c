/* FPU and vector state: two threads load known values into every vector register the
 * CPU has (zmm0-31 and k0-7 with AVX-512, else ymm0-15 with AVX, else xmm0-15), the
 * x87 stack, MXCSR and the x87 control word, then block in read() from inside the
 * same asm routine, so nothing touches the registers across the system call. After
 * GO each routine returns what its registers hold, which must be what it loaded. The
 * main thread's rounding modes (MXCSR, x87 control word) must survive too. */
#include "ct.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* What a park routine loads and stores; offsets are used by the asm below. */
struct regs {
	uint8_t v[32][64]; /* 0: zmm/ymm/xmm n in v[n] (low bytes for narrower ones) */
	uint64_t k[8];     /* 2048 */
	uint32_t mxcsr;    /* 2112 */
	uint16_t fcw;      /* 2116 */
	uint16_t pad[5];
	uint8_t st[8][16]; /* 2128: st(0)..st(7), 10 bytes each */
} __attribute__((aligned(64)));

_Static_assert(__builtin_offsetof(struct regs, k) == 2048, "layout");
_Static_assert(__builtin_offsetof(struct regs, mxcsr) == 2112, "layout");
_Static_assert(__builtin_offsetof(struct regs, fcw) == 2116, "layout");
_Static_assert(__builtin_offsetof(struct regs, st) == 2128, "layout");

/* long park_*(const struct regs *in, struct regs *out, long fd, void *buf): load in,
 * read(fd, buf, 1), store into out; returns what read returned. The caller's MXCSR
 * and x87 control word are put back, as the ABI wants. */
long park_avx512(const struct regs *in, struct regs *out, long fd, void *buf);
long park_avx(const struct regs *in, struct regs *out, long fd, void *buf);
long park_sse(const struct regs *in, struct regs *out, long fd, void *buf);

/* One line per step of each routine. */
/* clang-format off */
#define PARK_PROLOGUE                                                                      \
	"push %r12\n push %r13\n mov %rdi, %r12\n mov %rsi, %r13\n sub $16, %rsp\n"        \
	"stmxcsr (%rsp)\n fnstcw 4(%rsp)\n"
#define PARK_X87_LOAD                                                                      \
	"ldmxcsr 2112(%r12)\n fldcw 2116(%r12)\n"                                          \
	".irp n,7,6,5,4,3,2,1,0\n fldt 2128+\\n*16(%r12)\n .endr\n"
#define PARK_SYSCALL "mov %rdx, %rdi\n mov %rcx, %rsi\n mov $1, %edx\n xor %eax, %eax\n syscall\n"
#define PARK_X87_STORE                                                                     \
	"stmxcsr 2112(%r13)\n fnstcw 2116(%r13)\n"                                         \
	".irp n,0,1,2,3,4,5,6,7\n fstpt 2128+\\n*16(%r13)\n .endr\n"
#define PARK_EPILOGUE "ldmxcsr (%rsp)\n fldcw 4(%rsp)\n add $16, %rsp\n pop %r13\n pop %r12\n ret\n"
#define N16 "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"
#define N32 N16 ",16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31"

__asm__(".text\n"
	".globl park_avx512\n .type park_avx512, @function\n park_avx512:\n"
	PARK_PROLOGUE
	".irp n," N32 "\n vmovdqu64 \\n*64(%r12), %zmm\\n\n .endr\n"
	".irp n,0,1,2,3,4,5,6,7\n kmovq 2048+\\n*8(%r12), %k\\n\n .endr\n"
	PARK_X87_LOAD
	PARK_SYSCALL
	".irp n," N32 "\n vmovdqu64 %zmm\\n, \\n*64(%r13)\n .endr\n"
	".irp n,0,1,2,3,4,5,6,7\n kmovq %k\\n, 2048+\\n*8(%r13)\n .endr\n"
	PARK_X87_STORE
	"vzeroupper\n"
	PARK_EPILOGUE
	".size park_avx512, .-park_avx512\n"

	".globl park_avx\n .type park_avx, @function\n park_avx:\n"
	PARK_PROLOGUE
	".irp n," N16 "\n vmovdqu \\n*64(%r12), %ymm\\n\n .endr\n"
	PARK_X87_LOAD
	PARK_SYSCALL
	".irp n," N16 "\n vmovdqu %ymm\\n, \\n*64(%r13)\n .endr\n"
	PARK_X87_STORE
	"vzeroupper\n"
	PARK_EPILOGUE
	".size park_avx, .-park_avx\n"

	".globl park_sse\n .type park_sse, @function\n park_sse:\n"
	PARK_PROLOGUE
	".irp n," N16 "\n movdqu \\n*64(%r12), %xmm\\n\n .endr\n"
	PARK_X87_LOAD
	PARK_SYSCALL
	".irp n," N16 "\n movdqu %xmm\\n, \\n*64(%r13)\n .endr\n"
	PARK_X87_STORE
	PARK_EPILOGUE
	".size park_sse, .-park_sse\n");
/* clang-format on */

enum level { SSE, AVX, AVX512 };
static const char *const level_name[] = {"SSE", "AVX", "AVX-512"};

struct parker {
	int seed;
	int fds[2];
	struct regs in, out;
	pthread_t pt;
	pid_t tid;
	atomic_int parked;
	long ret;
};

static enum level level;
static struct parker pk[2];
static uint32_t main_mxcsr;
static uint16_t main_fcw;

static enum level probe(void)
{
	unsigned int a, b, c, d;
	uint32_t lo, hi;
	uint64_t xcr0;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return SSE;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = (uint64_t)hi << 32 | lo;
	if ((xcr0 & 6) != 6)
		return SSE;
	__cpuid_count(7, 0, a, b, c, d);
	if ((b & bit_AVX512F) && (xcr0 & 0xe0) == 0xe0)
		return AVX512;
	return AVX;
}

static uint8_t byte_of(int seed, size_t i)
{
	return (uint8_t)((i + 1) * 2654435761u >> (seed + 7));
}

static void fill(struct regs *r, int seed)
{
	memset(r, 0, sizeof(*r));
	for (int n = 0; n < 32; n++)
		for (int i = 0; i < 64; i++)
			r->v[n][i] = byte_of(seed, (size_t)n * 64 + (size_t)i);
	for (int n = 0; n < 8; n++)
		r->k[n] = 0x0123456789abcdefull * (uint64_t)(n + 1 + seed);
	/* Unusual rounding (down or up), flush-to-zero and denormals-are-zero in one,
	 * and a sticky precision flag. */
	r->mxcsr = seed ? 0xbfe0 : 0x5fa0;
	/* All exceptions masked, double precision, truncate or round up. */
	r->fcw = seed ? 0x0e7f : 0x0a7f;
	for (int n = 0; n < 8; n++) {
		long double x = (long double)(n + 1) * 1.0625L + (long double)seed / 3.0L;

		memcpy(r->st[n], &x, 10);
	}
}

static void *parker_main(void *arg)
{
	struct parker *p = arg;
	char c;

	p->tid = (pid_t)syscall(SYS_gettid);
	atomic_store(&p->parked, 1);
	switch (level) {
	case AVX512:
		p->ret = park_avx512(&p->in, &p->out, p->fds[0], &c);
		break;
	case AVX:
		p->ret = park_avx(&p->in, &p->out, p->fds[0], &c);
		break;
	default:
		p->ret = park_sse(&p->in, &p->out, p->fds[0], &c);
		break;
	}
	return NULL;
}

static int setup(void)
{
	uint64_t kbits;
	unsigned int a, b, c, d;

	level = probe();
	ct_log("fpu: testing %s registers", level_name[level]);
	/* Without AVX-512BW, only the low 16 bits of a k register exist. */
	__cpuid_count(7, 0, a, b, c, d);
	kbits = (b & bit_AVX512BW) ? ~0ull : 0xffffull;
	for (int i = 0; i < 2; i++) {
		struct parker *p = &pk[i];

		p->seed = i;
		fill(&p->in, i);
		for (int n = 0; n < 8; n++)
			p->in.k[n] &= kbits;
		memset(&p->out, 0xee, sizeof(p->out));
		CT_SYS(pipe(p->fds));
		CT_EQ(pthread_create(&p->pt, NULL, parker_main, p), 0);
	}
	for (int i = 0; i < 2; i++) {
		if (!ct_wait_flag(&pk[i].parked) || ct_wait_blocked(pk[i].tid, SYS_read) < 0)
			CT_FAIL("thread %d never blocked in read()", pk[i].tid);
	}
	/* The main thread's own rounding modes: upward, in both units. */
	main_mxcsr = 0x5f80;
	main_fcw = 0x0b7f;
	__asm__ volatile("ldmxcsr %0" : : "m"(main_mxcsr));
	__asm__ volatile("fldcw %0" : : "m"(main_fcw));
	return 0;
}

static int compare(const struct parker *p)
{
	const struct regs *in = &p->in, *out = &p->out;
	int nv = level == AVX512 ? 32 : 16, width = level == SSE ? 16 : level == AVX ? 32 : 64;

	CT_EQ(p->ret, 1);
	for (int n = 0; n < nv; n++)
		if (memcmp(in->v[n], out->v[n], (size_t)width))
			CT_FAIL("thread %d: %s register %d changed", p->tid, level_name[level], n);
	if (level == AVX512)
		for (int n = 0; n < 8; n++)
			CT_EQ(out->k[n], in->k[n]);
	CT_EQ(out->mxcsr, in->mxcsr);
	CT_EQ(out->fcw, in->fcw);
	for (int n = 0; n < 8; n++)
		if (memcmp(in->st[n], out->st[n], 10))
			CT_FAIL("thread %d: x87 st(%d) changed", p->tid, n);
	return 0;
}

static int check(void)
{
	uint32_t mxcsr;
	uint16_t fcw;

	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	CT_EQ(mxcsr, main_mxcsr);
	CT_EQ(fcw, main_fcw);
	for (int i = 0; i < 2; i++) {
		int rc;

		if (pk[i].ret)
			CT_FAIL("thread %d left read() before GO (%ld)", pk[i].tid, pk[i].ret);
		CT_EQ(write(pk[i].fds[1], "x", 1), 1);
		rc = ct_join(pk[i].pt, NULL, 10);
		if (rc)
			CT_FAIL("joining thread %d: %s", pk[i].tid, strerror(rc));
		if (compare(&pk[i]))
			return 1;
	}
	return 0;
}

CT_MAIN(setup, check)
