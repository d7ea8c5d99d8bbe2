/* state/fd_pty.c: pseudo-terminals whose master is inside the checkpoint: the master's
 * open file description and every description of its slave held in the checkpoint.
 *
 * Saved with the master: the slave's terminal settings (termios, with the line
 * discipline's control characters and speeds), its window size, packet mode, the
 * lock state (unlockpt), exclusive mode, whether the slave was opened and closed
 * again (reads on the master then fail with EIO), the session whose controlling
 * terminal it is with its foreground process group, and what the job wrote to the
 * slave that the master side has not read yet. That data is taken out of the master
 * at the checkpoint and written back through the slave at once (output processing
 * off for that write, so it arrives unchanged): the original carries on with it.
 *
 * Not saved: input the master side wrote that the job has not read yet. It cannot be
 * looked at without taking it, and putting it back would run it through the line
 * discipline a second time (echo, signals, line editing): a warning says how much a
 * restart loses (in canonical mode a line being typed is not even counted). Slave
 * output pending in packet mode is not taken either (it comes with status bytes) and
 * is lost the same way.
 *
 * A description of /dev/tty that leads to the slave (TIOCGDEV) is one of the slave's:
 * at restart it is a new description of the new slave (/proc then shows its
 * /dev/pts/N, not /dev/tty); on a pty whose master is elsewhere it is fd_chr.c's.
 *
 * Refused: a pty whose slave is held, or is the controlling terminal of a process,
 * outside the checkpoint (a restart could not give it back to them). A slave whose
 * master is not in the checkpoint leads outside: fd_external.c binds it to
 * cr_restart's descriptor of the same number.
 *
 * At restart cr_restart opens /dev/ptmx (a new pts number), unlocks it, opens every
 * slave description with TIOCGPTPEER, writes the saved data, sets the settings and
 * the lock. The session leader (restored with --restore-sid) takes the slave as its
 * controlling terminal (TIOCSCTTY) as soon as it has its session, before it makes its
 * children, who inherit it; once the process groups exist (--restore-pgid) it makes
 * the saved foreground group the terminal's again (TIOCSPGRP, run in the leader
 * through ptrace before crest leaves it). Without --restore-sid the processes
 * stay in cr_restart's session, with cr_restart's controlling terminal if it has
 * one, and the new pty is nobody's controlling terminal: a warning says so. */
#define LOG_PREFIX "pty: "
#include "fdkind.h"

#include "../err.h"
#include "../inject.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <asm/termbits.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../banned.h"

#define PTMX makedev(5, 2)
#define DEV_TTY makedev(5, 0)
#define PTS_MAJOR_FIRST 136
#define PTS_MAJOR_LAST 143
#define DEVPTS_MAGIC 0x1cd1
#define MAX_PTY_DATA (1u << 20)
#define MAX_PTY_INDEX (1u << 20)
#define CC_LEN 19 /* the kernel's NCCS */

/* What a master description carries: the whole terminal. A slave's record has only
 * the first three fields. */
struct pty_data {
	uint32_t master;    /* 1: the master (ptmx); 0: a slave */
	uint32_t index;     /* pts number at the checkpoint */
	uint32_t master_id; /* a slave: its master's file id; the master: its own */
	uint32_t locked;    /* TIOCGPTLCK: the slave cannot be opened */
	uint32_t packet;    /* TIOCGPKT */
	uint32_t excl;      /* TIOCGEXCL: exclusive mode */
	uint32_t hup;       /* the slave was opened and closed again */
	int32_t sid;        /* the session whose controlling terminal it is; 0: none */
	int32_t fg;         /* that terminal's foreground process group; 0: none */
	struct termios2 tio;
	struct winsize ws;
	uint8_t *data; /* written to the slave, not yet read from the master */
	uint32_t len;
	/* checkpoint only, not saved */
	uint64_t pts_dev; /* the devpts instance (0 for /dev/tty: not known) */
	uint32_t devtty;  /* a description of /dev/tty */
};

static void pty_data_free(void *p)
{
	struct pty_data *pd = p;

	if (pd)
		free(pd->data);
	free(pd);
}

static struct pty_data *pty_data_new(struct file_img *f)
{
	struct pty_data *pd = fdkind_data(f, sizeof(*pd));

	if (pd)
		f->kd_free = pty_data_free;
	return pd;
}

static bool is_pts(dev_t rdev)
{
	return major(rdev) >= PTS_MAJOR_FIRST && major(rdev) <= PTS_MAJOR_LAST;
}

static dev_t pts_rdev(uint32_t index)
{
	return makedev(PTS_MAJOR_FIRST + index / 1048576u, index % 1048576u);
}

/* ---- checkpoint ---- */

