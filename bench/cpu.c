/*
 * cpu.c: CPU time of the load generator itself (getrusage), CPU time and
 * memory of the server under test (a process tree read from /proc), and the
 * file limit.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

#define CPU_MAX_PROCS	65536

struct cpu_proc {
	pid_t		 pid;
	pid_t		 ppid;
	unsigned long long ticks;	/* utime + stime + cutime + cstime */
};

static int	 cpu_read_stat(pid_t, struct cpu_proc *);
static int	 cpu_cmp(const void *, const void *);
static int	 cpu_in_tree(const struct cpu_proc *, size_t, size_t,
		     const pid_t *, size_t);
static int	 proc_tree(const pid_t *, size_t,
		     void (*)(const struct cpu_proc *, void *), void *);
static void	 cpu_add(const struct cpu_proc *, void *);
static void	 mem_add(const struct cpu_proc *, void *);

/* User plus system seconds of this process. */
double
cpu_self(void)
{
	struct rusage	ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		fatal("%s: getrusage", __func__);
	return ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

static int
cpu_read_stat(pid_t pid, struct cpu_proc *p)
{
	char			 path[64], buf[1024], *s;
	FILE			*f;
	size_t			 n;
	int			 ppid;
	unsigned long long	 ut, st;
	long long		 cut, cst;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name is in parentheses and may hold anything. */
	if ((s = strrchr(buf, ')')) == NULL)
		return (-1);
	if (sscanf(s + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %lld %lld", &ppid, &ut, &st, &cut, &cst) != 5)
		return (-1);
	p->pid = pid;
	p->ppid = ppid;
	p->ticks = ut + st + (unsigned long long)cut + (unsigned long long)cst;
	return (0);
}

static int
cpu_cmp(const void *a, const void *b)
{
	const struct cpu_proc	*pa = a, *pb = b;

	return (pa->pid < pb->pid ? -1 : pa->pid > pb->pid);
}

/* 1 if procs[i] is one of pids or descends from one; procs is sorted. */
static int
cpu_in_tree(const struct cpu_proc *procs, size_t n, size_t i,
    const pid_t *pids, size_t npids)
{
	const struct cpu_proc	*p = &procs[i];
	struct cpu_proc		 key;
	size_t			 depth, k;

	for (depth = 0; depth < 64 && p != NULL; depth++) {
		for (k = 0; k < npids; k++)
			if (pids[k] == p->pid)
				return (1);
		if (p->ppid <= 0)
			return (0);
		key.pid = p->ppid;
		p = bsearch(&key, procs, n, sizeof *procs, cpu_cmp);
	}
	return (0);
}

/*
 * Call fn for each of the given processes and each of their descendants
 * (a scan of /proc, sorted by pid); -1 if one of the processes is gone.
 */
static int
proc_tree(const pid_t *pids, size_t npids,
    void (*fn)(const struct cpu_proc *, void *), void *arg)
{
	struct cpu_proc	*procs;
	struct dirent	*de;
	DIR		*d;
	size_t		 n = 0, i, k, found = 0;

	if ((d = opendir("/proc")) == NULL)
		fatal("%s: /proc", __func__);
	procs = xreallocarray(NULL, CPU_MAX_PROCS, sizeof *procs);
	while (n < CPU_MAX_PROCS && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (cpu_read_stat((pid_t)atoi(de->d_name), &procs[n]) == 0)
			n++;
	}
	closedir(d);
	qsort(procs, n, sizeof *procs, cpu_cmp);
	for (i = 0; i < n; i++) {
		for (k = 0; k < npids; k++)
			if (procs[i].pid == pids[k])
				found++;
		if (cpu_in_tree(procs, n, i, pids, npids))
			fn(&procs[i], arg);
	}
	free(procs);
	return (found < npids ? -1 : 0);
}

static void
cpu_add(const struct cpu_proc *p, void *arg)
{
	unsigned long long	*ticks = arg;

	*ticks += p->ticks;
}

/*
 * Seconds of CPU used by the given processes, their threads, and every
 * descendant, living (from its own counters) or reaped (from its parent's
 * cutime and cstime). -1 if one of the processes is gone.
 */
double
cpu_tree(const pid_t *pids, size_t npids)
{
	unsigned long long	 ticks = 0;
	long			 hz = sysconf(_SC_CLK_TCK);

	if (npids == 0)
		return (0);
	if (proc_tree(pids, npids, cpu_add, &ticks) == -1)
		return (-1);
	return ((double)ticks / (double)(hz > 0 ? hz : 100));
}

/* Add one process's Rss and Pss (kB) to the mem_use in arg. */
static void
mem_add(const struct cpu_proc *p, void *arg)
{
	struct mem_use		*mu = arg;
	char			 path[64], line[256];
	FILE			*f;
	unsigned long long	 v;
	int			 got = 0;

	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)p->pid);
	if ((f = fopen(path, "r")) == NULL)
		return;		/* gone since the scan */
	while (fgets(line, sizeof line, f) != NULL && got != 3) {
		if (sscanf(line, "Rss: %llu kB", &v) == 1) {
			mu->mu_rss_kb += v;
			got |= 1;
		} else if (sscanf(line, "Pss: %llu kB", &v) == 1) {
			mu->mu_pss_kb += v;
			got |= 2;
		}
	}
	fclose(f);
	if (got == 3)
		mu->mu_procs++;
}

/*
 * Resident (Rss) and proportional (Pss: shared pages divided among their
 * sharers) memory of the given processes and their living descendants;
 * threads share their process's. -1 if one of the processes is gone.
 */
int
mem_tree(const pid_t *pids, size_t npids, struct mem_use *mu)
{
	memset(mu, 0, sizeof *mu);
	return (proc_tree(pids, npids, mem_add, mu));
}

/*
 * Busy and total ticks of each CPU since boot. Busy includes steal: time a
 * hypervisor gave to someone else is time the benchmark did not get.
 */
void
cpu_cores_read(struct cpu_cores *cc)
{
	FILE			*f;
	char			 line[512];
	unsigned		 id;
	unsigned long long	 v[8];

	memset(cc, 0, sizeof *cc);
	if ((f = fopen("/proc/stat", "r")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' ||
		    line[3] > '9')
			continue;
		memset(v, 0, sizeof v);
		/* user nice system idle iowait irq softirq steal */
		if (sscanf(line + 3, "%u %llu %llu %llu %llu %llu %llu %llu "
		    "%llu", &id, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		    &v[6], &v[7]) < 5 || id >= CPU_CORES_MAX)
			continue;
		cc->cc_busy[id] = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		cc->cc_total[id] = cc->cc_busy[id] + v[3] + v[4];
		if (id + 1 > cc->cc_n)
			cc->cc_n = id + 1;
	}
	fclose(f);
}

/* Raise the open file limit to fit n connections; -1 if it cannot. */
int
cpu_raise_nofile(unsigned n)
{
	struct rlimit	rl;
	rlim_t		want = (rlim_t)n + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (-1);
	if (rl.rlim_cur >= want)
		return (0);
	if (rl.rlim_max < want)
		rl.rlim_max = want;	/* works as root */
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			return (-1);
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur < want)
			return (-1);
	}
	return (0);
}
