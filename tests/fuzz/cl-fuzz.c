// SPDX-License-Identifier: GPL-2.0
/*
 * cl-fuzz: libFuzzer target for libxt_connlimit.so.  It drives the
 * extension as iptables does, through libxtables, with cl-harness's code
 * (included below): options parsed by getopt_long() over the merged option
 * table and xtables_option_mpcall()/xtables_option_mfcall() (x6 parse,
 * final check), then print, save and xlate; or match data as a kernel
 * hands it back to "iptables -S" / "-L" (any bytes), then print, save and
 * xlate.  Both families, both revisions.
 *
 * The extension, built with the sanitizers and coverage, is dlopen()ed
 * twice, as iptables and as ip6tables would load it: two copies of the
 * file, libxt_connlimit-ipv4.so and libxt_connlimit-ipv6.so, next to this
 * program (or in $CL_FUZZ_LIBDIR), each registering its family.  Revision 2
 * is the one libxtables picks ("the kernel has revision 2"); revision 1 is
 * reached as listing reaches it, with xtables_find_match_revision().
 *
 * Input: byte 0 selects, by its low three bits,
 *   bit 0   family: 0 IPv4, 1 IPv6
 *   bit 1   revision: 0 revision 2, 1 revision 1
 *   bit 2   0: options; 1: match data
 * so the seeds use '0'..'7'.  The rest is, for options, the arguments that
 * follow "-m connlimit", separated by NUL bytes (argv can hold any other
 * byte; nothing is no arguments, a lone NUL two empty ones); for match
 * data, the match's data bytes (cut at, or zero-filled to, the match's
 * size: 32 bytes for revision 1, 72 for revision 2).
 *
 * What counts as a failure, besides what the sanitizers and LeakSanitizer
 * catch (each argument and the match are heap blocks of their exact size):
 *   - an error other than a parameter problem while parsing, or any error
 *     while printing, saving or translating;
 *   - anything on standard error while parsing but, for an accepted
 *     revision-1 rule, the one warning that its name was dropped;
 *   - output that is not one line per item (a newline in print or save
 *     output breaks "iptables -L" and "iptables-save" files);
 *   - a save line, read back as iptables-restore reads it, that does not
 *     parse into a rule that prints and saves the same (iptables-save |
 *     iptables-restore must keep every rule), except that match data from
 *     the kernel with a name the extension refuses must be refused for
 *     its name (and not be translated).
 * A failure prints "cl-fuzz: ..." and aborts, so libFuzzer saves the input.
 * CL_FUZZ_ECHO=1 prints each run's output and errors on standard error.
 */
#define _GNU_SOURCE	/* strchrnul */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <unistd.h>

/* cl-harness's parse and output code; its main stays unused. */
#define main cl_harness_main
int cl_harness_main(int argc, char **argv);
#include "cl-harness.c"
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_ARGS	64

/* [0] IPv4, [1] IPv6; each [0] revision 2, [1] revision 1. */
static struct xtables_match *fuzz_matches[2][2];

static jmp_buf fuzz_jmp;
static bool fuzz_armed;		/* a parse is running: errors jump back */
static char fuzz_err[4096];
static bool fuzz_echo;
static FILE *fuzz_real_stderr;	/* while fuzz_parse catches stderr */

static void __attribute__((noreturn, format(printf, 1, 2)))
fuzz_fail(const char *fmt, ...)
{
	FILE *out = fuzz_real_stderr ? fuzz_real_stderr : stderr;
	va_list ap;

	fflush(stdout);
	fprintf(out, "cl-fuzz: ");
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fprintf(out, "\n");
	abort();
}

/*
 * xt_params->exit_err: iptables prints the message and exits; here the
 * message is formatted (the format and its arguments are under test too)
 * and the parse that called it is abandoned.
 */
static void __attribute__((noreturn, format(printf, 2, 3)))
fuzz_exit_err(enum xtables_exittype status, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	vsnprintf(fuzz_err, sizeof(fuzz_err), msg, ap);
	va_end(ap);
	if (!fuzz_armed)
		fuzz_fail("error %d outside option parsing: %s", status,
			  fuzz_err);
	if (status != PARAMETER_PROBLEM)
		fuzz_fail("error %d (not a parameter problem): %s", status,
			  fuzz_err);
	fuzz_armed = false;
	longjmp(fuzz_jmp, 1);
}

