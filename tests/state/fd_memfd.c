/* memfds: a 1 MiB sealable one with holes, shrink and grow seals, an offset and
 * close-on-exec, mapped shared (the mapping and the descriptor see each other's
 * writes); one made without sealing, with a second, read-only open file description
 * at its own offset; one sealed against writing, mapped read-only; one only mapped
 * (its descriptor closed), shared and privately with a page copied on write. After
 * the checkpoint each has its name in /proc, its seals, size, contents and where the
 * holes are, each description its flags and offset, and every mapping the same file
 * as the descriptors. */
#include "ct.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG (1 << 20)
#define PG 4096

static int m1, m2, m2r, m3;
static uint8_t *map1, *map3, *map4, *map4p;
static uint8_t want1[BIG], want3[2 * PG], want4[3 * PG];
static int seals1, seals3, fl1, fl2, fl2r, fd1;
static off_t holes1[64];
static int nholes1;

static uint8_t pattern(size_t i, int salt)
{
	return (uint8_t)((i * 2654435761u >> 11) ^ (unsigned)salt);
}

static int fill(int fd, size_t off, size_t len, int salt)
{
	static uint8_t buf[65536];

	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(off + i, salt);
	return pwrite(fd, buf, len, (off_t)off) == (ssize_t)len ? 0 : -1;
}

