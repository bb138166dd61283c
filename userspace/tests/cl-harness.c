// SPDX-License-Identifier: GPL-2.0
/*
 * cl-harness: drive an iptables match extension the way iptables does,
 * with no kernel: options in, text out.  Built for libxt_connlimit.so, to
 * test revisions the running kernel cannot load; any match extension
 * works.  tests/fuzz/cl-fuzz.c includes this file for its parse and output
 * code (its main is renamed there).
 *
 *   cl-harness -l LIB [-4|-6] [-r REV] [-m NAME] [-h | -d HEX] [--] ARG...
 *
 *   -l LIB   the extension to load (a path with a '/'), dlopen()ed after
 *            libxtables is set up, as iptables loads it
 *   -4, -6   the family (iptables or ip6tables; default -4)
 *   -r REV   the revision to use (default 2): libxtables is told that the
 *            "kernel" has exactly this revision, so it picks it as
 *            iptables would pick the highest one the kernel has
 *   -m NAME  the match (default connlimit)
 *   -h       print the match's help and stop
 *   -d HEX   take the match data from HEX (at most the match's size, the
 *            rest zero) instead of parsing options: what a kernel would
 *            hand back
 *   ARG...   the match's options, exactly as after "-m NAME" on an
 *            iptables command line ("!" inverts the next option)
 *
 * The options go through getopt_long() with the merged option table and
 * xtables_option_mpcall()/xtables_option_mfcall(), the x6 parse path of
 * iptables 1.8.9.  Then, on standard output, one line each:
 *
 *   revision: REV
 *   data: HEX          the whole match data (m->size bytes)
 *   print:TEXT         what "iptables -L" shows after the match name
 *   save:TEXT          what "iptables -S" shows after "-m NAME"
 *   xlate-set: TEXT    the nft set declaration(s) xlate added (may be empty)
 *   xlate-rule: TEXT   the nft rule part, or "xlate: not translated"
 *
 * An error, from libxtables or the extension, is printed on standard error
 * as "error: MESSAGE" (trailing newlines dropped) and the harness exits
 * with the status iptables would (2 for a parameter problem).  Usage
 * errors exit 64.
 */
#include <dlfcn.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xtables.h>

#define EXIT_USAGE	64

static unsigned int harness_rev = 2;

static int harness_compat_rev(const char *name, uint8_t rev, int opt)
{
	(void)name;
	(void)opt;
	return rev == harness_rev;
}

static void __attribute__((noreturn, format(printf, 2, 3)))
harness_exit_err(enum xtables_exittype status, const char *msg, ...)
{
	char buf[4096];
	size_t len;
	va_list ap;

	va_start(ap, msg);
	vsnprintf(buf, sizeof(buf), msg, ap);
	va_end(ap);
	len = strlen(buf);
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	fflush(stdout);
	fprintf(stderr, "error: %s\n", buf);
	exit(status);
}

static struct option harness_no_opts[] = {
	{ .name = NULL },
};

static struct xtables_globals harness_globals = {
	.program_name    = "cl-harness",
	.program_version = "1",
	.orig_opts       = harness_no_opts,
	.exit_err        = harness_exit_err,
	.compat_rev      = harness_compat_rev,
};

