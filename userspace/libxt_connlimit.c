// SPDX-License-Identifier: GPL-2.0
/*
 * libxt_connlimit.so: iptables/ip6tables extension for the connlimit match.
 *
 * Revision 1 (source or destination address groups): parsing, `-L`
 * printing and `-S`/save output follow iptables 1.8.9 byte for byte, and
 * the match data it builds is the same too, so rules move freely between
 * this extension and the stock one.  Differences, all on input that the
 * stock extension mishandles:
 *
 *  - --connlimit-mask refuses prefix lengths above 32 (IPv4) / 128 (IPv6)
 *    and non-contiguous dotted masks instead of storing them as /32; a
 *    number is always a prefix length (1.8.9 read e.g. 4294967040 or
 *    0xffffff00 as the address 255.255.255.0);
 *  - ip6tables-translate declares the nft set as ipv6_addr.
 *
 * Revision 2 (this project's module only) adds --connlimit-name, a table
 * shared by every rule of that name in the network namespace.  libxtables
 * uses one revision per extension for the whole process, the highest the
 * kernel has, so with our module loaded every rule is revision 2: without
 * a name it parses, prints and saves exactly as revision 1.  Revision 1
 * (a kernel with only its own connlimit) checks the name, then drops it
 * with one warning per rule: the rule loads with its limit, counted per
 * rule, so that a saved ruleset with named rules still restores rather
 * than leaving the machine with no firewall at all.
 *
 * Each family and revision has its own registration and thin wrappers
 * that pass the family down to the shared code, so nothing depends on
 * global state.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <xtables.h>

#include "xt_connlimit.h"

enum {
	O_UPTO = 0,
	O_ABOVE,
	O_MASK,
	O_SADDR,
	O_DADDR,
	O_NAME,
};

#define F_UPTO	(1U << O_UPTO)
#define F_ABOVE	(1U << O_ABOVE)
#define F_SADDR	(1U << O_SADDR)
#define F_DADDR	(1U << O_DADDR)
#define F_NAME	(1U << O_NAME)

/* Revision 2 begins with revision 1's fields: they share the option table. */
_Static_assert(offsetof(struct xt_connlimit_info_v2, mask) ==
	       offsetof(struct xt_connlimit_info, mask) &&
	       offsetof(struct xt_connlimit_info_v2, limit) ==
	       offsetof(struct xt_connlimit_info, limit) &&
	       offsetof(struct xt_connlimit_info_v2, flags) ==
	       offsetof(struct xt_connlimit_info, flags),
	       "revision 2 must start with revision 1's fields");

/*
 * Both revisions.  No option stores past the fields both revisions have:
 * revision 1 keeps a name in its udata only, to drop it with a warning
 * (see connlimit_check_v1).
 */
static const struct xt_option_entry connlimit_opts[] = {
	{.name = "connlimit-upto", .id = O_UPTO, .type = XTTYPE_UINT32,
	 .excl = F_ABOVE, .flags = XTOPT_INVERT | XTOPT_PUT,
	 XTOPT_POINTER(struct xt_connlimit_info, limit)},
	{.name = "connlimit-above", .id = O_ABOVE, .type = XTTYPE_UINT32,
	 .excl = F_UPTO, .flags = XTOPT_INVERT | XTOPT_PUT,
	 XTOPT_POINTER(struct xt_connlimit_info, limit)},
	/* Parsed here rather than by XTTYPE_PLENMASK: see connlimit_parse_mask */
	{.name = "connlimit-mask", .id = O_MASK, .type = XTTYPE_STRING},
	{.name = "connlimit-saddr", .id = O_SADDR, .type = XTTYPE_NONE,
	 .excl = F_DADDR},
	{.name = "connlimit-daddr", .id = O_DADDR, .type = XTTYPE_NONE,
	 .excl = F_SADDR},
	/* Checked and stored by connlimit_parse_name */
	{.name = "connlimit-name", .id = O_NAME, .type = XTTYPE_STRING},
	XTOPT_TABLEEND,
};