static int setup(void)
{
	char path[64];
	int m4;

	/* 1: 1 MiB with data at both ends and a page written through the mapping. */
	CT_SYS(m1 = memfd_create("crest test memfd", MFD_ALLOW_SEALING | MFD_CLOEXEC));
	CT_SYS(ftruncate(m1, BIG));
	CT_SYS(fill(m1, 0, 10000, 1));
	CT_SYS(fill(m1, 700000, 5000, 2));
	map1 = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_SHARED, m1, 0);
	CT_TRUE(map1 != MAP_FAILED);
	map1[500000] = 'M';
	CT_SYS(fcntl(m1, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW));
	nholes1 = ct_layout(m1, holes1, 64);
	CT_TRUE(nholes1 >= 6); /* three stretches of data */
	CT_SYS(lseek(m1, 4321, SEEK_SET));
	CT_EQ(pread(m1, want1, BIG, 0), BIG);
	CT_SYS(seals1 = fcntl(m1, F_GET_SEALS));
	CT_SYS(fl1 = fcntl(m1, F_GETFL));
	CT_SYS(fd1 = fcntl(m1, F_GETFD));

	/* 2: not sealable, and a second description of it. */
	CT_SYS(m2 = memfd_create("plain", 0));
	CT_EQ(write(m2, "hello plain", 11), 11);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", m2);
	CT_SYS(m2r = open(path, O_RDONLY));
	CT_SYS(lseek(m2r, 3, SEEK_SET));
	CT_SYS(fl2 = fcntl(m2, F_GETFL));
	CT_SYS(fl2r = fcntl(m2r, F_GETFL));

	/* 3: sealed against writing, then mapped read-only. */
	CT_SYS(m3 = memfd_create("sealed", MFD_ALLOW_SEALING));
	CT_SYS(fill(m3, 0, sizeof(want3), 3));
	CT_SYS(fcntl(m3, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	CT_SYS(seals3 = fcntl(m3, F_GET_SEALS));
	map3 = mmap(NULL, sizeof(want3), PROT_READ, MAP_SHARED, m3, 0);
	CT_TRUE(map3 != MAP_FAILED);
	memcpy(want3, map3, sizeof(want3));

	/* 4: only mapped, shared and privately (page 1 copied on write). */
	CT_SYS(m4 = memfd_create("mapped only", 0));
	CT_SYS(fill(m4, 0, sizeof(want4), 4));
	map4 = mmap(NULL, sizeof(want4), PROT_READ | PROT_WRITE, MAP_SHARED, m4, 0);
	map4p = mmap(NULL, sizeof(want4), PROT_READ | PROT_WRITE, MAP_PRIVATE, m4, 0);
	CT_TRUE(map4 != MAP_FAILED && map4p != MAP_FAILED);
	close(m4);
	memcpy(want4, map4, sizeof(want4));
	map4p[PG + 7] = 'P';
	return 0;
}

static int check(void)
{
	off_t holes[64];
	static uint8_t got[BIG];
	struct stat st;
	char c;

	/* 1 */
	CT_TRUE(ct_fd_is(m1, "/memfd:crest test memfd (deleted)"));
	CT_EQ(fcntl(m1, F_GET_SEALS), seals1);
	CT_EQ(fcntl(m1, F_GETFL), fl1);
	CT_EQ(fcntl(m1, F_GETFD), fd1);
	CT_EQ(lseek(m1, 0, SEEK_CUR), 4321);
	CT_SYS(fstat(m1, &st));
	CT_EQ(st.st_size, BIG);
	CT_EQ(ct_layout(m1, holes, 64), nholes1); /* before anything touches the mapping */
	CT_MEMEQ(holes, holes1, nholes1 * sizeof(off_t));
	CT_EQ(pread(m1, got, BIG, 0), BIG);
	CT_MEMEQ(got, want1, BIG);
	CT_MEMEQ(map1, want1, BIG);
	CT_EQ(ct_mapped_ino(map1, BIG, NULL, 0), st.st_ino);
	CT_EQ(pwrite(m1, "XYZ", 3, 1000), 3); /* one file under the two */
	CT_MEMEQ(map1 + 1000, "XYZ", 3);
	map1[2000] = 'Q';
	CT_EQ(pread(m1, &c, 1, 2000), 1);
	CT_EQ(c, 'Q');
	CT_EQ(pwrite(m1, "x", 1, BIG), -1); /* the grow seal holds */
	CT_EQ(errno, EPERM);

	/* 2 */
	CT_TRUE(ct_fd_is(m2, "/memfd:plain (deleted)"));
	CT_EQ(fcntl(m2, F_GET_SEALS), F_SEAL_SEAL);
	CT_EQ(fcntl(m2, F_GETFL), fl2);
	CT_EQ(fcntl(m2r, F_GETFL), fl2r);
	CT_EQ(fcntl(m2, F_GETFD), 0);
	CT_EQ(lseek(m2, 0, SEEK_CUR), 11);
	CT_EQ(lseek(m2r, 0, SEEK_CUR), 3);
	CT_TRUE(ct_kcmp_file(m2, m2r) != 0);
	CT_EQ(read(m2r, got, 64), 8);
	CT_MEMEQ(got, "lo plain", 8);
	CT_EQ(write(m2, "!", 1), 1);
	CT_EQ(pread(m2r, got, 64, 0), 12);
	CT_MEMEQ(got, "hello plain!", 12);

	/* 3 */
	CT_TRUE(ct_fd_is(m3, "/memfd:sealed (deleted)"));
	CT_EQ(fcntl(m3, F_GET_SEALS), seals3);
	CT_EQ(pread(m3, got, sizeof(want3), 0), sizeof(want3));
	CT_MEMEQ(got, want3, sizeof(want3));
	CT_MEMEQ(map3, want3, sizeof(want3));
	CT_EQ(pwrite(m3, "x", 1, 0), -1);
	CT_EQ(errno, EPERM);
	CT_SYS(fstat(m3, &st));
	CT_EQ(ct_mapped_ino(map3, sizeof(want3), NULL, 0), st.st_ino);

	/* 4: both mappings of one memfd, the copied page kept. */
	CT_MEMEQ(map4, want4, sizeof(want4));
	CT_MEMEQ(map4p, want4, PG + 7);
	CT_EQ(map4p[PG + 7], 'P');
	CT_MEMEQ(map4p + PG + 8, want4 + PG + 8, sizeof(want4) - PG - 8);
	CT_TRUE(ct_mapped_ino(map4, sizeof(want4), NULL, 0) != 0);
	CT_EQ(ct_mapped_ino(map4, sizeof(want4), NULL, 0),
	      ct_mapped_ino(map4p, sizeof(want4), NULL, 0));
	map4[5] = 'S'; /* a page not copied: the private mapping still reads the file */
	CT_EQ(map4p[5], 'S');
	return 0;
}

CT_MAIN(setup, check)
