// SPDX-License-Identifier: GPL-2.0
/*
 * The counters of stats.h: summing, printing, and the debugfs view of the
 * module-wide figures, <debugfs>/xt_connlimit/objects.  A test asserts
 * "keys 0" and "conns 0" there after its rules are gone, before it unloads
 * the module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "stats.h"

DEFINE_PER_CPU(struct cl_counters, cl_stats);
static struct dentry *cl_debugfs_dir;

void cl_counters_sum(const struct cl_counters __percpu *pcpu,
		     struct cl_counters *sum)
{
	const struct cl_counters *c;
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		c = per_cpu_ptr(pcpu, cpu);
		sum->tables += READ_ONCE(c->tables);
		sum->named += READ_ONCE(c->named);
		sum->keys += READ_ONCE(c->keys);
		sum->conns += READ_ONCE(c->conns);
		sum->alloc_failures += READ_ONCE(c->alloc_failures);
		sum->checks += READ_ONCE(c->checks);
		sum->freed += READ_ONCE(c->freed);
		sum->pends += READ_ONCE(c->pends);
	}
}

/*
 * One "name value" line per figure.  debugfs calls the tables "rules", its
 * first four lines' format since the first release.
 */
void cl_counters_show(struct seq_file *m, const struct cl_counters *sum,
		      const char *tables)
{
	seq_printf(m, "%s %ld\n", tables, sum->tables);
	seq_printf(m, "keys %ld\n", sum->keys);
	seq_printf(m, "conns %ld\n", sum->conns);
	seq_printf(m, "alloc_failures %ld\n", sum->alloc_failures);
	seq_printf(m, "named_tables %ld\n", sum->named);
	seq_printf(m, "checks %ld\n", sum->checks);
	seq_printf(m, "freed %ld\n", sum->freed);
	seq_printf(m, "pending %ld\n", sum->pends);
}

static int objects_show(struct seq_file *m, void *unused)
{
	struct cl_counters sum;

	cl_counters_sum(&cl_stats, &sum);
	cl_counters_show(m, &sum, "rules");
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(objects);

void cl_stats_init(void)
{
	/* debugfs is optional: failures here leave the module working. */
	cl_debugfs_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("objects", 0400, cl_debugfs_dir, NULL,
			    &objects_fops);
}

void cl_stats_exit(void)
{
	debugfs_remove(cl_debugfs_dir);
}