/* ---- setup ------------------------------------------------------------ */

/* Load one copy of the extension for @family, find both revisions. */
static void fuzz_load(const char *dir, unsigned int idx, uint8_t family)
{
	struct xtables_match *m2, *m1;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/libxt_connlimit-ipv%c.so", dir,
		 idx ? '6' : '4');
	xtables_set_nfproto(family);
	if (!dlopen(path, RTLD_NOW))
		fuzz_fail("%s", dlerror());
	m2 = xtables_find_match("connlimit", XTF_DONT_LOAD, NULL);
	if (!m2 || m2->revision != 2)
		fuzz_fail("%s: libxtables picked no revision 2", path);
	m1 = xtables_find_match_revision("connlimit", XTF_DONT_LOAD, m2, 1);
	if (!m1)
		fuzz_fail("%s: revision 1 is not reachable for listing", path);
	fuzz_matches[idx][0] = m2;
	fuzz_matches[idx][1] = m1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char exe[PATH_MAX], *slash;
	const char *dir = getenv("CL_FUZZ_LIBDIR");
	ssize_t len;

	(void)argc;
	(void)argv;
	if (!dir) {
		len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (len < 0)
			fuzz_fail("/proc/self/exe: %s", strerror(errno));
		exe[len] = '\0';
		slash = strrchr(exe, '/');
		*slash = '\0';
		dir = exe;
	}
	fuzz_echo = getenv("CL_FUZZ_ECHO") != NULL;

	harness_globals.exit_err = fuzz_exit_err;
	harness_rev = 2;
	if (xtables_init_all(&harness_globals, NFPROTO_IPV4) < 0)
		fuzz_fail("xtables_init_all failed");
	fuzz_load(dir, 0, NFPROTO_IPV4);
	fuzz_load(dir, 1, NFPROTO_IPV6);
	return 0;
}

/* ---- one rule --------------------------------------------------------- */

/* A fresh match, as a new iptables process would have it. */
static void fuzz_begin(struct xtables_match *m, uint8_t family)
{
	xtables_set_nfproto(family);
	harness_globals.option_offset = 0;
	m->mflags = 0;
	harness_alloc_match(m);
}

static void fuzz_end(struct xtables_match *m)
{
	free(m->m);
	m->m = NULL;
	free(m->udata);
	m->udata = NULL;
}

/*
 * What a parse wrote to standard error, @text (@len bytes): nothing, or
 * for an accepted revision-1 rule (a kernel without revision 2) at most
 * the one line saying its name was dropped.  A refused rule never warns.
 */
static void fuzz_check_stderr(const struct xtables_match *m, bool ok,
			      const char *text, size_t len)
{
	static const char warn[] = "Warning: connlimit: --connlimit-name ";
	static const char why[] = " dropped: the running kernel's connlimit "
		"match lacks revision 2 (named tables), so this rule counts "
		"its connections on its own, with its limit.\n";
	size_t wl = sizeof(warn) - 1, yl = sizeof(why) - 1;

	if (len == 0)
		return;
	if (!ok || m->revision != 1 || len <= wl + yl ||
	    memcmp(text, warn, wl) != 0 ||
	    memcmp(text + len - yl, why, yl) != 0 ||
	    memchr(text, '\n', len - 1))
		fuzz_fail("unexpected output on standard error (revision %u, "
			  "%s): %.*s", m->revision, ok ? "accepted" : "refused",
			  (int)len, text);
}

/*
 * Parse @argv (argv[0] a program name) into @m's fresh match: true if it
 * was accepted, false for a parameter problem (in fuzz_err).  Standard
 * error is caught meanwhile and checked (fuzz_check_stderr).
 */