static void connlimit_help_common(void)
{
	printf(
"connlimit match options:\n"
"  [!] --connlimit-upto n    match while the address group has at most n\n"
"                            connections (\"!\" turns it into --connlimit-above)\n"
"  [!] --connlimit-above n   match once the address group has more than n\n"
"                            connections (\"!\" turns it into --connlimit-upto)\n"
"  --connlimit-mask len      group addresses by this prefix length or\n"
"                            contiguous netmask (default: 32 for IPv4,\n"
"                            128 for IPv6)\n"
"  --connlimit-saddr         count connections per source group (default)\n"
"  --connlimit-daddr         count connections per destination group\n");
}

static void connlimit_help(void)
{
	connlimit_help_common();
	printf(
"  --connlimit-name name     dropped with a warning: the running kernel's\n"
"                            connlimit lacks revision 2 (named tables), so\n"
"                            the rule counts on its own\n");
}

static void connlimit_help_v2(void)
{
	connlimit_help_common();
	printf(
"  --connlimit-name name     count in the table NAME, shared by every rule\n"
"                            of that name and listed in\n"
"                            /proc/net/xt_connlimit/NAME\n");
}

/* ---- address family helpers ------------------------------------------- */

static unsigned int connlimit_family_bits(uint8_t family)
{
	return family == NFPROTO_IPV6 ? 128 : 32;
}

/* Number of 32-bit mask words the family uses. */
static unsigned int connlimit_family_words(uint8_t family)
{
	return connlimit_family_bits(family) / 32;
}

/*
 * Build the stored mask from a prefix length.  Words past the prefix are
 * zero, also the unused words 1..3 of an IPv4 rule: this is exactly what
 * iptables' own prefix-length parsing stores, and legacy and nft both
 * compare these bytes when a rule is deleted by specification.
 */
static void connlimit_mask_from_plen(union nf_inet_addr *mask,
				     unsigned int plen)
{
	unsigned int i, bits;

	for (i = 0; i < 4; i++) {
		bits = plen > 32 * i ? plen - 32 * i : 0;
		if (bits >= 32)
			mask->all[i] = 0xFFFFFFFFU;
		else if (bits == 0)
			mask->all[i] = 0;
		else
			mask->all[i] = htonl(~0U << (32 - bits));
	}
}

/* Position of the highest set bit, 1-based; 0 for no bits. */
static unsigned int connlimit_bit_length(uint32_t v)
{
	unsigned int n = 0;

	for (; v != 0; v >>= 1)
		n++;
	return n;
}

/*
 * Prefix length shown by print/save: the family width less the bit length
 * of each inverted mask word.  Equal to the prefix length for every mask
 * this extension stores, and the same figure iptables prints for any other
 * mask a rule might carry.
 */
static unsigned int connlimit_mask_to_plen(const union nf_inet_addr *mask,
					   uint8_t family)
{
	unsigned int i, host_bits = 0;

	for (i = 0; i < connlimit_family_words(family); i++)
		host_bits += connlimit_bit_length(~ntohl(mask->all[i]));
	return connlimit_family_bits(family) - host_bits;
}

/* ---- parsing ----------------------------------------------------------- */

static void connlimit_init(struct xt_entry_match *match)
{
	struct xt_connlimit_info *info = (void *)match->data;

	/* Full-length prefix for either family until --connlimit-mask. */
	memset(&info->mask, 0xFF, sizeof(info->mask));
}

/* True if @arg is written as an (unsigned or negative) integer. */
static bool connlimit_looks_numeric(const char *arg)
{
	char *end;

	while (isspace((unsigned char)*arg))
		arg++;
	if (*arg == '+' || *arg == '-')
		arg++;
	if (!isdigit((unsigned char)*arg))
		return false;
	errno = 0;
	strtoull(arg, &end, 0);
	return *end == '\0';
}

/*
 * A netmask in address notation, as iptables reads it (numeric host
 * lookup in the rule's family).  Returns the prefix length, -1 for a
 * non-contiguous mask, -2 if @arg is no address of the family at all.
 */