/* The pts number of the terminal a /dev/tty description leads to (its opener's
 * controlling terminal then), or -1 if that is no pty slave. */
static int devtty_index(struct dump_ctx *c, const struct fd_scan *s)
{
	int fd = (int)syscall(SYS_pidfd_getfd, c->pidfd, s->fd, 0);
	unsigned int d, ma, mi;
	int r;

	if (fd < 0)
		return -1;
	r = ioctl(fd, TIOCGDEV, &d);
	close(fd);
	if (r < 0)
		return -1;
	ma = (d & 0xfff00) >> 8;
	mi = (d & 0xff) | ((d >> 12) & 0xfff00);
	if (!is_pts(makedev(ma, mi)))
		return -1;
	return (int)(mi + (ma - PTS_MAJOR_FIRST) * 1048576u);
}

/* The master, a slave, or /dev/tty open on a slave (settle gives a slave whose master
 * is elsewhere to fd_external.c, and such a /dev/tty back to fd_chr.c). */
static int pty_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)err;
	if (!S_ISCHR(s->st.st_mode))
		return 0;
	if (s->st.st_rdev == DEV_TTY)
		return devtty_index(c, s) >= 0;
	return s->st.st_rdev == PTMX || is_pts(s->st.st_rdev);
}

/* The devpts instance a master belongs to: the one it lies on (/dev/pts/ptmx), or
 * the "pts" directory beside it (/dev/ptmx), as the kernel finds it. */
static uint64_t master_pts_dev(pid_t pid, const struct fd_scan *s)
{
	char path[MODEL_MAX_PATH + 64], *slash;
	struct statfs sf;
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, s->fd);
	if (statfs(path, &sf) == 0 && sf.f_type == DEVPTS_MAGIC)
		return s->st.st_dev;
	if (s->link[0] != '/')
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/root%s", pid, s->link);
	slash = strrchr(path, '/');
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "pts");
	return stat(path, &st) == 0 ? st.st_dev : 0;
}

static int pty_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err)
{
	struct pty_data *pd = pty_data_new(f);
	uint64_t index;

	if (!pd)
		return err_set(err, -ENOMEM, "out of memory");
	if (s->st.st_rdev == PTMX) {
		if (procfs_field_u64(s->fdinfo, "tty-index", 10, &index) < 0 ||
		    index >= MAX_PTY_INDEX)
			return err_set(err, -EIO,
				       "pid %d: descriptor %d: a pseudo-terminal master without "
				       "its pts number in fdinfo",
				       c->p->pid, s->fd);
		pd->master = 1;
		pd->index = (uint32_t)index;
		pd->master_id = f->id;
		pd->pts_dev = master_pts_dev(c->p->pid, s);
		f->path = strdup("/dev/ptmx");
	} else if (s->st.st_rdev == DEV_TTY) {
		int idx = devtty_index(c, s);

		if (idx < 0)
			return err_set(err, -EIO, "pid %d: descriptor %d: /dev/tty changed",
				       c->p->pid, s->fd);
		pd->index = (uint32_t)idx;
		pd->devtty = 1;
		f->path = strdup("/dev/tty");
	} else {
		pd->index =
		    minor(s->st.st_rdev) + (major(s->st.st_rdev) - PTS_MAJOR_FIRST) * 1048576u;
		pd->pts_dev = s->st.st_dev;
		f->path = strdup(s->link[0] == '/' ? s->link : "/dev/pts/?");
	}
	return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static struct pty_data *pty_of(const struct file_img *f)
{
	return f->kind == FILE_PTY ? f->kd : NULL;
}

/* Is slave file g one of master f's? */
static bool slave_of(const struct file_img *f, const struct file_img *g)
{
	const struct pty_data *m = pty_of(f), *s = pty_of(g);

	return m && s && m->master && !s->master && s->index == m->index &&
	       (!m->pts_dev || !s->pts_dev || s->pts_dev == m->pts_dev);
}

/* /proc/PID/stat's tty_nr for a device number (the kernel's new_encode_dev). */
static uint64_t tty_nr(dev_t d)
{
	uint64_t ma = major(d), mi = minor(d);

	return (mi & 0xff) | (ma << 8) | ((mi & ~0xffull) << 12);
}

/* A process outside the checkpoint that holds the slave or has it as its controlling
 * terminal; 0 if none. */
static pid_t held_outside(struct dump_all *all, const struct pty_data *md, int *ret_fd)
{
	dev_t rdev = pts_rdev(md->index);
	pid_t self = getpid(), found = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	*ret_fd = -1;
	while (d && !found && (de = readdir(d))) {
		char dir[64], path[400], link[64];
		struct proc_stat ps;
		struct dirent *fe;
		long pid, fdn;
		DIR *fd;

		if (parse_long(de->d_name, 1, INT32_MAX, &pid) < 0 || pid == self ||
		    model_find_proc(all->m, (pid_t)pid))
			continue;
		if (procfs_stat((pid_t)pid, 0, &ps) == 0 && ps.f[7] == tty_nr(rdev)) {
			found = (pid_t)pid;
			break;
		}
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
		fd = opendir(dir);
		while (fd && !found && (fe = readdir(fd))) {
			struct stat st;
			ssize_t n;

			snprintf(path, sizeof(path), "%s/%s", dir, fe->d_name);
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strncmp(link, "/dev/pts/", 9) || stat(path, &st) < 0 ||
			    st.st_rdev != rdev || (md->pts_dev && st.st_dev != md->pts_dev))
				continue;
			found = (pid_t)pid;
			if (parse_long(fe->d_name, 0, INT32_MAX, &fdn) == 0)
				*ret_fd = (int)fdn;
		}
		if (fd)
			closedir(fd);
	}
	if (d)
		closedir(d);
	return found;
}

