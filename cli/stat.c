/*
 * stat.c - gfs stat for people: an entry's attributes as stat(1) shows
 * them (type, inode, links, owner, mode, times, a symlink's target), a
 * file's lease, and its chunks with their replicas.
 *
 * For: the text.  Not for: fetching (main.c) or JSON (--json prints the
 * master's entry as it is).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* "2026-12-02 15:56:10.123456789 +0000" for ns since the epoch. */
static void print_time(const char *label, int64_t ns)
{
	time_t t = (time_t)(ns / 1000000000);
	char when[64], zone[16];
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z", &tm);
	printf("%6s: %s.%09" PRId64 " %s\n", label, when, ns % 1000000000,
	       zone);
}

/* A master's type name ("file", "dir", ...): stat(1)'s words for it and
 * the letter ls -l shows. */
static const struct {
	const char *type, *words;
	char letter;
} types[] = {
	{ "file", "regular file", '-' },
	{ "dir", "directory", 'd' },
	{ "symlink", "symbolic link", 'l' },
	{ "fifo", "fifo", 'p' },
	{ "socket", "socket", 's' },
	{ "char", "character special file", 'c' },
	{ "block", "block special file", 'b' },
};

static size_t type_index(const char *type)
{
	size_t i;

	for (i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(type, types[i].type))
			return i;
	return 0;
}

/* "-rwsr-xr-t" for mode with the type's letter, as ls -l shows it. */
static void mode_text(char buf[11], unsigned mode, char letter)
{
	static const char rwx[] = "rwxrwxrwx";
	int i;

	buf[0] = letter;
	for (i = 0; i < 9; i++)
		buf[i + 1] = mode & (1u << (8 - i)) ? rwx[i] : '-';
	if (mode & 04000)
		buf[3] = mode & 0100 ? 's' : 'S';
	if (mode & 02000)
		buf[6] = mode & 0010 ? 's' : 'S';
	if (mode & 01000)
		buf[9] = mode & 0001 ? 't' : 'T';
	buf[10] = 0;
}

static void print_lease(json_t *lease)
{
	json_int_t ms = json_integer_value(json_object_get(lease, "expires_ms"));
	time_t t = (time_t)(ms / 1000);
	char when[64];
	struct tm tm;

	if (!json_is_object(lease)) {
		printf(" Lease: none\n");
		return;
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
	printf(" Lease: held by %s until %s\n",
	       json_string_value(json_object_get(lease, "holder")) ?: "?",
	       when);
}

static void print_chunks(json_t *info, const char *why)
{
	json_t *chunks = json_object_get(info, "chunks"), *c, *u;
	size_t i, k;

	if (!info) {
		printf("Chunks: not shown (%s)\n", why ? why : "unknown");
		return;
	}
	printf("Chunks: %zu\n", json_array_size(chunks));
	if (!json_array_size(chunks))
		return;
	printf("  %6s  %-16s  %7s  %10s  %s\n", "index", "handle", "version",
	       "length", "replicas");
	json_array_foreach(chunks, i, c) {
		printf("  %6lld  %-16s  %7lld  %10lld ",
		       json_integer_value(json_object_get(c, "index")),
		       json_string_value(json_object_get(c, "handle")) ?: "?",
		       json_integer_value(json_object_get(c, "version")),
		       json_integer_value(json_object_get(c, "length")));
		json_array_foreach(json_object_get(c, "replicas"), k, u)
			printf(" %s", json_string_value(u) ?: "?");
		if (!json_array_size(json_object_get(c, "replicas")))
			printf(" (no live replica)");
		printf("\n");
	}
}

static json_int_t num(json_t *entry, const char *key)
{
	return json_integer_value(json_object_get(entry, key));
}

void gfs_cli_print_stat(json_t *entry, json_t *info, const char *why)
{
	size_t t = type_index(json_string_value(json_object_get(entry,
								"type")));
	const char *target = json_string_value(json_object_get(entry,
								"target"));
	unsigned mode = (unsigned)num(entry, "mode");
	json_int_t cs = num(info ? info : entry, "chunk_size");
	char m[11];

	mode_text(m, mode, types[t].letter);
	printf("  File: %s%s%s\n",
	       json_string_value(json_object_get(entry, "path")) ?: "?",
	       target ? " -> " : "", target ? target : "");
	printf("  Size: %-15lld Type: %s", num(entry, "size"),
	       types[t].words);
	if (cs)
		printf("   Chunk size: %lld", cs);
	printf("\n Inode: %-15lld Links: %lld\n", num(entry, "ino"),
	       num(entry, "nlink"));
	printf("Access: (%04o/%s)  Uid: %lld  Gid: %lld\n", mode & 07777, m,
	       num(entry, "uid"), num(entry, "gid"));
	print_time("Access", num(entry, "atime_ns"));
	print_time("Modify", num(entry, "mtime_ns"));
	print_time("Change", num(entry, "ctime_ns"));
	if (strcmp(types[t].type, "file"))
		return;
	print_lease(json_object_get(entry, "lease"));
	print_chunks(info, why);
}