static int connlimit_netmask_plen(const char *arg, uint8_t family)
{
	struct addrinfo hints = {
		.ai_family = family == NFPROTO_IPV6 ? AF_INET6 : AF_INET,
		.ai_flags = AI_NUMERICHOST,
	};
	struct addrinfo *res;
	int plen;

	if (getaddrinfo(arg, NULL, &hints, &res) != 0)
		return -2;
	if (res->ai_family == AF_INET6)
		plen = xtables_ip6mask_to_cidr(
			&((const struct sockaddr_in6 *)res->ai_addr)->sin6_addr);
	else
		plen = xtables_ipmask_to_cidr(
			&((const struct sockaddr_in *)res->ai_addr)->sin_addr);
	freeaddrinfo(res);
	return plen < 0 ? -1 : plen;
}

/*
 * --connlimit-mask: a prefix length 0..32 / 0..128 (any base strtoul
 * knows, like iptables), or a contiguous netmask in address notation.
 * Everything else is refused; numbers are prefix lengths only, never
 * addresses.
 */
static unsigned int connlimit_parse_mask(const struct xt_option_call *cb,
					 uint8_t family)
{
	unsigned int max = connlimit_family_bits(family), plen;
	int ret;

	if (xtables_strtoui(cb->arg, NULL, &plen, 0, max))
		return plen;

	if (connlimit_looks_numeric(cb->arg))
		xtables_error(PARAMETER_PROBLEM,
			"%s: bad value for option \"--%s\": prefix length "
			"\"%s\" is out of range (0-%u).",
			cb->ext_name, cb->entry->name, cb->arg, max);

	ret = connlimit_netmask_plen(cb->arg, family);
	if (ret == -1)
		xtables_error(PARAMETER_PROBLEM,
			"%s: bad value for option \"--%s\": netmask \"%s\" "
			"is not contiguous; give a prefix length (0-%u).",
			cb->ext_name, cb->entry->name, cb->arg, max);
	if (ret < 0)
		xtables_error(PARAMETER_PROBLEM,
			"%s: bad value for option \"--%s\", neither a valid "
			"network mask nor valid CIDR (0-%u).",
			cb->ext_name, cb->entry->name, max);
	return ret;
}

/* ---- table names (revision 2) ------------------------------------------- */

/* Room for the longest reason connlimit_name_problem formats. */
#define CONNLIMIT_WHY_LEN	160

static bool connlimit_name_char_ok(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '/' && c != '"' && c != '\'';
}

/*
 * Why the @len bytes at @name are no table name, in words that follow
 * "bad value for option ...: ", or NULL for a good name.  The kernel takes
 * 1 to XT_CONNLIMIT_NAME_LEN - 1 printable ASCII characters other than
 * '/', and neither "." nor "..".  This extension refuses the space, '"'
 * and '\'' as well: a space splits a saved rule's argument and
 * iptables-restore reads '"' as a quote, so such a name would not survive
 * iptables-save and iptables-restore, and iptables-translate prints its nft
 * commands between single quotes.  @why (CONNLIMIT_WHY_LEN bytes) holds a
 * reason that needs formatting.
 */
static const char *connlimit_name_problem(const char *name, size_t len,
					  char *why)
{
	unsigned char c;
	char what[16];
	size_t i;

	if (len == 0)
		return "the name is empty.";
	for (i = 0; i < len; i++) {
		c = name[i];
		if (connlimit_name_char_ok(c))
			continue;
		if (c == ' ')
			snprintf(what, sizeof(what), "a space");
		else if (c == '\'')
			snprintf(what, sizeof(what), "\"'\"");
		else if (c > ' ' && c < 0x7f)
			snprintf(what, sizeof(what), "'%c'", c);
		else
			snprintf(what, sizeof(what), "byte 0x%02x", c);
		snprintf(why, CONNLIMIT_WHY_LEN,
			 "%s at position %zu is not allowed (names are "
			 "printable ASCII without spaces, '/', '\"' or \"'\").",
			 what, i + 1);
		return why;
	}
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return "\".\" and \"..\" are not allowed.";
	if (len > XT_CONNLIMIT_NAME_LEN - 1) {
		snprintf(why, CONNLIMIT_WHY_LEN,
			 "the name is %zu characters long, at most %u are "
			 "allowed.", len, XT_CONNLIMIT_NAME_LEN - 1);
		return why;
	}
	return NULL;
}