/* Read n bytes the master has (slave output) out of it. */
static int take_master_data(int mfd, struct pty_data *md, int n)
{
	md->data = malloc((size_t)n);
	if (!md->data)
		return -ENOMEM;
	/* FIONREAD said they are there: a read of at most that many never blocks. New
	 * data cannot come: every writer is frozen. */
	while (md->len < (uint32_t)n) {
		ssize_t k = read(mfd, md->data + md->len, (size_t)n - md->len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		md->len += (uint32_t)k;
	}
	return 0;
}

/* Write data through the slave so that it reaches the master as it is: output
 * processing (OPOST) off for the write, tio back afterwards. */
static int put_through_slave(int sfd, const struct termios2 *tio, const uint8_t *data, uint32_t len)
{
	struct termios2 raw = *tio;
	uint32_t done = 0;
	int rc = 0, fl;

	raw.c_oflag &= ~(unsigned int)OPOST;
	if (ioctl(sfd, TCSETS2, &raw) < 0)
		return -errno;
	fl = fcntl(sfd, F_GETFL);
	fcntl(sfd, F_SETFL, fl | O_NONBLOCK);
	while (done < len) {
		ssize_t k = write(sfd, data + done, len - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? -errno : -EIO;
			break;
		}
		done += (uint32_t)k;
	}
	fcntl(sfd, F_SETFL, fl);
	if (ioctl(sfd, TCSETS2, tio) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* The terminal's state, through a copy of the master (the ioctls reach the slave). */
static int read_terminal(struct dump_all *all, struct file_img *f, int mfd, struct err *err)
{
	struct pty_data *md = f->kd;
	struct pollfd pfd = {mfd, POLLIN, 0};
	int v;

	if (ioctl(mfd, TCGETS2, &md->tio) < 0 || ioctl(mfd, TIOCGWINSZ, &md->ws) < 0)
		return err_sys(err, "pid %d: descriptor %d: cannot read the terminal's settings",
			       f->dump_pid, f->dump_fd);
	if (ioctl(mfd, TIOCGPTLCK, &v) < 0)
		return err_sys(err, "pid %d: descriptor %d: cannot read the pty's lock",
			       f->dump_pid, f->dump_fd);
	md->locked = v != 0;
	if (ioctl(mfd, TIOCGPKT, &v) < 0)
		return err_sys(err, "pid %d: descriptor %d: cannot read the pty's packet mode",
			       f->dump_pid, f->dump_fd);
	md->packet = v != 0;
	/* Without a session (or with the slave closed) these fail: no controlling
	 * terminal of anyone. */
	if (ioctl(mfd, TIOCGSID, &v) == 0 && v > 0) {
		md->sid = v;
		if (ioctl(mfd, TIOCGPGRP, &v) == 0 && v > 0)
			md->fg = v;
	}
	if (md->sid && !model_find_proc(all->m, md->sid))
		return err_set(err, -ENOTSUP,
			       "pid %d: descriptor %d is a pseudo-terminal master whose slave "
			       "(/dev/pts/%u) is the controlling terminal of session %d, whose "
			       "leader is not in the checkpoint",
			       f->dump_pid, f->dump_fd, md->index, md->sid);
	md->hup = poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP);
	return 0;
}

/* What lies in the terminal's buffers: the slave's output that the master has not
 * read is taken and written back at once; the slave's unread input is only told. */
static int read_buffers(struct file_img *f, int mfd, int sfd, struct err *err)
{
	struct pty_data *md = f->kd;
	int n = 0, rc;

	if (sfd >= 0 && ioctl(sfd, FIONREAD, &n) == 0 && n > 0)
		kmsg_add(KMSG_WARN,
			 "pid %d: descriptor %d: %d bytes of input to /dev/pts/%u that no "
			 "process has read yet are not saved: a restart loses them",
			 f->dump_pid, f->dump_fd, n, md->index);
	if (ioctl(mfd, FIONREAD, &n) < 0 || n <= 0)
		return 0;
	if (sfd < 0 || md->packet) {
		kmsg_add(KMSG_WARN,
			 "pid %d: descriptor %d: %d bytes of output of /dev/pts/%u not yet read "
			 "by its master are not saved%s: a restart loses them",
			 f->dump_pid, f->dump_fd, n, md->index, md->packet ? " (packet mode)" : "");
		return 0;
	}
	if ((uint32_t)n > MAX_PTY_DATA)
		return err_set(err, -E2BIG, "pid %d: descriptor %d: %d bytes in a pty", f->dump_pid,
			       f->dump_fd, n);
	rc = take_master_data(mfd, md, n);
	if (rc == 0)
		rc = put_through_slave(sfd, &md->tio, md->data, md->len);
	if (rc < 0) {
		kmsg_add(KMSG_ERROR,
			 "pid %d: descriptor %d: %u bytes of /dev/pts/%u's output may be lost",
			 f->dump_pid, f->dump_fd, md->len, md->index);
		return err_code(err, rc,
				"pid %d: descriptor %d: cannot save what the pty's master has not "
				"read",
				f->dump_pid, f->dump_fd);
	}
	return 0;
}

/* One master: its slaves, who else holds them, its state and buffers. */
static int settle_master(struct dump_all *all, struct file_img *f, struct err *err)
{
	struct model *m = all->m;
	struct pty_data *md = f->kd;
	struct file_img *slave = NULL;
	int mfd, sfd = -1, ofd, rc;
	pid_t out;

	for (uint32_t k = 0; k < m->nfiles; k++)
		if (slave_of(f, &m->files[k])) {
			((struct pty_data *)m->files[k].kd)->master_id = f->id;
			if (!slave)
				slave = &m->files[k];
		}
	out = held_outside(all, md, &ofd);
	if (out) {
		char how[64] = "the controlling terminal of";

		if (ofd >= 0)
			snprintf(how, sizeof(how), "open as descriptor %d of", ofd);
		kmsg_add(
		    KMSG_ERROR,
		    "pid %d: descriptor %d is a pseudo-terminal master whose slave /dev/pts/%u "
		    "is %s pid %d, outside the checkpoint",
		    f->dump_pid, f->dump_fd, md->index, how, out);
		return err_set(err, -ENOTSUP,
			       "pid %d: descriptor %d is a pseudo-terminal master whose slave "
			       "/dev/pts/%u is %s pid %d, outside the checkpoint",
			       f->dump_pid, f->dump_fd, md->index, how, out);
	}
	mfd = fdkind_copy_fd(all, f);
	if (mfd < 0)
		return err_code(err, mfd, "pid %d: cannot take a copy of descriptor %d",
				f->dump_pid, f->dump_fd);
	rc = read_terminal(all, f, mfd, err);
	/* A slave to look through: one of the checkpoint's, or (closed by all) a new
	 * one, whose close leaves the pty as it was. Never open one nobody ever opened:
	 * closing it would make the master's reads fail. */
	if (rc == 0 && slave)
		sfd = fdkind_copy_fd(all, slave);
	else if (rc == 0 && md->hup && !md->locked)
		sfd = ioctl(mfd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (rc == 0 && sfd >= 0 && ioctl(sfd, TIOCGEXCL, &md->excl) < 0)
		md->excl = 0;
	if (rc == 0)
		rc = read_buffers(f, mfd, sfd, err);
	if (sfd >= 0)
		close(sfd);
	close(mfd);
	return rc;
}

static int pty_settle(struct dump_all *all, struct err *err)
{
	struct model *m = all->m;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		struct pty_data *pd = pty_of(&m->files[i]);
		int rc;

		if (pd && pd->master) {
			rc = settle_master(all, &m->files[i], err);
			if (rc < 0)
				return rc;
		}
	}
	/* Slaves of a master elsewhere lead outside; /dev/tty on one is reopened by
	 * path, as any other /dev/tty. */
	for (uint32_t i = 0; i < m->nfiles; i++) {
		struct file_img *f = &m->files[i];
		struct pty_data *pd = pty_of(f);

		if (!pd || pd->master || pd->master_id)
			continue;
		if (pd->devtty) {
			f->kd_free(f->kd);
			f->kd = NULL;
			f->kd_free = NULL;
			f->kind = FILE_CHR;
		} else if (fd_external_mark(f, EXT_TTY) < 0) {
			return err_set(err, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

static void pty_encode(const struct file_img *f, struct buf *b)
{
	const struct pty_data *pd = f->kd;

	put_u32(b, pd->master);
	put_u32(b, pd->index);
	put_u32(b, pd->master_id);
	if (!pd->master)
		return;
	put_u32(b, pd->locked);
	put_u32(b, pd->packet);
	put_u32(b, pd->excl);
	put_u32(b, pd->hup);
	put_i32(b, pd->sid);
	put_i32(b, pd->fg);
	put_u32(b, pd->tio.c_iflag);
	put_u32(b, pd->tio.c_oflag);
	put_u32(b, pd->tio.c_cflag);
	put_u32(b, pd->tio.c_lflag);
	put_u8(b, pd->tio.c_line);
	put_bytes(b, pd->tio.c_cc, CC_LEN);
	put_u32(b, pd->tio.c_ispeed);
	put_u32(b, pd->tio.c_ospeed);
	put_u16(b, pd->ws.ws_row);
	put_u16(b, pd->ws.ws_col);
	put_u16(b, pd->ws.ws_xpixel);
	put_u16(b, pd->ws.ws_ypixel);
	put_blob(b, pd->data, pd->len);
}

static int pty_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct pty_data *pd = pty_data_new(f);
	const void *data;

	if (!pd)
		return err_set(err, -ENOMEM, "out of memory");
	pd->master = get_u32(rd);
	pd->index = get_u32(rd);
	pd->master_id = get_u32(rd);
	if (!rd->bad &&
	    (pd->master > 1 || pd->index >= MAX_PTY_INDEX || !pd->master_id || !S_ISCHR(f->mode)))
		wr_fail(rd, "impossible pseudo-terminal");
	if (rd->bad || !pd->master)
		return 0;
	pd->locked = get_u32(rd);
	pd->packet = get_u32(rd);
	pd->excl = get_u32(rd);
	pd->hup = get_u32(rd);
	pd->sid = get_i32(rd);
	pd->fg = get_i32(rd);
	pd->tio.c_iflag = get_u32(rd);
	pd->tio.c_oflag = get_u32(rd);
	pd->tio.c_cflag = get_u32(rd);
	pd->tio.c_lflag = get_u32(rd);
	pd->tio.c_line = get_u8(rd);
	get_bytes(rd, pd->tio.c_cc, CC_LEN);
	pd->tio.c_ispeed = get_u32(rd);
	pd->tio.c_ospeed = get_u32(rd);
	pd->ws.ws_row = get_u16(rd);
	pd->ws.ws_col = get_u16(rd);
	pd->ws.ws_xpixel = get_u16(rd);
	pd->ws.ws_ypixel = get_u16(rd);
	data = get_blob(rd, MAX_PTY_DATA, &pd->len);
	if (rd->bad)
		return 0;
	if (pd->master_id != f->id || f->rdev != PTMX)
		wr_fail(rd, "a pseudo-terminal master that is not /dev/ptmx");
	else if (pd->locked > 1 || pd->packet > 1 || pd->excl > 1 || pd->hup > 1)
		wr_fail(rd, "pseudo-terminal flags out of range");
	else if (pd->sid < 0 || pd->fg < 0 || (pd->fg && !pd->sid))
		wr_fail(rd, "impossible session of a pseudo-terminal");
	else if (pd->len && (pd->packet || pd->locked))
		wr_fail(rd, "pseudo-terminal data that no slave could have written");
	if (pd->len && !rd->bad) {
		pd->data = malloc(pd->len);
		if (!pd->data)
			return err_set(err, -ENOMEM, "out of memory");
		memcpy(pd->data, data, pd->len);
	}
	return 0;
}

/* A slave's master is in the context, a master of the same pts number. */
static int pty_check(const struct model *m, const struct file_img *f, struct err *err)
{
	const struct pty_data *pd = f->kd;
	const struct file_img *mf;

	if (pd->master)
		return 0;
	mf = model_find_file((struct model *)m, pd->master_id);
	if (!mf || !pty_of(mf) || !pty_of(mf)->master || pty_of(mf)->index != pd->index)
		return err_set(err, -EINVAL, "file %u: a pseudo-terminal slave without its master",
			       f->id);
	return 0;
}

/* ---- restart: each pty made once, with all its slave descriptions ---- */

struct made_slave {
	uint32_t id;
	int fd;
};

struct made_pty {
	uint32_t master_id;
	int master;
	uint32_t index; /* the new pts number */
	struct made_slave *slaves;
	uint32_t nslaves;
};

struct pty_state {
	struct made_pty *p;
	uint32_t n;
};

static const struct pty_data *master_data(const struct model *m, const struct file_img *f)
{
	const struct pty_data *pd = f->kd;
	const struct file_img *mf;

	if (pd->master)
		return pd;
	mf = model_find_file((struct model *)m, pd->master_id);
	return mf ? mf->kd : NULL;
}

/* Descriptor flags given to the slaves and the master as they are opened. */
#define PTY_OPEN_FLAGS (O_ACCMODE | O_NONBLOCK)
#define PTY_SET_FLAGS (O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC)

/* The slave, through the master. O_CLOEXEC would stay in the new description's
 * flags (fdinfo would show it on every descriptor): set on the descriptor instead. */
static int peer(int master, int flags)
{
	int fd = ioctl(master, TIOCGPTPEER, flags | O_NOCTTY);

	if (fd >= 0)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

static int open_slaves(struct rst_ctx *c, struct made_pty *mp, struct err *err)
{
	const struct model *m = c->m;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		const struct file_img *g = &m->files[i];
		const struct pty_data *gd = pty_of(g);
		struct made_slave *ms;

		if (!gd || gd->master || gd->master_id != mp->master_id)
			continue;
		ms = model_grow((void **)&mp->slaves, &mp->nslaves, sizeof(*ms));
		if (!ms)
			return err_set(err, -ENOMEM, "out of memory");
		ms->id = g->id;
		ms->fd = peer(mp->master, (int)(g->flags & PTY_OPEN_FLAGS));
		if (ms->fd < 0)
			return err_sys(err, "cannot open the slave /dev/pts/%u of a new pty",
				       mp->index);
		if (fcntl(ms->fd, F_SETFL, (int)(g->flags & PTY_SET_FLAGS)) < 0)
			return err_sys(err, "cannot set the flags of /dev/pts/%u", mp->index);
	}
	return 0;
}

/* The terminal's state; the master and its slaves are open, the pty unlocked. */
static int set_terminal(struct made_pty *mp, const struct pty_data *md, struct err *err)
{
	int v, sfd = mp->nslaves ? mp->slaves[0].fd : -1, rc = 0;
	bool own = false;

	if (md->len || md->hup) {
		if (sfd < 0) {
			sfd = peer(mp->master, O_RDWR);
			own = true;
		}
		if (sfd < 0)
			return err_sys(err, "cannot open the slave of /dev/pts/%u", mp->index);
		if (md->len)
			rc = put_through_slave(sfd, &md->tio, md->data, md->len);
		if (rc < 0)
			err_code(err, rc, "cannot put %u bytes back into /dev/pts/%u", md->len,
				 mp->index);
		/* Closing the only slave makes the master's reads fail, as they did. */
		if (own)
			close(sfd);
		if (rc < 0)
			return rc;
		sfd = mp->nslaves ? mp->slaves[0].fd : -1;
	}
	if (ioctl(mp->master, TCSETS2, &md->tio) < 0 || ioctl(mp->master, TIOCSWINSZ, &md->ws) < 0)
		return err_sys(err, "cannot set the settings of /dev/pts/%u", mp->index);
	if (md->excl && sfd >= 0 && ioctl(sfd, TIOCEXCL) < 0)
		return err_sys(err, "cannot make /dev/pts/%u exclusive", mp->index);
	v = (int)md->packet;
	if (ioctl(mp->master, TIOCPKT, &v) < 0)
		return err_sys(err, "cannot set packet mode on /dev/pts/%u", mp->index);
	v = 1;
	if (md->locked && ioctl(mp->master, TIOCSPTLCK, &v) < 0)
		return err_sys(err, "cannot lock /dev/pts/%u", mp->index);
	return 0;
}

static struct made_pty *find_or_make(struct rst_ctx *c, const struct file_img *f, struct err *err)
{
	struct pty_state **st = (struct pty_state **)fdkind_rst_state(c, FILE_PTY);
	const struct pty_data *pd = f->kd, *md = master_data(c->m, f);
	const struct file_img *mf = model_find_file(c->m, pd->master_id);
	struct made_pty *mp;
	int v = 0;

	if (!*st) {
		*st = calloc(1, sizeof(**st));
		if (!*st) {
			err_set(err, -ENOMEM, "out of memory");
			return NULL;
		}
	}
	for (uint32_t i = 0; i < (*st)->n; i++)
		if ((*st)->p[i].master_id == pd->master_id)
			return &(*st)->p[i];
	mp = model_grow((void **)&(*st)->p, &(*st)->n, sizeof(*mp));
	if (!mp) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	mp->master_id = pd->master_id;
	mp->master = open("/dev/ptmx", (int)(mf->flags & PTY_OPEN_FLAGS) | O_NOCTTY | O_CLOEXEC);
	if (mp->master < 0) {
		err_sys(err, "pid %d: cannot open /dev/ptmx", c->rp->p->pid);
		return NULL;
	}
	if (ioctl(mp->master, TIOCGPTN, &mp->index) < 0 || ioctl(mp->master, TIOCSPTLCK, &v) < 0 ||
	    fcntl(mp->master, F_SETFL, (int)(mf->flags & PTY_SET_FLAGS)) < 0) {
		err_sys(err, "pid %d: cannot set up a new pty", c->rp->p->pid);
		return NULL;
	}
	log_debug("/dev/pts/%u is back as /dev/pts/%u", md->index, mp->index);
	if (open_slaves(c, mp, err) < 0 || set_terminal(mp, md, err) < 0)
		return NULL;
	if (md->sid && !c->opts->restore_sid)
		kmsg_add(KMSG_WARN,
			 "/dev/pts/%u (now /dev/pts/%u) was the controlling terminal of session "
			 "%d: without --restore-sid its processes stay in cr_restart's session "
			 "and the new pty is nobody's controlling terminal",
			 md->index, mp->index, md->sid);
	return mp;
}

static int pty_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err)
{
	const struct pty_data *pd = f->kd;
	struct made_pty *mp = find_or_make(c, f, err);
	int fd = -1;

	(void)fdnum;
	(void)borrowed;
	if (!mp)
		return err->code;
	if (pd->master)
		fd = fcntl(mp->master, F_DUPFD_CLOEXEC, 0);
	for (uint32_t i = 0; !pd->master && i < mp->nslaves; i++)
		if (mp->slaves[i].id == f->id)
			fd = fcntl(mp->slaves[i].fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot hand descriptor %d its pty", c->rp->p->pid,
			       fdnum);
	return fd;
}

/* Is this process the leader of the session whose controlling terminal it was, and
 * has it its session back? */
static bool leads_session(const struct rst_ctx *c, const struct pty_data *md)
{
	return md && md->sid && md->sid == c->rp->p->pid && c->opts->restore_sid;
}

/* The saved terminal of a pty made for this restart. */
static const struct pty_data *made_data(const struct rst_ctx *c, const struct made_pty *mp)
{
	const struct file_img *mf = model_find_file(c->m, mp->master_id);

	return mf ? mf->kd : NULL;
}

/* In the new process of a session leader, once it has its session and before it makes
 * its children: it takes the terminal, so that they inherit it as they did. The call
 * goes through cr_restart's master of the new pty, still open in this copy of it
 * (and reaching the slave), so the leader need not hold a descriptor of it. */
static int pty_session(struct rst_ctx *c, struct err *err)
{
	const struct pty_state *st = *fdkind_rst_state(c, FILE_PTY);

	for (uint32_t i = 0; st && i < st->n; i++) {
		const struct made_pty *mp = &st->p[i];
		const struct pty_data *md = made_data(c, mp);

		if (!leads_session(c, md))
			continue;
		if (ioctl(mp->master, TIOCSCTTY, 0) < 0)
			return err_sys(
			    err,
			    "pid %d: cannot take /dev/pts/%u (saved as /dev/pts/%u) as its "
			    "controlling terminal",
			    c->rp->p->pid, mp->index, md->index);
	}
	return 0;
}

/* A descriptor of the process that is one of the pty's (master, slave or /dev/tty on
 * it), or -1. */
static int own_fd(const struct rst_ctx *c, const struct made_pty *mp)
{
	const struct proc_img *p = c->rp->p;

	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct file_img *f = model_find_file(c->m, p->fds[i].file_id);
		const struct pty_data *pd = f ? pty_of(f) : NULL;

		if (pd && pd->master_id == mp->master_id)
			return p->fds[i].fd;
	}
	return -1;
}

/* TIOCSPGRP in the leader (the call needs a process whose controlling terminal it is;
 * it is in the terminal's foreground group, its own), with its argument in crest's
 * scratch memory. Through one of its descriptors of the pty, or through /dev/tty,
 * opened and closed again, if it holds none. */
static int set_foreground(struct rst_ctx *c, const struct made_pty *mp, const struct pty_data *md,
			  pid_t pgid, struct err *err)
{
	static const char devtty[] = "/dev/tty";
	struct rst_proc *rp = c->rp;
	int32_t arg = pgid;
	uint64_t a_pgid, a_path;
	int fd = own_fd(c, mp);
	bool opened = fd < 0;
	long r, rc;

	if (rst_scratch_put(rp, 0, &arg, sizeof(arg), &a_pgid, err) < 0)
		return err->code;
	if (opened) {
		if (rst_scratch_put(rp, 64, devtty, sizeof(devtty), &a_path, err) < 0)
			return err->code;
		r = inject_syscall(&rp->inj, SYS_openat, (uint64_t)AT_FDCWD, a_path,
				   O_RDWR | O_NOCTTY | O_CLOEXEC, 0, 0, 0, err);
		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0)
			return err_code(err, (int)r,
					"pid %d: cannot open /dev/tty to set the foreground group "
					"of /dev/pts/%u",
					rp->p->pid, mp->index);
		fd = (int)r;
	}
	rc = inject_syscall(&rp->inj, SYS_ioctl, (uint64_t)fd, TIOCSPGRP, a_pgid, 0, 0, 0, err);
	if (rc == INJECT_FAILED)
		return err->code;
	if (opened) {
		r = inject_syscall(&rp->inj, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, err);
		if (r == INJECT_FAILED)
			return err->code;
	}
	if (rc < 0)
		return err_code(
		    err, (int)rc,
		    "pid %d: cannot make process group %d the foreground of /dev/pts/%u "
		    "(saved as /dev/pts/%u)",
		    rp->p->pid, md->fg, mp->index, md->index);
	return 0;
}

/* Once every process group exists, before crest leaves: the leader makes the saved
 * foreground group the terminal's again. */
static int pty_groups(struct rst_ctx *c, struct err *err)
{
	const struct pty_state *st = *fdkind_rst_state(c, FILE_PTY);

	for (uint32_t i = 0; st && i < st->n && c->opts->restore_pgid; i++) {
		const struct made_pty *mp = &st->p[i];
		const struct pty_data *md = made_data(c, mp);
		const struct rst_proc *fg = NULL;

		if (!leads_session(c, md) || !md->fg || md->fg == c->rp->p->pgid)
			continue;
		for (uint32_t k = 0; k < c->n; k++)
			if (c->all[k].p->pid == md->fg && !(c->all[k].p->flags & PROC_ZOMBIE))
				fg = &c->all[k];
		if (!fg || getpgid(fg->pid) != fg->pid) {
			kmsg_add(KMSG_WARN,
				 "pid %d: the foreground process group %d of /dev/pts/%u is not "
				 "back; its own group is in the foreground",
				 c->rp->p->pid, md->fg, md->index);
			continue;
		}
		/* As the leader sees it (--pidns). */
		if (set_foreground(c, mp, md, fg->vpid, err) < 0)
			return err->code;
	}
	return 0;
}

static void pty_cleanup(struct rst_ctx *c)
{
	struct pty_state **st = (struct pty_state **)fdkind_rst_state(c, FILE_PTY);

	if (!*st)
		return;
	for (uint32_t i = 0; i < (*st)->n; i++) {
		struct made_pty *mp = &(*st)->p[i];

		for (uint32_t k = 0; k < mp->nslaves; k++)
			if (mp->slaves[k].fd >= 0)
				close(mp->slaves[k].fd);
		free(mp->slaves);
		if (mp->master >= 0)
			close(mp->master);
	}
	free((*st)->p);
	free(*st);
	*st = NULL;
}

static void pty_describe(const struct file_img *f, struct out *o)
{
	const struct pty_data *pd = f->kd;

	out_str(o, "pty", pd->master ? "master" : "slave");
	out_u64(o, "pts", pd->index);
	if (!pd->master) {
		out_u64(o, "master_file", pd->master_id);
		return;
	}
	if (pd->sid)
		out_i64(o, "session", pd->sid);
	if (pd->fg)
		out_i64(o, "foreground_group", pd->fg);
	out_hex(o, "iflag", pd->tio.c_iflag);
	out_hex(o, "oflag", pd->tio.c_oflag);
	out_hex(o, "cflag", pd->tio.c_cflag);
	out_hex(o, "lflag", pd->tio.c_lflag);
	out_u64(o, "rows", pd->ws.ws_row);
	out_u64(o, "columns", pd->ws.ws_col);
	out_bool(o, "locked", pd->locked);
	out_bool(o, "packet_mode", pd->packet);
	if (pd->excl)
		out_bool(o, "exclusive", true);
	if (pd->hup)
		out_bool(o, "slave_closed", true);
	out_u64(o, "bytes_unread", pd->len);
}

const struct fd_kind fd_pty_kind = {
    .kind = FILE_PTY,
    .name = "pty",
    .claim = pty_claim,
    .collect = pty_collect,
    .settle = pty_settle,
    .encode = pty_encode,
    .decode = pty_decode,
    .check = pty_check,
    .open = pty_open,
    .session = pty_session,
    .groups = pty_groups,
    .cleanup = pty_cleanup,
    .describe = pty_describe,
};
