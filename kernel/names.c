// SPDX-License-Identifier: GPL-2.0
/*
 * Named tables (revision 2).  Rules with the same --connlimit-name in one
 * network namespace that count the same way (family, mask, direction)
 * share one engine table, a part of the name; the keys of every part are
 * listed in /proc/net/xt_connlimit/NAME.  A part lives while rules use it,
 * and for grace_period seconds after the last one went: a ruleset
 * replaced in one step (iptables-restore, an nft transaction) checks its
 * new rules before it destroys the old ones and never lets the count of
 * users reach zero; one flushed and re-added in several steps comes back
 * within the grace period.  Either way every live count is kept.  A
 * reload that changes a rule's mask or direction puts it in another part,
 * counting afresh, while the old rules count in theirs until they go.
 *
 * Per-namespace totals are in /proc/net/stat/xt_connlimit.
 *
 * Lifetimes.  struct cl_net is the namespace's (net_generic), alive until
 * every pernet exit has run, and so until every rule of the namespace was
 * destroyed (our exit may run before or after those of iptables and
 * nf_tables).  The namespace's counters live as long as a table counts
 * into them (struct cl_netstats, refcounted).  A struct cl_part is freed
 * by whoever marks it gone under cl_net->lock: the last rule's put when
 * there is no grace period or the namespace is going, the expiry work, or
 * the namespace's exit; a struct cl_name with its last part.  That party
 * removes the name's file under the lock, so the exit removes the
 * directory only once it is empty; nothing the files' handlers do takes
 * cl_net->lock (they take the name's own lock to walk its parts).
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
#include <linux/time.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

#include "xt_connlimit.h"
#include "compat.h"
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

/* How a part's keys are made: family, direction and mask. */
struct cl_part_cfg {
	union nf_inet_addr mask;
	u8 family;
	bool daddr;
};

/* A table's record (see cl_table_record()), and how its part counts. */
struct cl_name_record {
	struct cl_record rec;
	struct cl_part_cfg cfg;
};

struct cl_netstats {
	struct cl_counters __percpu *pcpu;
	refcount_t users;		/* the namespace, and each table */
};

struct cl_net {
	struct mutex lock;		/* names, parts, users, gone, own, pde */
	struct list_head names;
	struct list_head own;		/* struct cl_own_table of live rules */
	struct proc_dir_entry *dir;	/* /proc/net/xt_connlimit */
	struct cl_netstats *stats;
	bool dying;			/* exit ran: no grace periods */
};

/*
 * A name is one file and one or more parts: one table for each family,
 * mask and direction its rules count by.  Rules with the same name and
 * the same way of counting share a part; a rule counting another way gets
 * a part of its own.  So iptables-restore of rules whose mask changed
 * checks the new rules into a new part while the old rules still count in
 * theirs, and a rule rolled back leaves nothing behind but an idle part
 * that no other rule has to agree with.
 */
struct cl_name {
	struct list_head list;		/* on cl_net->names until gone */
	char name[XT_CONNLIMIT_NAME_LEN];
	struct cl_net *cn;
	bool gone;			/* unlinked: its unlinker frees it */
	/*
	 * @parts changes under cn->lock and this mutex, which the files'
	 * handlers take (never cn->lock) while they walk it.
	 */
	struct mutex lock;
	struct list_head parts;		/* never empty while on cn->names */
	struct cl_netstats *stats;	/* held for the parts' tables */
	struct proc_dir_entry *pde;	/* NULL once removed */
	/*
	 * Under @lock: when the name was created or last cleared (wall
	 * clock and CLOCK_BOOTTIME seconds), and the highest record of the
	 * parts freed since (its peak 0 if none).
	 */
	time64_t since_real, since_boot;
	struct cl_name_record freed;
};