static bool fuzz_parse(struct xtables_match *m, int argc, char **argv)
{
	volatile bool ok = false;
	FILE *real = stderr, *mem;
	char *text = NULL;
	size_t len = 0;

	if (m->init)
		m->init(m->m);
	fuzz_err[0] = '\0';
	mem = open_memstream(&text, &len);
	if (!mem)
		fuzz_fail("open_memstream: %s", strerror(errno));
	fuzz_real_stderr = real;
	stderr = mem;
	if (setjmp(fuzz_jmp) == 0) {
		fuzz_armed = true;
		harness_parse(m, argc, argv);
		fuzz_armed = false;
		ok = true;
	}
	stderr = real;
	fuzz_real_stderr = NULL;
	if (fclose(mem) != 0 || !text)
		fuzz_fail("standard error stream failed");
	if (fuzz_echo)
		fputs(text, stderr);
	fuzz_check_stderr(m, ok, text, len);
	free(text);
	/* harness_parse's merged option table, as iptables frees it */
	if (harness_globals.opts != harness_globals.orig_opts)
		free(harness_globals.opts);
	harness_globals.opts = NULL;
	if (fuzz_echo && !ok)
		fprintf(stderr, "error: %s\n", fuzz_err);
	return ok;
}

/* harness_output's text, in a heap buffer. */
static char *fuzz_output(struct xtables_match *m, uint8_t family)
{
	FILE *real = stdout, *mem;
	char *buf = NULL;
	size_t len = 0;

	fflush(real);
	mem = open_memstream(&buf, &len);
	if (!mem)
		fuzz_fail("open_memstream: %s", strerror(errno));
	stdout = mem;
	harness_output(m, family);
	stdout = real;
	if (fclose(mem) != 0 || !buf)
		fuzz_fail("output stream failed");
	if (fuzz_echo)
		fputs(buf, stderr);
	return buf;
}

/*
 * The line of @out that starts with @key, without key and newline, into
 * @line (@size bytes); false if there is none.
 */
static bool fuzz_line(const char *out, const char *key, char *line,
		      size_t size)
{
	size_t klen = strlen(key), len;
	const char *p = out, *nl;

	for (; *p != '\0'; p = nl + 1) {
		nl = strchrnul(p, '\n');
		if (strncmp(p, key, klen) == 0) {
			len = (size_t)(nl - p) - klen;
			if (len >= size)
				fuzz_fail("%s line too long (%zu bytes)", key,
					  len);
			memcpy(line, p + klen, len);
			line[len] = '\0';
			return true;
		}
		if (*nl == '\0')
			break;
	}
	return false;
}

/*
 * Every line of @out starts with the key harness_output gives it, in its
 * order: a newline inside print, save or xlate output shows as a line
 * with none.
 */
static void fuzz_check_lines(const char *out)
{
	static const char *const keys[] = {
		"revision: ", "data: ", "print:", "save:", "xlate",
	};
	const char *p = out, *nl;
	unsigned int n = 0;

	for (; *p != '\0'; p = nl + 1, n++) {
		nl = strchr(p, '\n');
		if (!nl)
			fuzz_fail("output does not end in a newline:\n%s", out);
		if (n >= sizeof(keys) / sizeof(keys[0]) + 1 ||
		    strncmp(p, keys[n < 4 ? n : 4],
			    strlen(keys[n < 4 ? n : 4])) != 0)
			fuzz_fail("output line %u is broken:\n%s", n + 1, out);
	}
	if (n < 5)
		fuzz_fail("output has %u lines, not 5 or 6:\n%s", n, out);
}

/*
 * Split a saved rule's @line into @argv[1..] as iptables-restore (1.8.9,
 * add_param_to_argv) does: at spaces, tabs and newlines; '"' opens and
 * closes a quoted word, in which '\\' takes the next character as it is.
 * The words go into @buf, which has room for @line.
 */