/* Length of the name a rule holds (the kernel's data is not trusted). */
static size_t connlimit_name_len(const struct xt_connlimit_info_v2 *info)
{
	return strnlen(info->name, sizeof(info->name));
}

/*
 * --connlimit-name: stored NUL-padded into @name (XT_CONNLIMIT_NAME_LEN
 * bytes), as the kernel requires; a bad name is refused by either revision.
 */
static void connlimit_parse_name(const struct xt_option_call *cb, char *name)
{
	char buf[CONNLIMIT_WHY_LEN];
	size_t len = strlen(cb->arg);
	const char *why;

	why = connlimit_name_problem(cb->arg, len, buf);
	if (why)
		xtables_error(PARAMETER_PROBLEM,
			"%s: bad value for option \"--%s\": %s",
			cb->ext_name, cb->entry->name, why);
	memset(name, 0, XT_CONNLIMIT_NAME_LEN);
	memcpy(name, cb->arg, len);
}

/* ---- parsing, both revisions ---------------------------------------------- */

static void connlimit_parse(struct xt_option_call *cb, uint8_t family,
			    unsigned int revision)
{
	struct xt_connlimit_info *info = cb->data;

	xtables_option_parse(cb);
	switch (cb->entry->id) {
	case O_UPTO:
		/* "upto n" is the inverse of "above n"; "!" flips it back. */
		if (cb->invert)
			info->flags &= ~XT_CONNLIMIT_INVERT;
		else
			info->flags |= XT_CONNLIMIT_INVERT;
		break;
	case O_ABOVE:
		if (cb->invert)
			info->flags |= XT_CONNLIMIT_INVERT;
		else
			info->flags &= ~XT_CONNLIMIT_INVERT;
		break;
	case O_MASK:
		connlimit_mask_from_plen(&info->mask,
					 connlimit_parse_mask(cb, family));
		break;
	case O_SADDR:
		info->flags &= ~XT_CONNLIMIT_DADDR;
		break;
	case O_DADDR:
		info->flags |= XT_CONNLIMIT_DADDR;
		break;
	case O_NAME:
		/*
		 * Revision 1: libxtables picked it, so the kernel has no
		 * revision 2 (its own module, not ours).  The name is kept
		 * aside, out of the match data, for connlimit_check_v1.
		 */
		if (revision < 2)
			connlimit_parse_name(cb, cb->udata);
		else
			connlimit_parse_name(cb, ((struct xt_connlimit_info_v2 *)
						  cb->data)->name);
		break;
	}
}

static void connlimit_parse_v4(struct xt_option_call *cb)
{
	connlimit_parse(cb, NFPROTO_IPV4, 1);
}

static void connlimit_parse_v6(struct xt_option_call *cb)
{
	connlimit_parse(cb, NFPROTO_IPV6, 1);
}

static void connlimit_parse2_v4(struct xt_option_call *cb)
{
	connlimit_parse(cb, NFPROTO_IPV4, 2);
}

static void connlimit_parse2_v6(struct xt_option_call *cb)
{
	connlimit_parse(cb, NFPROTO_IPV6, 2);
}

static void connlimit_check(struct xt_fcheck_call *cb)
{
	if (!(cb->xflags & (F_UPTO | F_ABOVE)))
		xtables_error(PARAMETER_PROBLEM,
			"You must specify \"--connlimit-above\" or "
			"\"--connlimit-upto\".");
}

