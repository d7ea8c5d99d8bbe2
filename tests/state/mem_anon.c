/* Private anonymous memory: contents, untouched pages, heap and brk, the stack, a
 * large area with scattered pages, and protections. */
#include "ct.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define BIG (64u << 20)

static uint8_t *big, *ro, *none, *heap;
static void *brk0, *brk1;
static volatile uint64_t on_stack[1024];

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

static int setup(void)
{
	big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CT_SYS(big == MAP_FAILED ? -1 : 0);
	/* Every 7th page written; the others never touched. */
	for (size_t p = 0; p < BIG / 4096; p += 7)
		for (size_t i = 0; i < 4096; i += 512)
			big[p * 4096 + i] = pattern(p * 4096 + i);
	ro = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CT_SYS(ro == MAP_FAILED ? -1 : 0);
	memset(ro, 0x5a, 3 * 4096);
	CT_SYS(mprotect(ro, 3 * 4096, PROT_READ));
	none = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CT_SYS(none == MAP_FAILED ? -1 : 0);
	memset(none, 0xa5, 4096);
	CT_SYS(mprotect(none, 2 * 4096, PROT_NONE));
	heap = malloc(100000);
	CT_TRUE(heap != NULL);
	for (size_t i = 0; i < 100000; i++)
		heap[i] = pattern(i + 7);
	brk0 = sbrk(0);
	CT_SYS(sbrk(8192) == (void *)-1 ? -1 : 0);
	brk1 = sbrk(0);
	memset(brk0, 0x33, 8192);
	for (size_t i = 0; i < 1024; i++)
		on_stack[i] = i * 3;
	return 0;
}

static int check(void)
{
	for (size_t p = 0; p < BIG / 4096; p++)
		for (size_t i = 0; i < 4096; i += 512) {
			uint8_t want = p % 7 == 0 ? pattern(p * 4096 + i) : 0;

			if (big[p * 4096 + i] != want)
				CT_FAIL("big area page %zu offset %zu: %u != %u", p, i,
					big[p * 4096 + i], want);
		}
	for (size_t i = 0; i < 3 * 4096; i++)
		CT_EQ(ro[i], 0x5a);
	CT_SYS(mprotect(none, 2 * 4096, PROT_READ));
	CT_EQ(none[0], 0xa5);
	CT_EQ(none[4095], 0xa5);
	CT_EQ(none[4096], 0);
	for (size_t i = 0; i < 100000; i++)
		CT_EQ(heap[i], pattern(i + 7));
	CT_TRUE(sbrk(0) == brk1);
	CT_EQ(((uint8_t *)brk0)[8191], 0x33);
	/* brk still grows from where it was. */
	CT_TRUE(sbrk(4096) == brk1);
	((uint8_t *)brk1)[4095] = 1;
	for (size_t i = 0; i < 1024; i++)
		CT_EQ(on_stack[i], i * 3);
	return 0;
}

CT_MAIN(setup, check)
