// SPDX-License-Identifier: GPL-2.0
/*
 * Named tables (revision 2).  Rules with the same --connlimit-name in one
 * network namespace share one engine table, whose keys are listed in
 * /proc/net/xt_connlimit/NAME.  A table lives while rules use it, and for
 * grace_period seconds after the last one went: a ruleset replaced in one
 * step (iptables-restore, an nft transaction) checks its new rules before
 * it destroys the old ones and never lets the count of users reach zero;
 * one flushed and re-added in several steps comes back within the grace
 * period.  Either way every live count is kept.
 *
 * Per-namespace totals are in /proc/net/stat/xt_connlimit.
 *
 * Lifetimes.  struct cl_net is the namespace's (net_generic), alive until
 * every pernet exit has run, and so until every rule of the namespace was
 * destroyed (our exit may run before or after those of iptables and
 * nf_tables).  The namespace's counters live as long as a table counts
 * into them (struct cl_netstats, refcounted).  A struct cl_name is freed by
 * whoever marks it gone under cl_net->lock: the last rule's put when there
 * is no grace period or the namespace is going, the expiry work, or the
 * namespace's exit.  That party removes its file under the lock, so the
 * exit removes the directory only once it is empty; nothing the files'
 * handlers do takes cl_net->lock.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitops.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/proc_fs.h>
#include <linux/refcount.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "xt_connlimit.h"
#include "engine.h"
#include "names.h"
#include "stats.h"

static unsigned int grace_period = 60;
module_param(grace_period, uint, 0644);
MODULE_PARM_DESC(grace_period,
		 "Seconds a named table outlives its last rule (default 60)");

static unsigned int list_uid;
module_param(list_uid, uint, 0644);
MODULE_PARM_DESC(list_uid, "Owner of /proc/net/xt_connlimit/* (default 0)");

static unsigned int list_gid;
module_param(list_gid, uint, 0644);
MODULE_PARM_DESC(list_gid, "Group of /proc/net/xt_connlimit/* (default 0)");

static unsigned int list_perms = 0600;
module_param(list_perms, uint, 0644);
MODULE_PARM_DESC(list_perms,
		 "Mode of /proc/net/xt_connlimit/* (default 0600: root only)");

enum { CL_V4, CL_V6, CL_FAMILIES };

/*
 * How a family's keys are made, fixed by the first rule of that family for
 * the table's life.  @set is written last (release), after which nothing
 * changes, so the files' handlers read it without cl_net->lock.
 */
struct cl_family_cfg {
	bool set;
	bool daddr;
	union nf_inet_addr mask;
};

struct cl_netstats {
	struct cl_counters __percpu *pcpu;
	refcount_t users;		/* the namespace, and each table */
};

struct cl_net {
	struct mutex lock;		/* names: list, users, gone, cfg, pde */
	struct list_head names;
	struct proc_dir_entry *dir;	/* /proc/net/xt_connlimit */
	struct cl_netstats *stats;
	bool dying;			/* exit ran: no grace periods */
};

struct cl_name {
	struct list_head list;		/* on cl_net->names until gone */
	char name[XT_CONNLIMIT_NAME_LEN];
	struct cl_net *cn;
	unsigned int users;		/* rules using it */
	bool gone;			/* unlinked: its unlinker frees it */
	struct cl_family_cfg cfg[CL_FAMILIES];
	struct cl_table *table;
	struct cl_netstats *stats;	/* held for @table */
	struct proc_dir_entry *pde;	/* NULL once removed */
	struct delayed_work expire;	/* grace period after the last rule */
};

static unsigned int cl_net_id __read_mostly;

/* Runs the expiry works; module exit drains it before the code goes. */
static struct workqueue_struct *cl_names_wq __read_mostly;

static struct cl_net *cl_net(const struct net *net)
{
	return net_generic(net, cl_net_id);
}

struct cl_netstats *cl_netstats_get(const struct net *net)
{
	struct cl_netstats *stats = cl_net(net)->stats;

	refcount_inc(&stats->users);
	return stats;
}

struct cl_counters __percpu *cl_netstats_pcpu(const struct cl_netstats *stats)
{
	return stats->pcpu;
}

void cl_netstats_put(struct cl_netstats *stats)
{
	if (refcount_dec_and_test(&stats->users)) {
		free_percpu(stats->pcpu);
		kfree(stats);
	}
}

/*
 * Valid names: see include/xt_connlimit.h.  They become file names in
 * /proc and nft set names, hence no '/', no "." or "..", nothing a shell
 * or iptables-save would have to quote.
 */
bool cl_name_valid(const char *name)
{
	size_t len = strnlen(name, XT_CONNLIMIT_NAME_LEN), i;

	if (len == 0 || len == XT_CONNLIMIT_NAME_LEN)
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (i = 0; i < len; i++)
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '/')
			return false;
	/* NUL-padded, so that rules compare equal byte for byte. */
	for (; i < XT_CONNLIMIT_NAME_LEN; i++)
		if (name[i])
			return false;
	return true;
}

