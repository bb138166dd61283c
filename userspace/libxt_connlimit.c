// SPDX-License-Identifier: GPL-2.0
/*
 * libxt_connlimit.so: iptables/ip6tables extension for the connlimit match.
 *
 * Revision 1 only (source or destination address groups).  Parsing,
 * `-L` printing and `-S`/save output follow iptables 1.8.9 byte for byte,
 * and the match data it builds is the same too, so rules move freely
 * between this extension and the stock one.  Differences, all on input
 * that the stock extension mishandles:
 *
 *  - --connlimit-mask refuses prefix lengths above 32 (IPv4) / 128 (IPv6)
 *    and non-contiguous dotted masks instead of storing them as /32; a
 *    number is always a prefix length (1.8.9 read e.g. 4294967040 or
 *    0xffffff00 as the address 255.255.255.0);
 *  - ip6tables-translate declares the nft set as ipv6_addr.
 *
 * Each family has its own registration and thin wrappers that pass the
 * family down to the shared code, so nothing depends on global state.
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
};

#define F_UPTO	(1U << O_UPTO)
#define F_ABOVE	(1U << O_ABOVE)
#define F_SADDR	(1U << O_SADDR)
#define F_DADDR	(1U << O_DADDR)

static const struct xt_option_entry connlimit_opts_v1[] = {
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
	XTOPT_TABLEEND,
};

static void connlimit_help(void)
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

static void connlimit_parse(struct xt_option_call *cb, uint8_t family)
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
	}
}

static void connlimit_parse_v4(struct xt_option_call *cb)
{
	connlimit_parse(cb, NFPROTO_IPV4);
}

static void connlimit_parse_v6(struct xt_option_call *cb)
{
	connlimit_parse(cb, NFPROTO_IPV6);
}

static void connlimit_check(struct xt_fcheck_call *cb)
{
	if (!(cb->xflags & (F_UPTO | F_ABOVE)))
		xtables_error(PARAMETER_PROBLEM,
			"You must specify \"--connlimit-above\" or "
			"\"--connlimit-upto\".");
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

/*
 * nft equivalent: a dynamic set per connlimit match, named connlimit0,
 * connlimit1, ... in the order the matches are translated, whose elements are the (masked)
 * addresses, each with a ct count limit.
 */
static int connlimit_xlate(struct xt_xlate *xl,
			   const struct xt_xlate_mt_params *params,
			   uint8_t family)
{
	static unsigned int set_seq;
	const struct xt_connlimit_info *info = (const void *)params->match->data;
	bool ipv6 = family == NFPROTO_IPV6;
	char mask[INET6_ADDRSTRLEN] = "";
	unsigned int id = set_seq++;

	/* " and <mask>" only when the group is wider than one address. */
	if (connlimit_mask_to_plen(&info->mask, family) !=
	    connlimit_family_bits(family) &&
	    !inet_ntop(ipv6 ? AF_INET6 : AF_INET, &info->mask, mask,
		       sizeof(mask)))
		return 0;

	xt_xlate_set_add(xl, "connlimit%u { type %s; flags dynamic; }",
			 id, ipv6 ? "ipv6_addr" : "ipv4_addr");
	xt_xlate_add(xl, "add @connlimit%u { %s %s%s%s ct count %s%u }",
		     id, ipv6 ? "ip6" : "ip",
		     info->flags & XT_CONNLIMIT_DADDR ? "daddr" : "saddr",
		     mask[0] != '\0' ? " and " : "", mask,
		     info->flags & XT_CONNLIMIT_INVERT ? "" : "over ",
		     info->limit);
	return 1;
}

static int connlimit_xlate_v4(struct xt_xlate *xl,
			      const struct xt_xlate_mt_params *params)
{
	return connlimit_xlate(xl, params, NFPROTO_IPV4);
}

static int connlimit_xlate_v6(struct xt_xlate *xl,
			      const struct xt_xlate_mt_params *params)
{
	return connlimit_xlate(xl, params, NFPROTO_IPV6);
}

/* ---- registration ------------------------------------------------------ */

/*
 * Revision 1 only.  Revision 0 (source groups only, no saddr/daddr
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
		.help          = connlimit_help,
		.init          = connlimit_init,
		.x6_parse      = connlimit_parse_v4,
		.x6_fcheck     = connlimit_check,
		.x6_options    = connlimit_opts_v1,
		.print         = connlimit_print_v4,
		.save          = connlimit_save_v4,
		.xlate         = connlimit_xlate_v4,
	},
	{
		.version       = XTABLES_VERSION,
		.name          = "connlimit",
		.revision      = 1,
		.family        = NFPROTO_IPV6,
		.size          = XT_ALIGN(sizeof(struct xt_connlimit_info)),
		.userspacesize = offsetof(struct xt_connlimit_info, data),
		.help          = connlimit_help,
		.init          = connlimit_init,
		.x6_parse      = connlimit_parse_v6,
		.x6_fcheck     = connlimit_check,
		.x6_options    = connlimit_opts_v1,
		.print         = connlimit_print_v6,
		.save          = connlimit_save_v6,
		.xlate         = connlimit_xlate_v6,
	},
};

static void __attribute__((constructor)) connlimit_register(void)
{
	xtables_register_matches(connlimit_matches,
				 sizeof(connlimit_matches) /
				 sizeof(connlimit_matches[0]));
}