/*
 * Revision 1: a rule that was given a (valid) name loads without it, as a
 * rule that counts on its own, rather than failing -- and with it a whole
 * iptables-restore, which would leave the machine with no rules at all.
 * One warning per rule, once the rule is known to be good.  -C and -D
 * find the rule as it was added, without the name.
 */
static void connlimit_check_v1(struct xt_fcheck_call *cb)
{
	connlimit_check(cb);
	if (!(cb->xflags & F_NAME))
		return;
	/* libxtables checks exclusions after this: a bad rule gets no warning */
	xtables_options_fcheck(cb->ext_name, cb->xflags, connlimit_opts);
	fprintf(stderr,
		"Warning: %s: --connlimit-name %s dropped: the running "
		"kernel's %s match lacks revision 2 (named tables), so this "
		"rule counts its connections on its own, with its limit.\n",
		cb->ext_name, (const char *)cb->udata, cb->ext_name);
}

/* ---- output ------------------------------------------------------------- */

static void connlimit_print(const struct xt_entry_match *match,
			    uint8_t family)
{
	const struct xt_connlimit_info *info = (const void *)match->data;

	printf(" #conn %s/%u %s %u",
	       info->flags & XT_CONNLIMIT_DADDR ? "dst" : "src",
	       connlimit_mask_to_plen(&info->mask, family),
	       info->flags & XT_CONNLIMIT_INVERT ? "<=" : ">",
	       info->limit);
}

/*
 * Revision 2: revision 1's output, then the name if the rule has one.  A
 * control character (only in a name from a kernel bug or another tool)
 * is written as \xNN: it would end the line or reach the terminal.
 */