/* ---- /proc/net/xt_connlimit/NAME ------------------------------------ */

/* A listing: every key's report, taken when the file is opened. */
struct cl_listing {
	struct cl_family_cfg cfg[CL_FAMILIES];
	struct cl_key_report *reports;
	size_t count, size;
};

static int cl_listing_add(const struct cl_key_report *report, void *arg)
{
	struct cl_listing *l = arg;
	struct cl_key_report *bigger;

	if (l->count == l->size) {
		/* No kvrealloc(): its signature differs between kernels. */
		bigger = kvmalloc_array(l->size ? 2 * l->size : 64,
					sizeof(*bigger), GFP_KERNEL);
		if (!bigger)
			return -ENOMEM;
		if (l->count)
			memcpy(bigger, l->reports, l->count * sizeof(*bigger));
		kvfree(l->reports);
		l->reports = bigger;
		l->size = l->size ? 2 * l->size : 64;
	}
	l->reports[l->count++] = *report;
	return 0;
}

static void *cl_listing_start(struct seq_file *m, loff_t *pos)
{
	struct cl_listing *l = m->private;

	return *pos < l->count ? &l->reports[*pos] : NULL;
}

static void *cl_listing_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return cl_listing_start(m, pos);
}

static void cl_listing_stop(struct seq_file *m, void *v)
{
}

/* Prefix length of a contiguous @mask of @bits bits, or -1. */
static int cl_mask_prefix(const __be32 *mask, unsigned int words)
{
	unsigned int i, plen = 0;
	u32 w;

	for (i = 0; i < words; i++) {
		w = ntohl(mask[i]);
		if (plen != 32 * i && w)
			return -1;	/* bits after a hole */
		if (~w & (~w + 1))
			return -1;	/* not of the form 1...10...0 */
		plen += hweight32(w);
	}
	return plen;
}

/*
 * One line per key:
 *   src|dst ADDRESS/PREFIX conns N peak N over N [zone N]
 * PREFIX is the mask's length, or the mask itself if not contiguous.
 */
static int cl_listing_show(struct seq_file *m, void *v)
{
	const struct cl_key_report *r = v;
	struct cl_listing *l = m->private;
	bool v6 = r->id.family == NFPROTO_IPV6;
	const struct cl_family_cfg *cfg = &l->cfg[v6 ? CL_V6 : CL_V4];
	int plen = cl_mask_prefix(cfg->mask.ip6, v6 ? 4 : 1);

	seq_printf(m, "%s ", cfg->daddr ? "dst" : "src");
	if (v6)
		seq_printf(m, "%pI6c/", r->id.addr);
	else
		seq_printf(m, "%pI4/", r->id.addr);
	if (plen >= 0)
		seq_printf(m, "%d", plen);
	else if (v6)
		seq_printf(m, "%pI6c", cfg->mask.ip6);
	else
		seq_printf(m, "%pI4", &cfg->mask.ip);
	seq_printf(m, " conns %u peak %u over %u", r->conns, r->peak, r->over);
	if (r->id.zone)
		seq_printf(m, " zone %u", r->id.zone);
	seq_putc(m, '\n');
	return 0;
}

static const struct seq_operations cl_listing_ops = {
	.start = cl_listing_start,
	.next = cl_listing_next,
	.stop = cl_listing_stop,
	.show = cl_listing_show,
};

