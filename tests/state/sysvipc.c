/* sysvipc: System V IPC objects of the process.
 *
 * A segment with a key, attached twice (read-write, and read-only elsewhere), written
 * on its first and third pages (the second never touched) and in its last, partial
 * page; a private segment attached once and removed (SHM_DEST: it goes when the
 * process dies, so a restart makes it again); a semaphore set of four values; a
 * message queue holding three messages of different types (one empty).
 *
 * After GO every object has its id, key, mode and size; the segments hold exactly
 * what they held, at the same addresses, with the same protections, and the two
 * attachments share their memory; the semaphores have their values; the messages
 * come out in order with their types and bytes. Then the objects are removed. */
#include "ct.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#define PG 4096
#define SIZE_A (3 * PG + 100)
#define SIZE_B (2 * PG)

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

static const unsigned short vals[4] = {0, 7, 300, 32767};
static const struct {
	long type;
	const char *text;
} msgs[3] = {{5, "alpha"}, {2, ""}, {9, "a longer message, with a newline\n and more"}};

static key_t key_a, key_s, key_q;
static int id_a, id_b, id_s, id_q;
static char *a_rw, *a_ro, *b;

static void fill(char *p, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(seed + i * 7 + i / 13);
}

static int setup(void)
{
	key_t base = 0x43520000 | (getpid() & 0xffff);
	union semun arg = {.array = (unsigned short *)vals};

	key_a = base;
	key_s = base + 0x10000000;
	key_q = base + 0x20000000;
	id_a = shmget(key_a, SIZE_A, IPC_CREAT | IPC_EXCL | 0640);
	CT_SYS(id_a);
	a_rw = shmat(id_a, NULL, 0);
	CT_TRUE(a_rw != (void *)-1);
	a_ro = shmat(id_a, NULL, SHM_RDONLY);
	CT_TRUE(a_ro != (void *)-1);
	fill(a_rw, PG, 1);
	fill(a_rw + 2 * PG, PG + 100, 2);

	id_b = shmget(IPC_PRIVATE, SIZE_B, IPC_CREAT | 0600);
	CT_SYS(id_b);
	b = shmat(id_b, NULL, 0);
	CT_TRUE(b != (void *)-1);
	fill(b, SIZE_B, 3);
	CT_SYS(shmctl(id_b, IPC_RMID, NULL));

	id_s = semget(key_s, 4, IPC_CREAT | IPC_EXCL | 0600);
	CT_SYS(id_s);
	CT_SYS(semctl(id_s, 0, SETALL, arg));

	id_q = msgget(key_q, IPC_CREAT | IPC_EXCL | 0620);
	CT_SYS(id_q);
	for (int i = 0; i < 3; i++) {
		struct {
			long type;
			char text[64];
		} m = {msgs[i].type, ""};
		size_t n = strlen(msgs[i].text);

		memcpy(m.text, msgs[i].text, n);
		CT_SYS(msgsnd(id_q, &m, n, 0));
	}
	ct_log("shm %d (private %d), sem %d, msg %d", id_a, id_b, id_s, id_q);
	return 0;
}

/* The permissions column of our mapping at p in /proc/self/maps. */
static int perms_at(const void *p, char out[5])
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx %4s", &s, &e, out) == 3 && s == (uintptr_t)p)
			found = 1;
	}
	if (f)
		fclose(f);
	return found;
}

static int verify(void)
{
	char want[SIZE_B], perms[5];
	struct shmid_ds ds;
	struct msqid_ds qs;
	unsigned short now[4];
	union semun arg = {.array = now};
	struct sembuf op = {2, -100, IPC_NOWAIT};

	/* The keyed segment: id, size, mode, both attachments, contents, sharing. */
	CT_EQ(shmget(key_a, 0, 0), id_a);
	CT_SYS(shmctl(id_a, IPC_STAT, &ds));
	CT_EQ(ds.shm_segsz, SIZE_A);
	CT_EQ(ds.shm_perm.mode & 0777, 0640);
	CT_EQ(ds.shm_nattch, 2);
	CT_TRUE(perms_at(a_rw, perms));
	CT_STREQ(perms, "rw-s");
	CT_TRUE(perms_at(a_ro, perms));
	CT_STREQ(perms, "r--s");
	fill(want, PG, 1);
	CT_MEMEQ(a_ro, want, PG);
	memset(want, 0, PG);
	CT_MEMEQ(a_ro + PG, want, PG);
	fill(want, PG + 100, 2);
	CT_MEMEQ(a_ro + 2 * PG, want, PG + 100);
	memset(want, 0, PG - 100);
	CT_MEMEQ(a_ro + 3 * PG + 100, want, PG - 100);
	a_rw[PG + 5] = 'Z';
	CT_EQ(a_ro[PG + 5], 'Z');

	/* The removed one: the same id, still removed, still ours alone. */
	CT_SYS(shmctl(id_b, IPC_STAT, &ds));
	CT_EQ(ds.shm_segsz, SIZE_B);
	CT_EQ(ds.shm_perm.mode & SHM_DEST, SHM_DEST);
	CT_EQ(ds.shm_perm.__key, IPC_PRIVATE);
	CT_EQ(ds.shm_nattch, 1);
	fill(want, SIZE_B, 3);
	CT_MEMEQ(b, want, SIZE_B);

	/* The semaphores. */
	CT_EQ(semget(key_s, 0, 0), id_s);
	CT_SYS(semctl(id_s, 0, GETALL, arg));
	CT_MEMEQ(now, vals, sizeof(vals));
	CT_SYS(semop(id_s, &op, 1));
	CT_EQ(semctl(id_s, 2, GETVAL), 200);

	/* The messages, in order. */
	CT_EQ(msgget(key_q, 0), id_q);
	CT_SYS(msgctl(id_q, IPC_STAT, &qs));
	CT_EQ(qs.msg_qnum, 3);
	CT_EQ(qs.msg_perm.mode & 0777, 0620);
	for (int i = 0; i < 3; i++) {
		struct {
			long type;
			char text[64];
		} m;
		ssize_t n = msgrcv(id_q, &m, sizeof(m.text), 0, IPC_NOWAIT);

		CT_EQ(n, (ssize_t)strlen(msgs[i].text));
		CT_EQ(m.type, msgs[i].type);
		CT_MEMEQ(m.text, msgs[i].text, (size_t)n);
	}
	CT_EQ(msgrcv(id_q, &(struct {
			     long t;
			     char c[8];
		     }){0},
		     8, 0, IPC_NOWAIT),
	      -1);
	return 0;
}

static int check(void)
{
	int rc = verify();

	/* The objects outlive the process: leave none behind. */
	shmctl(id_a, IPC_RMID, NULL);
	semctl(id_s, 0, IPC_RMID);
	msgctl(id_q, IPC_RMID, NULL);
	shmdt(a_rw);
	shmdt(a_ro);
	shmdt(b);
	return rc;
}

CT_MAIN(setup, check)