static void connlimit_print2(const struct xt_entry_match *match,
			     uint8_t family)
{
	const struct xt_connlimit_info_v2 *info = (const void *)match->data;
	size_t i, len = connlimit_name_len(info);
	unsigned char c;

	connlimit_print(match, family);
	if (len == 0)
		return;
	printf(" name ");
	for (i = 0; i < len; i++) {
		c = info->name[i];
		if (iscntrl(c))
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void connlimit_print_v4(const void *ip,
			       const struct xt_entry_match *match, int numeric)
{
	(void)ip;
	(void)numeric;
	connlimit_print(match, NFPROTO_IPV4);
}

static void connlimit_print_v6(const void *ip,
			       const struct xt_entry_match *match, int numeric)
{
	(void)ip;
	(void)numeric;
	connlimit_print(match, NFPROTO_IPV6);
}

static void connlimit_save(const struct xt_entry_match *match,
			   uint8_t family)
{
	const struct xt_connlimit_info *info = (const void *)match->data;

	printf(" --connlimit-%s %u --connlimit-mask %u --connlimit-%s",
	       info->flags & XT_CONNLIMIT_INVERT ? "upto" : "above",
	       info->limit,
	       connlimit_mask_to_plen(&info->mask, family),
	       info->flags & XT_CONNLIMIT_DADDR ? "daddr" : "saddr");
}

/*
 * Revision 2: revision 1's options, then the name if the rule has one.  A
 * name this extension would not have stored (a kernel bug or another tool)
 * is written quoted, so the line still parses and iptables-restore says
 * what is wrong with it; its control characters are written as spaces (a
 * newline would end the line, and the name is refused all the same).
 */
static void connlimit_save2(const struct xt_entry_match *match,
			    uint8_t family)
{
	const struct xt_connlimit_info_v2 *info = (const void *)match->data;
	size_t i, len = connlimit_name_len(info);
	char name[XT_CONNLIMIT_NAME_LEN + 1], why[CONNLIMIT_WHY_LEN];

	connlimit_save(match, family);
	if (len == 0)
		return;
	printf(" --connlimit-name");
	if (!connlimit_name_problem(info->name, len, why)) {
		printf(" %.*s", (int)len, info->name);
		return;
	}
	memcpy(name, info->name, len);
	name[len] = '\0';
	for (i = 0; i < len; i++)
		if (iscntrl((unsigned char)name[i]))
			name[i] = ' ';
	xtables_save_string(name);
}

static void connlimit_save_v4(const void *ip,
			      const struct xt_entry_match *match)
{
	(void)ip;
	connlimit_save(match, NFPROTO_IPV4);
}

static void connlimit_save_v6(const void *ip,
			      const struct xt_entry_match *match)
{
	(void)ip;
	connlimit_save(match, NFPROTO_IPV6);
}

#ifndef CL_NO_XT_XLATE_SET_ADD
/*
 * nft equivalent: a dynamic set whose elements are the (masked) addresses,
 * each with a ct count limit.  An unnamed match gets a set of its own,
 * named connlimit0, connlimit1, ... in the order the matches are
 * translated; a named one (@name non-NULL) uses its table name, so rules
 * sharing a table share the set too.
 */
static int connlimit_xlate(struct xt_xlate *xl,
			   const struct xt_xlate_mt_params *params,
			   uint8_t family, const char *name)
{
	static unsigned int set_seq;
	const struct xt_connlimit_info *info = (const void *)params->match->data;
	bool ipv6 = family == NFPROTO_IPV6;
	char mask[INET6_ADDRSTRLEN] = "";
	char set[XT_CONNLIMIT_NAME_LEN + 16];

	if (name)
		snprintf(set, sizeof(set), "%s", name);
	else
		snprintf(set, sizeof(set), "connlimit%u", set_seq++);

	/* " and <mask>" only when the group is wider than one address. */
	if (connlimit_mask_to_plen(&info->mask, family) !=
	    connlimit_family_bits(family) &&
	    !inet_ntop(ipv6 ? AF_INET6 : AF_INET, &info->mask, mask,
		       sizeof(mask)))
		return 0;

	xt_xlate_set_add(xl, "%s { type %s; flags dynamic; }",
			 set, ipv6 ? "ipv6_addr" : "ipv4_addr");
	xt_xlate_add(xl, "add @%s { %s %s%s%s ct count %s%u }",
		     set, ipv6 ? "ip6" : "ip",
		     info->flags & XT_CONNLIMIT_DADDR ? "daddr" : "saddr",
		     mask[0] != '\0' ? " and " : "", mask,
		     info->flags & XT_CONNLIMIT_INVERT ? "" : "over ",
		     info->limit);
	return 1;
}

/*
 * Whether nft (1.0.6) reads @name as a set name: it takes no quoted set
 * names, only a letter, '_' or '.' followed by letters, digits, '_', '.',
 * '-' or '/'.  (Names that are nft keywords, such as "limit" or "log",
 * pass this test and nft still refuses them.)
 */
static bool connlimit_nft_set_name_ok(const char *name)
{
	const char *p;

	if (!isalpha((unsigned char)name[0]) && name[0] != '_' &&
	    name[0] != '.')
		return false;
	for (p = name + 1; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_.-/", *p))
			return false;
	return true;
}

/*
 * Revision 2.  A name nft cannot take as a set name, or that this extension
 * would not have stored, is not translated.
 */
static int connlimit_xlate2(struct xt_xlate *xl,
			    const struct xt_xlate_mt_params *params,
			    uint8_t family)
{
	const struct xt_connlimit_info_v2 *info =
		(const void *)params->match->data;
	size_t len = connlimit_name_len(info);
	char name[XT_CONNLIMIT_NAME_LEN + 1], why[CONNLIMIT_WHY_LEN];

	if (len == 0)
		return connlimit_xlate(xl, params, family, NULL);
	if (connlimit_name_problem(info->name, len, why))
		return 0;
	memcpy(name, info->name, len);
	name[len] = '\0';
	if (!connlimit_nft_set_name_ok(name))
		return 0;
	return connlimit_xlate(xl, params, family, name);
}

static int connlimit_xlate_v4(struct xt_xlate *xl,
			      const struct xt_xlate_mt_params *params)
{
	return connlimit_xlate(xl, params, NFPROTO_IPV4, NULL);
}

static int connlimit_xlate_v6(struct xt_xlate *xl,
			      const struct xt_xlate_mt_params *params)
{
	return connlimit_xlate(xl, params, NFPROTO_IPV6, NULL);
}
#endif /* CL_NO_XT_XLATE_SET_ADD */

static void connlimit_print2_v4(const void *ip,
				const struct xt_entry_match *match,
				int numeric)
{
	(void)ip;
	(void)numeric;
	connlimit_print2(match, NFPROTO_IPV4);
}

static void connlimit_print2_v6(const void *ip,
				const struct xt_entry_match *match,
				int numeric)
{
	(void)ip;
	(void)numeric;
	connlimit_print2(match, NFPROTO_IPV6);
}

static void connlimit_save2_v4(const void *ip,
			       const struct xt_entry_match *match)
{
	(void)ip;
	connlimit_save2(match, NFPROTO_IPV4);
}

static void connlimit_save2_v6(const void *ip,
			       const struct xt_entry_match *match)
{
	(void)ip;
	connlimit_save2(match, NFPROTO_IPV6);
}

#ifndef CL_NO_XT_XLATE_SET_ADD
static int connlimit_xlate2_v4(struct xt_xlate *xl,
			       const struct xt_xlate_mt_params *params)
{
	return connlimit_xlate2(xl, params, NFPROTO_IPV4);
}

static int connlimit_xlate2_v6(struct xt_xlate *xl,
			       const struct xt_xlate_mt_params *params)
{
	return connlimit_xlate2(xl, params, NFPROTO_IPV6);
}
#endif /* CL_NO_XT_XLATE_SET_ADD */

/*
 * Without xt_xlate_set_add() a translation could not declare the set its
 * rule adds to: the rule would load into no nft ruleset.  Untranslated is
 * the correct answer there ("nft # -m connlimit ...").
 */
#ifdef CL_NO_XT_XLATE_SET_ADD
#define CL_XLATE(fn) NULL
#else
#define CL_XLATE(fn) fn
#endif

/* ---- registration ------------------------------------------------------ */

/*
 * Revisions 1 and 2.  Revision 0 (source groups only, no saddr/daddr
 * options) is not registered by the in-kernel match of any kernel this
 * project supports nor by our module, so iptables would never pick it;
 * leaving it out keeps one code path and one set of options.
 */
static struct xtables_match connlimit_matches[] = {
	{
		.version       = XTABLES_VERSION,
		.name          = "connlimit",
		.revision      = 1,
		.family        = NFPROTO_IPV4,
		.size          = XT_ALIGN(sizeof(struct xt_connlimit_info)),
		.userspacesize = offsetof(struct xt_connlimit_info, data),
		.udata_size    = XT_CONNLIMIT_NAME_LEN,
		.help          = connlimit_help,
		.init          = connlimit_init,
		.x6_parse      = connlimit_parse_v4,
		.x6_fcheck     = connlimit_check_v1,
		.x6_options    = connlimit_opts,
		.print         = connlimit_print_v4,
		.save          = connlimit_save_v4,
		.xlate         = CL_XLATE(connlimit_xlate_v4),
	},
	{
		.version       = XTABLES_VERSION,
		.name          = "connlimit",
		.revision      = 1,
		.family        = NFPROTO_IPV6,
		.size          = XT_ALIGN(sizeof(struct xt_connlimit_info)),
		.userspacesize = offsetof(struct xt_connlimit_info, data),
		.udata_size    = XT_CONNLIMIT_NAME_LEN,
		.help          = connlimit_help,
		.init          = connlimit_init,
		.x6_parse      = connlimit_parse_v6,
		.x6_fcheck     = connlimit_check_v1,
		.x6_options    = connlimit_opts,
		.print         = connlimit_print_v6,
		.save          = connlimit_save_v6,
		.xlate         = CL_XLATE(connlimit_xlate_v6),
	},
	{
		.version       = XTABLES_VERSION,
		.name          = "connlimit",
		.revision      = 2,
		.family        = NFPROTO_IPV4,
		.size          = XT_ALIGN(sizeof(struct xt_connlimit_info_v2)),
		.userspacesize = offsetof(struct xt_connlimit_info_v2, data),
		.help          = connlimit_help_v2,
		.init          = connlimit_init,
		.x6_parse      = connlimit_parse2_v4,
		.x6_fcheck     = connlimit_check,
		.x6_options    = connlimit_opts,
		.print         = connlimit_print2_v4,
		.save          = connlimit_save2_v4,
		.xlate         = CL_XLATE(connlimit_xlate2_v4),
	},
	{
		.version       = XTABLES_VERSION,
		.name          = "connlimit",
		.revision      = 2,
		.family        = NFPROTO_IPV6,
		.size          = XT_ALIGN(sizeof(struct xt_connlimit_info_v2)),
		.userspacesize = offsetof(struct xt_connlimit_info_v2, data),
		.help          = connlimit_help_v2,
		.init          = connlimit_init,
		.x6_parse      = connlimit_parse2_v6,
		.x6_fcheck     = connlimit_check,
		.x6_options    = connlimit_opts,
		.print         = connlimit_print2_v6,
		.save          = connlimit_save2_v6,
		.xlate         = CL_XLATE(connlimit_xlate2_v6),
	},
};

#define CONNLIMIT_NMATCHES \
	(sizeof(connlimit_matches) / sizeof(connlimit_matches[0]))

/*
 * libxtables (1.8.9) picks a revision the first time "connlimit" is looked
 * up, but a higher one the kernel refused (revision 2, on a kernel with
 * only the in-kernel module) stays on its list of candidates: every later
 * lookup in the process asks the kernel again and prints "Warning:
 * Extension connlimit is not supported, missing kernel module?", e.g. for
 * the second connlimit match of a rule or the second rule listed.  So the
 * choice is made here, while libxtables loads this file, and the entries
 * of that family above the chosen revision (all of them if it took none)
 * are given a family that no lookup asks for.
 *
 * Lower revisions libxtables drops, though the kernel that has revision 2
 * has revision 1 too: a rule another extension added as revision 1 (the
 * stock one, say) would list as "[unsupported revision]" and be lost by
 * iptables-save.  Listing finds a rule's revision by following the chosen
 * entry's next pointers through entries of the same name and family
 * (xtables_find_match_revision), so the lower ones are put there.
 * Without libxtables set up (xt_params unset) there is nothing to look up
 * yet.
 */
/*
 * Whether M is on libxtables' list of registered matches already.  Older
 * libxtables (1.8.7) puts the lower revisions there itself, after the
 * chosen one; linking such an entry a second time would close the list
 * into a loop, and iptables walks that list on every command
 * (iptables-restore-translate then spun forever on its second connlimit
 * rule).
 */
static bool connlimit_listed(const struct xtables_match *m)
{
	const struct xtables_match *p;

	for (p = xtables_matches; p; p = p->next)
		if (p == m)
			return true;
	return false;
}

static void connlimit_retire_unchosen(void)
{
	struct xtables_match *chosen, *tail, *m;
	unsigned int i;

	chosen = xtables_find_match("connlimit", XTF_DONT_LOAD, NULL);
	tail = chosen;
	for (i = 0; i < CONNLIMIT_NMATCHES; i++) {
		m = &connlimit_matches[i];
		if (m == chosen || (chosen && m->family != chosen->family))
			continue;
		if (chosen && m->revision < chosen->revision) {
			if (connlimit_listed(m))
				continue;
			/* The array lists revision 1 first: one link each. */
			m->next = tail->next;
			tail->next = m;
			tail = m;
			continue;
		}
		m->family = NFPROTO_NUMPROTO;
	}
}

static void __attribute__((constructor)) connlimit_register(void)
{
	xtables_register_matches(connlimit_matches, CONNLIMIT_NMATCHES);
	if (xt_params)
		connlimit_retire_unchosen();
}
