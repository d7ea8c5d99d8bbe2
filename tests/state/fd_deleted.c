/* Files deleted while open: one of 2 MiB with a hole, open through two descriptors
 * that share an open file description (dup) and a third, read-only description, with
 * their offsets, and mapped shared; one only mapped, privately, with a page copied on
 * write; one open for appending; one whose name a new file took after it was
 * deleted. After the checkpoint each is still deleted and holds what it held, with its
 * size, mode and holes; the descriptions and the mapping share one file again; and
 * the new file under the old name is untouched. */
#include "ct.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG 4096
#define SIZE1 ((2 << 20) + 5000)

static int d1, d2, d3, d5, d4;
static uint8_t *sh, *priv;
static uint8_t *want1, want2[3 * PG];
static char name1[4200], name2[4200], name4[4200];
static off_t holes1[64];
static int nholes1, fl3, fl5;
static ino_t ino4new;
static off_t size5;

static uint8_t pattern(size_t i, int salt)
{
	return (uint8_t)((i * 2654435761u >> 13) ^ (unsigned)salt);
}

static int fill(int fd, size_t off, size_t len, int salt)
{
	uint8_t *buf = malloc(len);
	ssize_t n;

	if (!buf)
		return -1;
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(off + i, salt);
	n = pwrite(fd, buf, len, (off_t)off);
	free(buf);
	return n == (ssize_t)len ? 0 : -1;
}

static int setup(void)
{
	struct stat st;
	int fd;

	want1 = malloc(SIZE1);
	CT_TRUE(want1 != NULL);
	snprintf(name1, sizeof(name1), "%s/del1", ct_dir());
	snprintf(name2, sizeof(name2), "%s/del2", ct_dir());
	snprintf(name4, sizeof(name4), "%s/del4", ct_dir());

	/* 1: data, a hole, data; three descriptors, two descriptions, one mapping. */
	CT_SYS(d1 = open(name1, O_RDWR | O_CREAT | O_TRUNC, 0640));
	CT_SYS(fchmod(d1, 0640));
	CT_SYS(fill(d1, 0, 10000, 1));
	CT_SYS(fill(d1, 2 << 20, 5000, 2));
	CT_SYS(d2 = dup(d1));
	CT_SYS(d3 = open(name1, O_RDONLY));
	sh = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, d1, 0);
	CT_TRUE(sh != MAP_FAILED);
	sh[100] = 'S';
	CT_SYS(unlink(name1));
	CT_SYS(lseek(d1, 1234, SEEK_SET));
	CT_SYS(lseek(d3, 77, SEEK_SET));
	CT_EQ(pread(d1, want1, SIZE1, 0), SIZE1);
	nholes1 = ct_layout(d1, holes1, 64);
	CT_TRUE(nholes1 >= 4);
	CT_SYS(fl3 = fcntl(d3, F_GETFL));

	/* 2: only mapped, privately; page 1 copied on write. */
	CT_SYS(fd = open(name2, O_RDWR | O_CREAT | O_TRUNC, 0600));
	CT_SYS(fill(fd, 0, sizeof(want2), 3));
	priv = mmap(NULL, sizeof(want2), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CT_TRUE(priv != MAP_FAILED);
	close(fd);
	CT_SYS(unlink(name2));
	priv[PG + 9] ^= 0xff;
	memcpy(want2, priv, sizeof(want2));

	/* 3: open for appending only. */
	CT_SYS(d5 = open("del3", O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0600));
	CT_EQ(write(d5, "appended", 8), 8);
	CT_SYS(unlink("del3"));
	CT_SYS(fl5 = fcntl(d5, F_GETFL));
	size5 = 8;

	/* 4: deleted, and a new file took its name. */
	CT_SYS(d4 = open(name4, O_RDWR | O_CREAT | O_TRUNC, 0600));
	CT_EQ(write(d4, "old", 3), 3);
	CT_SYS(unlink(name4));
	CT_SYS(fd = open(name4, O_RDWR | O_CREAT | O_EXCL, 0600));
	CT_EQ(write(fd, "new", 3), 3);
	CT_SYS(fstat(fd, &st));
	ino4new = st.st_ino;
	close(fd);
	return 0;
}

static int check(void)
{
	char link[4300], want[4300], buf[64];
	struct stat st1, st3, st;
	off_t holes[64];
	uint8_t *got = malloc(SIZE1);
	int fd;

	CT_TRUE(got != NULL);
	/* 1 */
	snprintf(want, sizeof(want), "%s (deleted)", name1);
	CT_TRUE(ct_fd_is(d1, want));
	CT_EQ(access(name1, F_OK), -1); /* nothing left under the name */
	CT_EQ(lseek(d1, 0, SEEK_CUR), 1234);
	CT_EQ(lseek(d2, 0, SEEK_CUR), 1234);
	CT_EQ(lseek(d3, 0, SEEK_CUR), 77);
	CT_EQ(fcntl(d3, F_GETFL), fl3);
	CT_EQ(ct_kcmp_file(d1, d2), 0);
	CT_TRUE(ct_kcmp_file(d1, d3) != 0);
	CT_SYS(fstat(d1, &st1));
	CT_SYS(fstat(d3, &st3));
	CT_EQ(st1.st_nlink, 0);
	CT_EQ(st1.st_size, SIZE1);
	CT_EQ(st1.st_mode & 07777, 0640);
	CT_EQ(st1.st_ino, st3.st_ino);
	CT_EQ(ct_layout(d1, holes, 64), nholes1);
	CT_MEMEQ(holes, holes1, nholes1 * sizeof(off_t));
	CT_EQ(pread(d3, got, SIZE1, 0), SIZE1);
	CT_MEMEQ(got, want1, SIZE1);
	CT_MEMEQ(sh, want1, 3 * PG);
	CT_EQ(ct_mapped_ino(sh, 3 * PG, link, sizeof(link)), st1.st_ino);
	CT_EQ(pwrite(d1, "AB", 2, 50), 2); /* one file under descriptors and mapping */
	CT_MEMEQ(sh + 50, "AB", 2);
	sh[60] = 'Z';
	CT_EQ(pread(d3, buf, 1, 60), 1);
	CT_EQ(buf[0], 'Z');

	/* 2 */
	CT_MEMEQ(priv, want2, sizeof(want2));
	CT_TRUE(ct_mapped_ino(priv, sizeof(want2), link, sizeof(link)) != 0);
	snprintf(want, sizeof(want), "%s (deleted)", name2);
	CT_STREQ(link, want);

	/* 3 */
	CT_EQ(fcntl(d5, F_GETFL), fl5);
	CT_SYS(fstat(d5, &st));
	CT_EQ(st.st_size, size5);
	CT_EQ(st.st_nlink, 0);
	CT_EQ(write(d5, "++", 2), 2);
	CT_SYS(fstat(d5, &st));
	CT_EQ(st.st_size, size5 + 2);

	/* 4: its own contents; the new file under its old name untouched. */
	CT_SYS(ct_fd_link(d4, link, sizeof(link)));
	CT_TRUE(strlen(link) > 10 && !strcmp(link + strlen(link) - 10, " (deleted)"));
	CT_EQ(pread(d4, buf, sizeof(buf), 0), 3);
	CT_MEMEQ(buf, "old", 3);
	CT_SYS(fd = open(name4, O_RDONLY));
	CT_SYS(fstat(fd, &st));
	CT_EQ(st.st_ino, ino4new);
	CT_EQ(read(fd, buf, sizeof(buf)), 3);
	CT_MEMEQ(buf, "new", 3);
	close(fd);
	free(got);
	return 0;
}

CT_MAIN(setup, check)