struct cl_part {
	struct list_head list;		/* on cname->parts until gone */
	struct cl_name *cname;
	struct cl_part_cfg cfg;
	unsigned int users;		/* rules counting in it */
	bool gone;			/* unlinked: its unlinker frees it */
	/*
	 * The rules read it through a pointer to this field: the
	 * namespace's exit may replace it (see cl_net_exit()).
	 */
	struct cl_table *table;
	struct delayed_work expire;	/* grace period after the last rule */
};

static unsigned int cl_net_id __read_mostly;

/* Runs the expiry works; module exit drains it before the code goes. */
static struct workqueue_struct *cl_names_wq __read_mostly;

static struct cl_net *cl_net(const struct net *net)
{
	return net_generic(net, cl_net_id);
}

static struct cl_netstats *cl_netstats_get(const struct net *net)
{
	struct cl_netstats *stats = cl_net(net)->stats;

	refcount_inc(&stats->users);
	return stats;
}

static void cl_netstats_put(struct cl_netstats *stats)
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

/* A key's line: its report and how its part counts. */
struct cl_line {
	struct cl_key_report report;
	union nf_inet_addr mask;
	bool daddr;
};

/* Buckets of the histogram: [i] counts keys holding 2^i to 2^(i+1)-1. */
#define CL_HOLDING_BUCKETS	32

/*
 * A listing, taken when the file is opened: its header (the name's record
 * and the histogram of the keys' counts) and every listed key's line.
 */
struct cl_listing {
	struct cl_line *lines;
	size_t count, size;
	const struct cl_part_cfg *cfg;	/* of the part being reported */
	struct cl_name_record record;
	time64_t since_real, since_boot;
	time64_t now;			/* CLOCK_BOOTTIME seconds at open */
	u32 holding[CL_HOLDING_BUCKETS];
};

/*
 * Keep in @best the higher of it and @rec, the record of a part counting
 * by @cfg; of two equal ones, the older.
 */
static void cl_record_merge(struct cl_name_record *best,
			    const struct cl_record *rec,
			    const struct cl_part_cfg *cfg)
{
	if (!rec->peak || rec->peak < best->rec.peak)
		return;
	if (rec->peak == best->rec.peak && rec->boot >= best->rec.boot)
		return;
	best->rec = *rec;
	best->cfg = *cfg;
}

static int cl_listing_add(const struct cl_key_report *report, void *arg)
{
	struct cl_listing *l = arg;
	struct cl_line *bigger;

	if (l->count == l->size) {
		/* No kvrealloc(): its signature differs between kernels. */
		bigger = kvmalloc_array(l->size ? 2 * l->size : 64,
					sizeof(*bigger), GFP_KERNEL);
		if (!bigger)
			return -ENOMEM;
		if (l->count)
			memcpy(bigger, l->lines, l->count * sizeof(*bigger));
		kvfree(l->lines);
		l->lines = bigger;
		l->size = l->size ? 2 * l->size : 64;
	}
	l->lines[l->count].report = *report;
	l->lines[l->count].mask = l->cfg->mask;
	l->lines[l->count].daddr = l->cfg->daddr;
	l->count++;
	if (report->conns)
		l->holding[fls(report->conns) - 1]++;
	return 0;
}

