// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs view of the module's live objects: <debugfs>/xt_connlimit/objects.
 * The counts are module-wide; a test asserts "keys 0" and "conns 0" after
 * its rules are gone, before it unloads the module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "stats.h"

DEFINE_PER_CPU(struct cl_stats, cl_stats);
static struct dentry *cl_debugfs_dir;

static int objects_show(struct seq_file *m, void *unused)
{
	struct cl_stats sum = {};
	const struct cl_stats *cpu_stats;
	int cpu;

	for_each_possible_cpu(cpu) {
		cpu_stats = per_cpu_ptr(&cl_stats, cpu);
		sum.tables += READ_ONCE(cpu_stats->tables);
		sum.keys += READ_ONCE(cpu_stats->keys);
		sum.conns += READ_ONCE(cpu_stats->conns);
		sum.alloc_failures += READ_ONCE(cpu_stats->alloc_failures);
	}
	seq_printf(m, "rules %ld\n", sum.tables);
	seq_printf(m, "keys %ld\n", sum.keys);
	seq_printf(m, "conns %ld\n", sum.conns);
	seq_printf(m, "alloc_failures %ld\n", sum.alloc_failures);
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