static int fuzz_restore_split(const char *line, char *buf, char **argv,
			      int max)
{
	bool quoted = false, escaped = false;
	int argc = 1;
	char *w = buf;
	size_t len = 0;

	argv[0] = (char *)"cl-fuzz";
	for (; *line != '\0' && argc < max; line++) {
		bool word_ends = false;

		if (escaped) {
			escaped = false;	/* taken as it is */
		} else if (quoted && *line == '\\') {
			escaped = true;
			continue;
		} else if (*line == '"') {
			/* a closing quote ends a word, even an empty one */
			quoted = !quoted;
			if (quoted)
				continue;
			word_ends = true;
		} else if (!quoted && strchr(" \t\n", *line)) {
			if (len == 0)
				continue;
			word_ends = true;
		}
		if (!word_ends) {
			w[len++] = *line;
			continue;
		}
		w[len] = '\0';
		argv[argc++] = w;
		w += len + 1;
		len = 0;
	}
	if (len > 0 && argc < max) {
		w[len] = '\0';
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	return argc;
}

/*
 * iptables-save, then iptables-restore: the save line of @out parses again
 * and the new rule prints and saves the same.  Match data from the kernel
 * may hold a name the extension refuses: its save line must then still be
 * read (quoted where needed) and refused for the name, and such a rule is
 * never translated.
 */
static void fuzz_round_trip(struct xtables_match *m, uint8_t family,
			    const char *out, bool from_kernel)
{
	static const char name_err[] =
		"connlimit: bad value for option \"--connlimit-name\": ";
	char save[1024], save2[1024], print[1024], print2[1024];
	char words[1024], *argv[FUZZ_MAX_ARGS + 1], *out2;
	int argc;

	if (!fuzz_line(out, "save:", save, sizeof(save)) ||
	    !fuzz_line(out, "print:", print, sizeof(print)))
		fuzz_fail("no save or print line:\n%s", out);
	argc = fuzz_restore_split(save, words, argv, FUZZ_MAX_ARGS);

	fuzz_begin(m, family);
	if (!fuzz_parse(m, argc, argv)) {
		fuzz_end(m);
		if (!from_kernel ||
		    strncmp(fuzz_err, name_err, sizeof(name_err) - 1) != 0)
			fuzz_fail("save output \"%s\" does not parse: %s", save,
				  fuzz_err);
		if (!strstr(out, "\nxlate: not translated\n"))
			fuzz_fail("a refused name was translated:\n%s", out);
		return;
	}
	out2 = fuzz_output(m, family);
	fuzz_end(m);
	fuzz_check_lines(out2);
	if (!fuzz_line(out2, "save:", save2, sizeof(save2)) ||
	    !fuzz_line(out2, "print:", print2, sizeof(print2)) ||
	    strcmp(save, save2) != 0 || strcmp(print, print2) != 0)
		fuzz_fail("round trip changed the rule:\n%s---\n%s", out,
			  out2);
	free(out2);
}

/* Options: NUL-separated arguments, each its own heap block. */
static void fuzz_options(struct xtables_match *m, uint8_t family,
			 const uint8_t *data, size_t size)
{
	char *argv[FUZZ_MAX_ARGS + 2], *out;
	const uint8_t *p = data, *end = data + size, *nul;
	int argc = 1, i;
	bool ok;

	argv[0] = (char *)"cl-fuzz";
	while (size > 0 && argc <= FUZZ_MAX_ARGS) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul)
			nul = end;
		argv[argc] = xtables_malloc((size_t)(nul - p) + 1);
		memcpy(argv[argc], p, (size_t)(nul - p));
		argv[argc++][nul - p] = '\0';
		if (nul == end)
			break;
		p = nul + 1;
	}
	argv[argc] = NULL;

	fuzz_begin(m, family);
	ok = fuzz_parse(m, argc, argv);
	out = ok ? fuzz_output(m, family) : NULL;
	fuzz_end(m);
	for (i = 1; i < argc; i++)
		free(argv[i]);
	if (!ok)
		return;
	fuzz_check_lines(out);
	fuzz_round_trip(m, family, out, false);
	free(out);
}

/* Match data from the kernel, as "iptables -S" gets it. */
static void fuzz_kernel_data(struct xtables_match *m, uint8_t family,
			     const uint8_t *data, size_t size)
{
	char *out;

	fuzz_begin(m, family);
	memcpy(m->m->data, data, size < m->size ? size : m->size);
	out = fuzz_output(m, family);
	fuzz_end(m);
	fuzz_check_lines(out);
	fuzz_round_trip(m, family, out, true);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xtables_match *m;
	uint8_t family;

	if (size == 0)
		return 0;
	family = data[0] & 1 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	m = fuzz_matches[data[0] & 1][(data[0] >> 1) & 1];
	if (data[0] & 4)
		fuzz_kernel_data(m, family, data + 1, size - 1);
	else
		fuzz_options(m, family, data + 1, size - 1);
	return 0;
}