/* Position 0 is the header, then one line per key. */
static void *cl_listing_start(struct seq_file *m, loff_t *pos)
{
	struct cl_listing *l = m->private;

	if (!*pos)
		return SEQ_START_TOKEN;
	return *pos <= l->count ? &l->lines[*pos - 1] : NULL;
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
 * A key: "src|dst ADDRESS/PREFIX", PREFIX the mask's length, or the mask
 * itself if not contiguous.  The parts of a name count by different masks
 * or directions, so the keys of two parts never look alike.
 */
static void cl_show_key(struct seq_file *m, const struct cl_key_id *id,
			const union nf_inet_addr *mask, bool daddr)
{
	bool v6 = id->family == NFPROTO_IPV6;
	int plen = cl_mask_prefix(mask->ip6, v6 ? 4 : 1);

	seq_printf(m, "%s ", daddr ? "dst" : "src");
	if (v6)
		seq_printf(m, "%pI6c/", id->addr);
	else
		seq_printf(m, "%pI4/", id->addr);
	if (plen >= 0)
		seq_printf(m, "%d", plen);
	else if (v6)
		seq_printf(m, "%pI6c", mask->ip6);
	else
		seq_printf(m, "%pI4", &mask->ip);
}

/*
 * A moment: "YYYY-MM-DDTHH:MM:SSZ ago SECONDS", from its wall-clock and
 * CLOCK_BOOTTIME seconds (the latter counts the seconds ago, whatever
 * the wall clock did since).
 */
static void cl_show_when(struct seq_file *m, time64_t real, time64_t boot,
			 time64_t now)
{
	struct tm tm;

	time64_to_tm(real, 0, &tm);
	seq_printf(m, "%04ld-%02d-%02dT%02d:%02d:%02dZ ago %lld",
		   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		   tm.tm_min, tm.tm_sec, max_t(time64_t, now - boot, 0));
}

/*
 * The header, three lines a parser of the key lines skips as comments:
 *   # since TIME ago S
 *   # record N [src|dst ADDRESS/PREFIX at TIME ago S [zone N]]
 *   # histogram [RANGE:KEYS ...]
 * since: the name was created or last cleared; record: the highest peak a
 * key reached since, which key and when (only "record 0" if none);
 * histogram: how many keys hold 1, 2-3, 4-7, ... connections now, up to
 * the highest range a key is in (nothing if none holds any).
 */
static void cl_listing_header(struct seq_file *m, const struct cl_listing *l)
{
	const struct cl_record *rec = &l->record.rec;
	int i, top = -1;
	u64 low;

	seq_puts(m, "# since ");
	cl_show_when(m, l->since_real, l->since_boot, l->now);
	seq_printf(m, "\n# record %u", rec->peak);
	if (rec->peak) {
		seq_putc(m, ' ');
		cl_show_key(m, &rec->id, &l->record.cfg.mask,
			    l->record.cfg.daddr);
		seq_puts(m, " at ");
		cl_show_when(m, rec->real, rec->boot, l->now);
		if (rec->id.zone)
			seq_printf(m, " zone %u", rec->id.zone);
	}
	seq_puts(m, "\n# histogram");
	for (i = 0; i < CL_HOLDING_BUCKETS; i++)
		if (l->holding[i])
			top = i;
	for (i = 0; i <= top; i++) {
		low = 1ULL << i;
		if (i)
			seq_printf(m, " %llu-%llu", low, 2 * low - 1);
		else
			seq_puts(m, " 1");
		seq_printf(m, ":%u", l->holding[i]);
	}
	seq_putc(m, '\n');
}

/* One line per key:  src|dst ADDRESS/PREFIX conns N peak N over N [zone N] */
static int cl_listing_show(struct seq_file *m, void *v)
{
	const struct cl_line *line = v;
	const struct cl_key_report *r = &line->report;

	if (v == SEQ_START_TOKEN) {
		cl_listing_header(m, m->private);
		return 0;
	}
	cl_show_key(m, &r->id, &line->mask, line->daddr);
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

/* Has @family a part some rule counts in?  Caller holds cname->lock. */
static bool cl_family_used(const struct cl_name *cname, u8 family)
{
	const struct cl_part *part;

	list_for_each_entry(part, &cname->parts, list)
		if (part->cfg.family == family && READ_ONCE(part->users))
			return true;
	return false;
}

/*
 * Listed: the parts rules count in and, for a family no rule uses any
 * more, those in their grace period.  A part left idle by a reload that
 * changed the mask (or by a rule rolled back) is not: the family's keys
 * are those its rules count now.
 */
static bool cl_part_listed(const struct cl_name *cname,
			   const struct cl_part *part)
{
	return READ_ONCE(part->users) ||
	       !cl_family_used(cname, part->cfg.family);
}

/* The name's record starts afresh now.  Caller holds cname->lock. */
static void cl_name_since_now(struct cl_name *cname)
{
	cname->since_real = ktime_get_real_seconds();
	cname->since_boot = ktime_get_boottime_seconds();
	cname->freed.rec.peak = 0;
}

static int cl_listing_open(struct inode *inode, struct file *file)
{
	struct cl_name *cname = cl_pde_data(inode);
	struct cl_listing *l;
	struct cl_part *part;
	struct cl_record rec;
	int err = 0;

	l = __seq_open_private(file, &cl_listing_ops, sizeof(*l));
	if (!l)
		return -ENOMEM;
	/* Each table outlives this call: it is freed off the list. */
	mutex_lock(&cname->lock);
	list_for_each_entry(part, &cname->parts, list) {
		if (!cl_part_listed(cname, part))
			continue;
		l->cfg = &part->cfg;
		err = cl_table_report(part->table, false, cl_listing_add, l);
		if (err)
			break;
	}
	/*
	 * After the reports, which raise it to any count they found above
	 * its key's peak: no key is listed with a peak above the record.
	 * Every part's, listed or not: each counted since the name's start.
	 */
	l->record = cname->freed;
	list_for_each_entry(part, &cname->parts, list) {
		cl_table_record(part->table, &rec);
		cl_record_merge(&l->record, &rec, &part->cfg);
	}
	l->since_real = cname->since_real;
	l->since_boot = cname->since_boot;
	l->now = ktime_get_boottime_seconds();
	mutex_unlock(&cname->lock);
	if (err) {
		kvfree(l->lines);
		seq_release_private(inode, file);
	}
	return err;
}

static int cl_listing_release(struct inode *inode, struct file *file)
{
	struct cl_listing *l = ((struct seq_file *)file->private_data)->private;

	kvfree(l->lines);
	return seq_release_private(inode, file);
}

/*
 * Writing "clear" (one write, a newline after it or not) restarts the
 * peaks and over-limit counters of every part, and the name's record from
 * the counts of its keys.  Anything else is refused
 * before anything changes: -EINVAL, or -EFAULT for a buffer that cannot
 * be read.
 */
static ssize_t cl_listing_write(struct file *file, const char __user *ubuf,
				size_t size, loff_t *pos)
{
	struct cl_name *cname = cl_pde_data(file_inode(file));
	static const char clear[] = "clear";
	char buf[sizeof(clear)];	/* "clear\n" */
	struct cl_part *part;

	if (size != sizeof(buf) - 1 && size != sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, size))
		return -EFAULT;
	if (memcmp(buf, clear, sizeof(clear) - 1) ||
	    (size == sizeof(buf) && buf[size - 1] != '\n'))
		return -EINVAL;
	mutex_lock(&cname->lock);
	cl_name_since_now(cname);
	list_for_each_entry(part, &cname->parts, list)
		cl_table_report(part->table, true, NULL, NULL);
	mutex_unlock(&cname->lock);
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

/* ---- names and parts: get, put, expiry ------------------------------- */

/*
 * Take @cname off its namespace: mark it gone, unlink it, remove its file.
 * Caller holds cn->lock, not cname->lock (proc_remove() waits for the
 * handlers, which take it), and frees it afterwards with cl_name_free().
 */
static void cl_name_unlink(struct cl_name *cname)
{
	cname->gone = true;
	list_del_init(&cname->list);
	proc_remove(cname->pde);	/* waits for its handlers; NULL is fine */
	cname->pde = NULL;
}

/* Free a name taken off its namespace, once its parts are freed. */
static void cl_name_free(struct cl_name *cname)
{
	cl_count_dec(cname->stats->pcpu, named);
	cl_netstats_put(cname->stats);
	mutex_destroy(&cname->lock);
	kfree(cname);
}

/*
 * Take @part off its name, and the name off its namespace if that was its
 * last part: then the name is returned, for the caller to free after the
 * part (cl_part_destroy()).  Caller holds cn->lock.
 */
static struct cl_name *cl_part_unlink(struct cl_part *part)
{
	struct cl_name *cname = part->cname;
	struct cl_record rec;

	part->gone = true;
	mutex_lock(&cname->lock);
	/* No rule counts in it any more: its record is final. */
	cl_table_record(part->table, &rec);
	cl_record_merge(&cname->freed, &rec, &part->cfg);
	list_del_init(&part->list);
	mutex_unlock(&cname->lock);
	if (!list_empty(&cname->parts))
		return NULL;
	cl_name_unlink(cname);
	return cname;
}

/* Free a part taken off its name, then @cname if not NULL. */
static void cl_part_destroy(struct cl_part *part, struct cl_name *cname)
{
	cl_table_destroy(part->table);
	kfree(part);
	if (cname)
		cl_name_free(cname);
}

/* As cl_part_destroy(), from anywhere but the part's expiry work. */
static void cl_part_free(struct cl_part *part, struct cl_name *cname)
{
	/* The work may be waiting for cn->lock; it will find @gone set. */
	cancel_delayed_work_sync(&part->expire);
	cl_part_destroy(part, cname);
}

static void cl_part_expire(struct work_struct *work)
{
	struct cl_part *part = container_of(to_delayed_work(work),
					    struct cl_part, expire);
	/* Whoever else frees the part (and name) first waits for us. */
	struct cl_net *cn = part->cname->cn;
	struct cl_name *cname = NULL;
	bool unlinked = false;

	mutex_lock(&cn->lock);
	/* A rule may have taken it back, or someone else took it off. */
	if (!part->users && !part->gone) {
		cname = cl_part_unlink(part);
		unlinked = true;
	}
	mutex_unlock(&cn->lock);
	/* Not cl_part_free(): it would wait for this very work. */
	if (unlinked)
		cl_part_destroy(part, cname);
}

static struct cl_name *cl_name_find(struct cl_net *cn, const char *name)
{
	struct cl_name *cname;

	list_for_each_entry(cname, &cn->names, list)
		if (!strcmp(cname->name, name))
			return cname;
	return NULL;
}

static struct cl_part *cl_part_find(struct cl_name *cname,
				    const struct cl_part_cfg *cfg)
{
	struct cl_part *part;

	list_for_each_entry(part, &cname->parts, list)
		if (part->cfg.family == cfg->family &&
		    part->cfg.daddr == cfg->daddr &&
		    !memcmp(&part->cfg.mask, &cfg->mask, sizeof(cfg->mask)))
			return part;
	return NULL;
}

/* A name without parts, its file created.  Caller holds cn->lock. */
static struct cl_name *cl_name_create(struct net *net, struct cl_net *cn,
				      const char *name)
{
	struct cl_name *cname;
	int err;

	cname = kzalloc(sizeof(*cname), GFP_KERNEL);
	if (!cname)
		return ERR_PTR(-ENOMEM);
	strscpy(cname->name, name, sizeof(cname->name));
	cname->cn = cn;
	mutex_init(&cname->lock);
	INIT_LIST_HEAD(&cname->parts);
	cl_name_since_now(cname);
	cname->stats = cl_netstats_get(net);
	err = cl_name_publish(net, cname);
	if (err) {
		cl_netstats_put(cname->stats);
		mutex_destroy(&cname->lock);
		kfree(cname);
		return ERR_PTR(err);
	}
	list_add(&cname->list, &cn->names);
	cl_count_inc(cname->stats->pcpu, named);
	return cname;
}

/* Caller holds cn->lock. */
static struct cl_part *cl_part_create(struct net *net, struct cl_name *cname,
				      const struct cl_part_cfg *cfg)
{
	struct cl_part *part;

	part = kzalloc(sizeof(*part), GFP_KERNEL);
	if (!part)
		return ERR_PTR(-ENOMEM);
	part->table = cl_table_create(net, cname->stats->pcpu, true);
	if (!part->table) {
		kfree(part);
		return ERR_PTR(-ENOMEM);
	}
	part->cname = cname;
	part->cfg = *cfg;
	INIT_DELAYED_WORK(&part->expire, cl_part_expire);
	mutex_lock(&cname->lock);
	list_add_tail(&part->list, &cname->parts);
	mutex_unlock(&cname->lock);
	return part;
}

struct cl_part *cl_name_get(struct net *net, const char *name, u8 family,
			    const union nf_inet_addr *mask, bool daddr)
{
	struct cl_part_cfg cfg = { .family = family, .daddr = daddr };
	struct cl_name *cname, *unused = NULL;
	struct cl_net *cn = cl_net(net);
	struct cl_part *part;

	/* IPv4 keys use the first word only (see connlimit_key()). */
	if (family == NFPROTO_IPV6)
		cfg.mask = *mask;
	else
		cfg.mask.ip = mask->ip;
	mutex_lock(&cn->lock);
	cname = cl_name_find(cn, name);
	if (!cname)
		cname = cl_name_create(net, cn, name);
	if (IS_ERR(cname)) {
		part = ERR_CAST(cname);
		goto out;
	}
	part = cl_part_find(cname, &cfg);
	if (!part)
		part = cl_part_create(net, cname, &cfg);
	if (IS_ERR(part)) {
		/* A name lives only with parts: this one just came. */
		if (list_empty(&cname->parts)) {
			cl_name_unlink(cname);
			unused = cname;
		}
		goto out;
	}
	/* Back from its grace period: the work, if running, sees a user. */
	if (!part->users)
		cancel_delayed_work(&part->expire);
	/* The listings read it without cn->lock. */
	WRITE_ONCE(part->users, part->users + 1);
out:
	mutex_unlock(&cn->lock);
	if (unused)
		cl_name_free(unused);
	return part;
}

struct cl_table **cl_part_table(struct cl_part *part)
{
	return &part->table;
}

void cl_name_put(struct cl_part *part)
{
	struct cl_net *cn = part->cname->cn;
	struct cl_name *cname = NULL;
	bool unlinked = false;

	mutex_lock(&cn->lock);
	WRITE_ONCE(part->users, part->users - 1);
	if (!part->users) {
		if (!grace_period || cn->dying) {
			cname = cl_part_unlink(part);
			unlinked = true;
		} else {
			queue_delayed_work(cl_names_wq, &part->expire,
					   (unsigned long)grace_period * HZ);
		}
	}
	mutex_unlock(&cn->lock);
	if (unlinked)
		cl_part_free(part, cname);
}

/* ---- the rules' own tables --------------------------------------------- */

int cl_own_table_create(struct net *net, struct cl_own_table *own)
{
	struct cl_net *cn = cl_net(net);

	own->stats = cl_netstats_get(net);
	own->table = cl_table_create(net, own->stats->pcpu, false);
	if (!own->table) {
		cl_netstats_put(own->stats);
		return -ENOMEM;
	}
	mutex_lock(&cn->lock);
	list_add(&own->list, &cn->own);
	mutex_unlock(&cn->lock);
	return 0;
}

void cl_own_table_destroy(struct net *net, struct cl_own_table *own)
{
	struct cl_net *cn = cl_net(net);

	mutex_lock(&cn->lock);
	list_del(&own->list);
	mutex_unlock(&cn->lock);
	cl_table_destroy(own->table);
	cl_netstats_put(own->stats);
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
	INIT_LIST_HEAD(&cn->own);
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
 * Put a fresh table in *@tablep and the old one in @old[*@n].  Caller
 * holds cn->lock.
 */
static void cl_table_renew(struct net *net, struct cl_table **tablep,
			   struct cl_counters __percpu *netc, bool peaks,
			   struct cl_table **old, unsigned int *n)
{
	struct cl_table *fresh = cl_table_create(net, netc, peaks);

	if (!fresh) {
		pr_warn_ratelimited("namespace exit: no memory to let go of the counted connections at once; conntrack waits for the background work\n");
		return;
	}
	old[(*n)++] = *tablep;
	/* The rules read it with READ_ONCE(), under RCU. */
	WRITE_ONCE(*tablep, fresh);
}

/*
 * A namespace going away: let go of every conntrack its tables hold.
 * Conntrack's exit, which runs after ours (we use it, so it was loaded
 * first), spins until no conntrack of the namespace is referenced any
 * more.  The rules holding ours are destroyed by the exits of the modules
 * that keep them (iptables' tables, nf_tables), which run after
 * conntrack's when those were loaded before it, as is usual: without
 * this, conntrack would spin until our background work found each
 * conntrack dead, up to CL_SWEEP_PASSES passes of a second for large keys.
 *
 * No packet reaches a rule any more (those modules unregistered their
 * hooks in their pre_exit methods), but each table in use is replaced by
 * an empty one rather than emptied under the rules, and destroyed after a
 * grace period: a packet that did get there would find a table.  Caller
 * holds cn->lock; returns the old tables (@n of them) to destroy after
 * synchronize_rcu(), or NULL.
 */
static struct cl_table **cl_net_renew(struct net *net, struct cl_net *cn,
				      unsigned int *n)
{
	struct cl_own_table *own;
	struct cl_name *cname;
	struct cl_part *part;
	struct cl_table **old;
	unsigned int count = 0;

	*n = 0;
	list_for_each_entry(cname, &cn->names, list)
		list_for_each_entry(part, &cname->parts, list)
			count++;
	list_for_each_entry(own, &cn->own, list)
		count++;
	if (!count)
		return NULL;
	old = kvmalloc_array(count, sizeof(*old), GFP_KERNEL);
	if (!old) {
		pr_warn_ratelimited("namespace exit: no memory to let go of the counted connections at once; conntrack waits for the background work\n");
		return NULL;
	}
	list_for_each_entry(cname, &cn->names, list)
		list_for_each_entry(part, &cname->parts, list)
			cl_table_renew(net, &part->table, cname->stats->pcpu,
				       true, old, n);
	list_for_each_entry(own, &cn->own, list)
		cl_table_renew(net, &own->table, own->stats->pcpu, false,
			       old, n);
	return old;
}

/*
 * The namespace goes.  Its rules may be destroyed before or after this
 * runs (pernet exits run in reverse order of registration, and ours is not
 * ordered against iptables' or nf_tables'): parts no rule uses are freed
 * now, the others by their last rule's put, without a grace period, and
 * a name with its last part.  Every file goes now, before /proc/net
 * itself, and every conntrack reference (cl_net_renew()).
 */
static void __net_exit cl_net_exit(struct net *net)
{
	struct cl_net *cn = cl_net(net);
	struct cl_name *cname, *nname, *empty;
	struct cl_part *part, *npart;
	struct cl_table **old;
	LIST_HEAD(idle_parts);
	LIST_HEAD(idle_names);
	unsigned int i, n;

	mutex_lock(&cn->lock);
	cn->dying = true;
	list_for_each_entry_safe(cname, nname, &cn->names, list) {
		proc_remove(cname->pde);
		cname->pde = NULL;
		list_for_each_entry_safe(part, npart, &cname->parts, list) {
			if (part->users)
				continue;
			empty = cl_part_unlink(part);
			list_add(&part->list, &idle_parts);
			if (empty)
				list_add(&empty->list, &idle_names);
		}
	}
	old = cl_net_renew(net, cn, &n);
	mutex_unlock(&cn->lock);
	if (old) {
		synchronize_rcu();
		for (i = 0; i < n; i++)
			cl_table_destroy(old[i]);
		kvfree(old);
	}
	list_for_each_entry_safe(part, npart, &idle_parts, list)
		cl_part_free(part, NULL);
	list_for_each_entry_safe(cname, nname, &idle_names, list)
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