static void __attribute__((noreturn)) usage(const char *why)
{
	fprintf(stderr, "cl-harness: %s\n"
		"usage: cl-harness -l LIB [-4|-6] [-r REV] [-m NAME] "
		"[-h | -d HEX] [--] ARG...\n", why);
	exit(EXIT_USAGE);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* -d: @hex into @data (@size bytes, already zero). */
static void harness_load_hex(unsigned char *data, size_t size,
			     const char *hex)
{
	size_t len = strlen(hex), i;
	int hi, lo;

	if (len % 2 != 0 || len / 2 > size)
		usage("-d wants an even number of hex digits, at most twice "
		      "the match's size");
	for (i = 0; i < len / 2; i++) {
		hi = hex_digit(hex[2 * i]);
		lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			usage("-d wants hex digits only");
		data[i] = (unsigned char)(hi << 4 | lo);
	}
}

/* The match's options, as iptables parses what follows "-m NAME". */
static void harness_parse(struct xtables_match *m, int argc, char **argv)
{
	struct option *opts;
	bool invert = false;
	int c;

	opts = xtables_options_xfrm(harness_globals.orig_opts, NULL,
				    m->x6_options, &m->option_offset);
	if (!opts)
		xtables_error(OTHER_PROBLEM, "out of memory");
	harness_globals.opts = opts;

	opterr = 0;
	/* 0, not 1: glibc then drops all state of an earlier getopt run. */
	optind = 0;
	while ((c = getopt_long(argc, argv, "-:", opts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (strcmp(optarg, "!") != 0)
				xtables_error(PARAMETER_PROBLEM,
					      "Bad argument `%s'", optarg);
			if (invert)
				xtables_error(PARAMETER_PROBLEM,
					      "multiple consecutive ! not allowed");
			invert = true;
			break;
		case ':':
			xtables_error(PARAMETER_PROBLEM,
				      "option \"%s\" requires an argument",
				      argv[optind - 1]);
		case '?':
			xtables_error(PARAMETER_PROBLEM,
				      "unknown option \"%s\"", argv[optind - 1]);
		default:
			xtables_option_mpcall(c, argv, invert, m, NULL);
			invert = false;
			break;
		}
	}
	if (invert)
		xtables_error(PARAMETER_PROBLEM, "\"!\" before nothing");
	xtables_option_mfcall(m);
}

/* As iptables sets up a match it is about to parse or list. */
static void harness_alloc_match(struct xtables_match *m)
{
	size_t size = XT_ALIGN(sizeof(struct xt_entry_match)) + m->size;

	m->m = xtables_calloc(1, size);
	m->m->u.match_size = size;
	snprintf(m->m->u.user.name, sizeof(m->m->u.user.name), "%s", m->name);
	m->m->u.user.revision = m->revision;
	if (m->udata_size)
		m->udata = xtables_calloc(1, m->udata_size);
}

#ifndef CL_NO_XT_XLATE_SET_ADD
static void harness_xlate(struct xtables_match *m, uint8_t family,
			  const void *ip)
{
	struct xt_xlate_mt_params params = {
		.ip = ip,
		.match = m->m,
		.numeric = 1,
	};
	struct xt_xlate *xl;

	xl = xt_xlate_alloc(10240);
	xl_xlate_set_family(xl, family);
	if (m->xlate(xl, &params))
		printf("xlate-set: %s\nxlate-rule: %s\n",
		       xt_xlate_set_get(xl), xt_xlate_get(xl));
	else
		printf("xlate: not translated\n");
	xt_xlate_free(xl);
}
#endif

static void harness_output(struct xtables_match *m, uint8_t family)
{
	/* Zeroed room for the ipt_ip/ip6t_ip6 print and save may look at. */
	static const unsigned char ip[256];
	size_t i;

	printf("revision: %u\ndata: ", m->revision);
	for (i = 0; i < m->size; i++)
		printf("%02x", m->m->data[i]);
	printf("\n");
	if (m->print) {
		printf("print:");
		m->print(ip, m->m, 1);
		printf("\n");
	}
	if (m->save) {
		printf("save:");
		m->save(ip, m->m);
		printf("\n");
	}
	if (!m->xlate)
		return;
#ifdef CL_NO_XT_XLATE_SET_ADD
	(void)family;
#else
	harness_xlate(m, family, ip);
#endif
}

int main(int argc, char **argv)
{
	const char *lib = NULL, *hex = NULL, *name = "connlimit";
	uint8_t family = NFPROTO_IPV4;
	struct xtables_match *m;
	bool help = false;
	char *end;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-4") == 0) {
			family = NFPROTO_IPV4;
		} else if (strcmp(a, "-6") == 0) {
			family = NFPROTO_IPV6;
		} else if (strcmp(a, "-h") == 0) {
			help = true;
		} else if (strcmp(a, "-l") == 0 && i + 1 < argc) {
			lib = argv[++i];
		} else if (strcmp(a, "-m") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(a, "-d") == 0 && i + 1 < argc) {
			hex = argv[++i];
		} else if (strcmp(a, "-r") == 0 && i + 1 < argc) {
			harness_rev = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || harness_rev > 255)
				usage("-r wants a revision 0-255");
		} else {
			break;
		}
	}
	if (!lib || !strchr(lib, '/'))
		usage("-l wants the extension's path, with a '/'");

	if (xtables_init_all(&harness_globals, family) < 0)
		usage("xtables_init_all failed");
	if (!dlopen(lib, RTLD_NOW)) {
		fprintf(stderr, "cl-harness: %s\n", dlerror());
		return EXIT_USAGE;
	}
	m = xtables_find_match(name, XTF_DONT_LOAD, NULL);
	if (!m || m->revision != harness_rev) {
		fprintf(stderr, "cl-harness: %s registers no %s revision %u "
			"for this family\n", lib, name, harness_rev);
		return EXIT_USAGE;
	}
	if (help) {
		if (m->help)
			m->help();
		return 0;
	}

	harness_alloc_match(m);
	if (hex) {
		if (i < argc)
			usage("-d takes no options after it");
		harness_load_hex(m->m->data, m->size, hex);
	} else {
		if (m->init)
			m->init(m->m);
		/* getopt wants a program name in front of the options. */
		argv[i - 1] = argv[0];
		harness_parse(m, argc - i + 1, argv + i - 1);
	}
	harness_output(m, family);
	return 0;
}