static int cl_listing_open(struct inode *inode, struct file *file)
{
	struct cl_name *cname = pde_data(inode);
	struct cl_listing *l;
	int err, i;

	l = __seq_open_private(file, &cl_listing_ops, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (i = 0; i < CL_FAMILIES; i++) {
		/* Pairs with the release in cl_name_get(): @set comes last. */
		if (smp_load_acquire(&cname->cfg[i].set))
			l->cfg[i] = cname->cfg[i];
	}
	/* The table outlives this call: proc_remove() waits for it. */
	err = cl_table_report(cname->table, false, cl_listing_add, l);
	if (err) {
		kvfree(l->reports);
		seq_release_private(inode, file);
	}
	return err;
}

static int cl_listing_release(struct inode *inode, struct file *file)
{
	struct cl_listing *l = ((struct seq_file *)file->private_data)->private;

	kvfree(l->reports);
	return seq_release_private(inode, file);
}

/* Writing "clear" restarts the peaks and over-limit counters. */
static ssize_t cl_listing_write(struct file *file, const char __user *ubuf,
				size_t size, loff_t *pos)
{
	struct cl_name *cname = pde_data(file_inode(file));
	char buf[sizeof("clear\n")] = {};

	if (size >= sizeof(buf) || copy_from_user(buf, ubuf, size))
		return -EINVAL;
	if (strcmp(buf, "clear") && strcmp(buf, "clear\n"))
		return -EINVAL;
	cl_table_report(cname->table, true, NULL, NULL);
	return size;
}

static const struct proc_ops cl_listing_proc_ops = {
	.proc_open = cl_listing_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = cl_listing_release,
	.proc_write = cl_listing_write,
};

/* Create the name's file.  Caller holds cn->lock. */
static int cl_name_publish(struct net *net, struct cl_name *cname)
{
	kuid_t uid = make_kuid(net->user_ns, list_uid);
	kgid_t gid = make_kgid(net->user_ns, list_gid);

	cname->pde = proc_create_data(cname->name, list_perms & 0666,
				      cname->cn->dir, &cl_listing_proc_ops,
				      cname);
	if (!cname->pde)
		return -ENOMEM;
	if (uid_valid(uid) && gid_valid(gid))
		proc_set_user(cname->pde, uid, gid);
	return 0;
}

/* ---- names: get, put, expiry ------------------------------------------ */

/*
 * Take @cname off its namespace: mark it gone, unlink it, remove its file.
 * Caller holds cn->lock and frees it afterwards with cl_name_free().
 */
static void cl_name_unlink(struct cl_name *cname)
{
	cname->gone = true;
	list_del_init(&cname->list);
	proc_remove(cname->pde);	/* waits for its handlers; NULL is fine */
	cname->pde = NULL;
}

static void cl_name_destroy(struct cl_name *cname)
{
	cl_table_destroy(cname->table);
	cl_count_dec(cname->stats->pcpu, named);
	cl_netstats_put(cname->stats);
	kfree(cname);
}

/* Free a name taken off its namespace.  cn->lock not held. */
static void cl_name_free(struct cl_name *cname)
{
	/* The work may be waiting for cn->lock; it will find @gone set. */
	cancel_delayed_work_sync(&cname->expire);
	cl_name_destroy(cname);
}

static void cl_name_expire(struct work_struct *work)
{
	struct cl_name *cname = container_of(to_delayed_work(work),
					     struct cl_name, expire);
	struct cl_net *cn = cname->cn;
	bool unlinked = false;

	mutex_lock(&cn->lock);
	/* A rule may have taken it back, or someone else took it off. */
	if (!cname->users && !cname->gone) {
		cl_name_unlink(cname);
		unlinked = true;
	}
	mutex_unlock(&cn->lock);
	/* Not cl_name_free(): it would wait for this very work. */
	if (unlinked)
		cl_name_destroy(cname);
}

static struct cl_name *cl_name_find(struct cl_net *cn, const char *name)
{
	struct cl_name *cname;

	list_for_each_entry(cname, &cn->names, list)
		if (!strcmp(cname->name, name))
			return cname;
	return NULL;
}

static bool cl_cfg_equal(const struct cl_family_cfg *cfg, u8 family,
			 const union nf_inet_addr *mask, bool daddr)
{
	if (cfg->daddr != daddr)
		return false;
	if (family == NFPROTO_IPV4)
		return cfg->mask.ip == mask->ip;
	return !memcmp(&cfg->mask.in6, &mask->in6, sizeof(mask->in6));
}

static struct cl_name *cl_name_create(struct net *net, struct cl_net *cn,
				      const char *name)
{
	struct cl_name *cname;
	int err = -ENOMEM;

	cname = kzalloc(sizeof(*cname), GFP_KERNEL);
	if (!cname)
		return ERR_PTR(-ENOMEM);
	strscpy(cname->name, name, sizeof(cname->name));
	cname->cn = cn;
	INIT_DELAYED_WORK(&cname->expire, cl_name_expire);
	cname->stats = cl_netstats_get(net);
	cname->table = cl_table_create(net, cname->stats->pcpu, true);
	if (!cname->table)
		goto put_stats;
	err = cl_name_publish(net, cname);
	if (err)
		goto destroy_table;
	list_add(&cname->list, &cn->names);
	cl_count_inc(cname->stats->pcpu, named);
	return cname;

destroy_table:
	cl_table_destroy(cname->table);
put_stats:
	cl_netstats_put(cname->stats);
	kfree(cname);
	return ERR_PTR(err);
}

struct cl_name *cl_name_get(struct net *net, const char *name, u8 family,
			    const union nf_inet_addr *mask, bool daddr)
{
	struct cl_net *cn = cl_net(net);
	int fam = family == NFPROTO_IPV6 ? CL_V6 : CL_V4;
	struct cl_family_cfg *cfg;
	struct cl_name *cname;

	mutex_lock(&cn->lock);
	cname = cl_name_find(cn, name);
	if (!cname)
		cname = cl_name_create(net, cn, name);
	if (IS_ERR(cname))
		goto out;
	cfg = &cname->cfg[fam];
	if (!cfg->set) {
		cfg->daddr = daddr;
		cfg->mask = *mask;
		/* The files' handlers read @set first, without the lock. */
		smp_store_release(&cfg->set, true);
	} else if (!cl_cfg_equal(cfg, family, mask, daddr)) {
		pr_info_ratelimited("table \"%s\" already counts %s connections by another mask or direction; give this rule another name\n",
				    name, fam == CL_V6 ? "IPv6" : "IPv4");
		cname = ERR_PTR(-EINVAL);
		goto out;
	}
	/* Back from its grace period: the work, if running, sees a user. */
	if (!cname->users++)
		cancel_delayed_work(&cname->expire);
out:
	mutex_unlock(&cn->lock);
	return cname;
}

struct cl_table *cl_name_table(const struct cl_name *cname)
{
	return cname->table;
}

void cl_name_put(struct cl_name *cname)
{
	struct cl_net *cn = cname->cn;
	bool unlinked = false;

	mutex_lock(&cn->lock);
	if (!--cname->users) {
		if (!grace_period || cn->dying) {
			cl_name_unlink(cname);
			unlinked = true;
		} else {
			queue_delayed_work(cl_names_wq, &cname->expire,
					   (unsigned long)grace_period * HZ);
		}
	}
	mutex_unlock(&cn->lock);
	if (unlinked)
		cl_name_free(cname);
}

/* ---- namespaces --------------------------------------------------------- */

static int cl_stat_show(struct seq_file *m, void *v)
{
	struct cl_counters sum;

	cl_counters_sum(cl_net(seq_file_single_net(m))->stats->pcpu, &sum);
	cl_counters_show(m, &sum, "tables");
	return 0;
}

static int __net_init cl_net_init(struct net *net)
{
	struct cl_net *cn = cl_net(net);

	mutex_init(&cn->lock);
	INIT_LIST_HEAD(&cn->names);
	cn->stats = kzalloc(sizeof(*cn->stats), GFP_KERNEL);
	if (!cn->stats)
		return -ENOMEM;
	refcount_set(&cn->stats->users, 1);
	cn->stats->pcpu = alloc_percpu(struct cl_counters);
	if (!cn->stats->pcpu)
		goto put_stats;
	cn->dir = proc_mkdir("xt_connlimit", net->proc_net);
	if (!cn->dir)
		goto put_stats;
	if (!proc_create_net_single("xt_connlimit", 0444, net->proc_net_stat,
				    cl_stat_show, NULL))
		goto remove_dir;
	return 0;

remove_dir:
	remove_proc_entry("xt_connlimit", net->proc_net);
put_stats:
	cl_netstats_put(cn->stats);	/* free_percpu(NULL) is fine */
	return -ENOMEM;
}

/*
 * The namespace goes.  Its rules may be destroyed before or after this
 * runs (pernet exits run in reverse order of registration, and ours is not
 * ordered against iptables' or nf_tables'): names no rule uses are freed
 * now, the others by their last rule's put, without a grace period.  Every
 * file goes now, before /proc/net itself.
 */
static void __net_exit cl_net_exit(struct net *net)
{
	struct cl_net *cn = cl_net(net);
	struct cl_name *cname, *next;
	LIST_HEAD(unused);

	mutex_lock(&cn->lock);
	cn->dying = true;
	list_for_each_entry_safe(cname, next, &cn->names, list) {
		if (cname->users) {
			proc_remove(cname->pde);
			cname->pde = NULL;
		} else {
			cl_name_unlink(cname);
			list_add(&cname->list, &unused);
		}
	}
	mutex_unlock(&cn->lock);
	list_for_each_entry_safe(cname, next, &unused, list)
		cl_name_free(cname);
	remove_proc_entry("xt_connlimit", net->proc_net_stat);
	remove_proc_entry("xt_connlimit", net->proc_net);
	cl_netstats_put(cn->stats);
}

static struct pernet_operations cl_net_ops = {
	.init = cl_net_init,
	.exit = cl_net_exit,
	.id = &cl_net_id,
	.size = sizeof(struct cl_net),
};

int cl_names_init(void)
{
	int ret;

	cl_names_wq = alloc_workqueue("xt_connlimit_names", WQ_UNBOUND, 0);
	if (!cl_names_wq)
		return -ENOMEM;
	ret = register_pernet_subsys(&cl_net_ops);
	if (ret)
		destroy_workqueue(cl_names_wq);
	return ret;
}

/*
 * Every namespace's exit frees its idle names, but an expiry work that
 * took its name off just before may still be freeing it: wait for it.
 */
void cl_names_exit(void)
{
	unregister_pernet_subsys(&cl_net_ops);
	destroy_workqueue(cl_names_wq);
}
