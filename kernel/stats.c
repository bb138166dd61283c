// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs view of the module's live objects: <debugfs>/xt_connlimit/objects.
 * The counts are module-wide; a test asserts "keys 0" and "conns 0" after
 * its rules are gone, before it unloads the module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "stats.h"

struct cl_stats cl_stats;
static struct dentry *cl_debugfs_dir;

static int objects_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "rules %ld\n", atomic_long_read(&cl_stats.tables));
	seq_printf(m, "keys %ld\n", atomic_long_read(&cl_stats.keys));
	seq_printf(m, "conns %ld\n", atomic_long_read(&cl_stats.conns));
	seq_printf(m, "alloc_failures %ld\n",
		   atomic_long_read(&cl_stats.alloc_failures));
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
