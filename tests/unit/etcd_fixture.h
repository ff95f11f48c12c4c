/*
 * etcd_fixture.h - a real one-member etcd for a unit test: started on two
 * free loopback ports with its data in a temp dir, stopped and removed
 * by etcd_stop().  Short raft timings (heartbeat 50 ms, election 500 ms)
 * so that it elects itself at once and grants leases down to 1 s.
 *
 * Header-only on purpose: each test binary that needs it includes it.
 */
#ifndef GFS_TEST_ETCD_FIXTURE_H
#define GFS_TEST_ETCD_FIXTURE_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../master/etcd.h"
#include "util.h"

struct etcd_proc {
	pid_t pid;
	char dir[64];       /* temp dir: data and log */
	char url[64];       /* client URL */
	char peer[64];      /* peer URL */
};

/* A TCP port nothing listens on now (the kernel picks it). */
static inline unsigned etcd_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
		  !getsockname(fd, (struct sockaddr *)&a, &len));
	close(fd);
	return ntohs(a.sin_port);
}

static inline void etcd_exec(struct etcd_proc *p)
{
	char data[96], cluster[96], log[96];
	int fd;

	snprintf(data, sizeof(data), "%s/data", p->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", p->dir);
	snprintf(cluster, sizeof(cluster), "t=%s", p->peer);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execlp("etcd", "etcd", "--name", "t", "--data-dir", data,
	       "--listen-client-urls", p->url, "--advertise-client-urls",
	       p->url, "--listen-peer-urls", p->peer,
	       "--initial-advertise-peer-urls", p->peer, "--initial-cluster",
	       cluster, "--heartbeat-interval", "50", "--election-timeout",
	       "500", (char *)NULL);
	_exit(127);
}

/* Start etcd and wait (10 s at most) until it answers a read. */
static inline void etcd_start(struct etcd_proc *p)
{
	struct gfs_etcd_kv kv;
	struct gfs_etcd *e;
	int64_t deadline = gfs_mono_ms() + 10000;
	enum gfs_err err;

	strcpy(p->dir, "/tmp/gfs-etcd-XXXXXX");
	cr_assert_not_null(mkdtemp(p->dir));
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u",
		 etcd_free_port());
	snprintf(p->peer, sizeof(p->peer), "http://127.0.0.1:%u",
		 etcd_free_port());
	p->pid = fork();
	cr_assert(p->pid >= 0);
	if (!p->pid)
		etcd_exec(p);
	e = gfs_etcd_new(p->url, 500);
	do {
		usleep(50 * 1000);
		err = gfs_etcd_get(e, "/probe", &kv, NULL);
		gfs_etcd_kv_clear(&kv);
	} while (err && gfs_mono_ms() < deadline &&
		 waitpid(p->pid, NULL, WNOHANG) == 0);
	gfs_etcd_free(e);
	cr_assert_eq(err, GFS_OK, "etcd did not start (is etcd-server "
		     "installed? see %s/etcd.log)", p->dir);
}

/* Stop it for a while (SIGSTOP) or again (SIGCONT). */
static inline void etcd_signal(struct etcd_proc *p, int sig)
{
	kill(p->pid, sig);
}

static inline void etcd_stop(struct etcd_proc *p)
{
	char cmd[96];

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", p->dir);
	if (p->dir[0] && system(cmd) != 0)
		cr_log_warn("could not remove %s", p->dir);
}

#endif
