/* The hostile-layer corpus: each entry refused or neutralised, nothing written outside DIR, and a
 * failed unpack leaves nothing behind. */
#include <criterion/criterion.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "images/unpack.h"
#include "imgtest.h"

static char *parent;      /* holds layout/, root/ and canary */
static char canary[4096];

static void setup(void)
{
  parent = tt_tmpdir();
  snprintf(canary, sizeof canary, "%s/canary", parent);
  tt_write(canary, "intact", 6);
}

static void teardown(void)
{
  tt_rmrf(parent);
  free(parent);
}

TestSuite(unpack, .init = setup, .fini = teardown);

static void cut(uint8_t *p, size_t *n, void *arg)
{
  *n -= 8;
}

/* Unpack the layers (one tar each) into parent/root; returns the result and fills err. */
static int unpack_layers(struct tbuf *tars, size_t n, const struct dj_unpack_opts *o, dj_err *err)
{
  char *layout = tt_layout(parent, "layout", tars, n, false);
  char ref[4200], root[4200];
  snprintf(ref, sizeof ref, "oci:%s:latest", layout);
  snprintf(root, sizeof root, "%s/root", parent);
  struct dj_unpack_opts def;
  dj_unpack_opts_default(&def);
  int r = dj_image_unpack(ref, NULL, o ? o : &def, root, err);
  free(layout);
  return r;
}

static int unpack_one(const struct tentry *e, size_t n, const struct dj_unpack_opts *o, dj_err *err)
{
  struct tbuf t = tt_tar(e, n);
  int r = unpack_layers(&t, 1, o, err);
  free(t.p);
  return r;
}

/* Nothing but layout/, root/ (if any) and the intact canary in parent. */
static void assert_nothing_outside(void)
{
  int n = tt_count(parent);
  char p[4200];
  snprintf(p, sizeof p, "%s/root", parent);
  int expected = 2 + (access(p, F_OK) == 0 ? 1 : 0);
  cr_assert_eq(n, expected, "%d entries in %s, expected %d", n, parent, expected);
  char *c = tt_read(canary, NULL);
  cr_assert_str_eq(c, "intact");
  free(c);
}

static void assert_refused(const struct tentry *e, size_t n, const char *needle)
{
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, n, NULL, &err), -1, "unpack succeeded");
  cr_assert(strstr(err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err.msg);
  char root[4200];
  snprintf(root, sizeof root, "%s/root", parent);
  cr_assert_eq(tt_count(root), -1, "a failed unpack left %s behind", root);
  assert_nothing_outside();
}

static char *rootpath(const char *rel)
{
  char *p = NULL;
  cr_assert_gt(asprintf(&p, "%s/root/%s", parent, rel), 0);
  return p;
}

static void assert_file(const char *rel, const char *content)
{
  char *p = rootpath(rel);
  char *c = tt_read(p, NULL);
  cr_assert_not_null(c, "%s missing", p);
  cr_assert_str_eq(c, content);
  free(c);
  free(p);
}

static void assert_absent(const char *rel)
{
  char *p = rootpath(rel);
  cr_assert_neq(access(p, F_OK), 0, "%s is there", p);
  free(p);
}

static void assert_count(const char *rel, int n)
{
  char *p = rootpath(rel);
  int got = tt_count(p);
  cr_assert_eq(got, n, "%d entries in %s, expected %d", got, p, n);
  free(p);
}

Test(unpack, plain_layer_with_files_dirs_links)
{
  struct tentry e[] = {
    { 'd', "etc" }, { 'f', "etc/hosts", .data = "127.0.0.1 localhost\n" }, { 'l', "etc/link", "hosts" },
    { 'h', "etc/hard", "etc/hosts" }, { 'l', "abs", "/etc/hosts" }, { 'p', "fifo" },
  };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 6, NULL, &err), 0, "%s", err.msg);
  assert_file("etc/hosts", "127.0.0.1 localhost\n");
  assert_file("etc/link", "127.0.0.1 localhost\n");
  char *h = rootpath("etc/hard"), *f = rootpath("etc/hosts"), *a = rootpath("abs");
  struct stat s1, s2;
  cr_assert_eq(stat(h, &s1), 0);
  cr_assert_eq(stat(f, &s2), 0);
  cr_assert_eq(s1.st_ino, s2.st_ino, "hard link inside DIR");
  char target[256] = { 0 };
  cr_assert_gt(readlink(a, target, sizeof target - 1), 0);
  cr_assert_str_eq(target, "/etc/hosts", "symlinks are created verbatim");
  free(h);
  free(f);
  free(a);
  assert_nothing_outside();
}

Test(unpack, dotdot_is_refused)
{
  struct tentry e[] = { { 'f', "ok", .data = "x" }, { 'f', "../escape", .data = "x" } };
  assert_refused(e, 2, "..");
}

Test(unpack, dotdot_inside_is_refused)
{
  struct tentry e[] = { { 'f', "a/../../escape", .data = "x" } };
  assert_refused(e, 1, "..");
}

Test(unpack, absolute_names_stay_inside)
{
  struct tentry e[] = { { 'f', "/abs/file", .data = "inside" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 1, NULL, &err), 0, "%s", err.msg);
  assert_file("abs/file", "inside");
  assert_nothing_outside();
}

/* A symlink to / (or to the host directory that holds DIR) then a write through it: the link is
 * resolved inside DIR, so the write lands there and nothing outside is touched. */
Test(unpack, symlink_to_root_then_write_through_it)
{
  char target[4200], pwned[64], inside[4300];
  snprintf(target, sizeof target, "%s", parent);
  snprintf(pwned, sizeof pwned, "dj-unpack-pwned-%d", (int) getpid());
  char toroot_pwned[128];
  snprintf(toroot_pwned, sizeof toroot_pwned, "toroot/%s", pwned);
  struct tentry e[] = { { 'l', "toroot", "/" }, { 'f', toroot_pwned, .data = "x" },
                        { 'l', "toparent", target }, { 'f', "toparent/canary", .data = "overwritten" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 4, NULL, &err), 0, "%s", err.msg);
  char host[128];
  snprintf(host, sizeof host, "/%s", pwned);
  cr_assert_neq(access(host, F_OK), 0, "%s was written on the host", host);
  assert_file(pwned, "x");
  snprintf(inside, sizeof inside, "%s/canary", parent + 1); /* DIR/<parent>/canary */
  assert_file(inside, "overwritten");
  assert_nothing_outside();
}

/* etc -> /etc resolves inside DIR to DIR/etc, the link itself: the write through it finds a loop
 * and is refused, and neither the host's /etc/passwd nor anything outside DIR is touched. */
Test(unpack, symlink_to_etc_then_write_through_it)
{
  struct tentry e[] = { { 'l', "etc", "/etc" }, { 'f', "etc/passwd", .data = "root::0:0::/:/bin/sh\n" } };
  struct stat before, after;
  cr_assert_eq(stat("/etc/passwd", &before), 0);
  assert_refused(e, 2, "entry \"etc/passwd\": open its directory");
  cr_assert_eq(stat("/etc/passwd", &after), 0);
  cr_assert_eq(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  cr_assert_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  cr_assert_eq(before.st_ino, after.st_ino);
  cr_assert_eq(before.st_size, after.st_size);
}

/* The same through a directory of the image: usr/etc -> /etc is DIR/etc, a real directory, and
 * the write lands there. */
Test(unpack, symlink_to_etc_lands_in_the_images_etc)
{
  struct tentry e[] = { { 'd', "etc" }, { 'l', "usr/etc", "/etc" },
                        { 'f', "usr/etc/passwd", .data = "root::0:0::/:/bin/sh\n" } };
  struct stat before, after, st;
  cr_assert_eq(stat("/etc/passwd", &before), 0);
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 3, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(stat("/etc/passwd", &after), 0);
  cr_assert_eq(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  cr_assert_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  cr_assert_eq(before.st_size, after.st_size);
  char *etc = rootpath("etc"), *passwd = rootpath("etc/passwd");
  cr_assert_eq(lstat(etc, &st), 0);
  cr_assert(S_ISDIR(st.st_mode), "DIR/etc is the image's directory");
  cr_assert_eq(lstat(passwd, &st), 0);
  cr_assert(S_ISREG(st.st_mode));
  cr_assert_neq(st.st_ino, before.st_ino);
  assert_file("etc/passwd", "root::0:0::/:/bin/sh\n");
  free(etc);
  free(passwd);
  assert_nothing_outside();
}

/* Symlinks on the way are followed, but inside DIR: ".." in a link stops at DIR as at "/", for
 * every kind of entry written through one (file, directory, symlink, FIFO, a replaced entry). */
Test(unpack, dotdot_symlinks_are_clamped_at_dir)
{
  struct tentry e[] = { { 'l', "up", "../../../../../../../.." }, { 'd', "sub" }, { 'l', "sub/p", "../.." },
                        { 'f', "up/escape", .data = "f" },         { 'd', "sub/p/newdir" },
                        { 'l', "up/newlink", "/etc" },             { 'p', "sub/p/fifo" },
                        { 'f', "up/canary", .data = "not the canary" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 8, NULL, &err), 0, "%s", err.msg);
  assert_file("escape", "f");
  assert_file("canary", "not the canary");
  char *d = rootpath("newdir"), *l = rootpath("newlink"), *f = rootpath("fifo");
  struct stat st;
  cr_assert(lstat(d, &st) == 0 && S_ISDIR(st.st_mode));
  cr_assert(lstat(l, &st) == 0 && S_ISLNK(st.st_mode));
  cr_assert(lstat(f, &st) == 0 && S_ISFIFO(st.st_mode));
  free(d);
  free(l);
  free(f);
  assert_count("", 7); /* up, sub, escape, newdir, newlink, fifo, canary */
  assert_nothing_outside();
}

/* A symlink to a file outside, then a regular file of the same name: the link is replaced. */
Test(unpack, file_over_symlink_replaces_the_link)
{
  struct tentry e[] = { { 'l', "c", canary }, { 'f', "c", .data = "replaced" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 2, NULL, &err), 0, "%s", err.msg);
  assert_file("c", "replaced");
  assert_nothing_outside();
}

Test(unpack, hardlink_outside_is_refused)
{
  struct tentry e[] = { { 'h', "h", "../canary" } };
  assert_refused(e, 1, "..");
}

Test(unpack, hardlink_to_absolute_host_path_is_not_found_inside)
{
  struct tentry e[] = { { 'h', "h", canary } };
  assert_refused(e, 1, "hard link");
}

Test(unpack, hardlink_through_symlink_is_refused)
{
  char t[4200];
  snprintf(t, sizeof t, "%s", parent);
  struct tentry e[] = { { 'l', "p", t }, { 'h', "h", "p/canary" } };
  assert_refused(e, 2, "hard link");
}

/* A hard link's target is a name of the archive: it is looked up without following symlinks, even
 * ones that stay inside DIR. */
Test(unpack, hardlink_through_an_inside_symlink_is_refused_too)
{
  struct tentry e[] = { { 'd', "real" }, { 'f', "real/f", .data = "x" }, { 'l', "p", "real" }, { 'h', "h", "p/f" } };
  assert_refused(e, 4, "hard link target \"p/f\"");
}

Test(unpack, symlink_loop_is_refused)
{
  struct tentry e[] = { { 'l', "a", "b" }, { 'l', "b", "a" }, { 'f', "a/x", .data = "x" } };
  assert_refused(e, 3, "a/x");
}

Test(unpack, device_nodes_are_refused)
{
  struct tentry e[] = { { 'c', "dev/mem" } };
  assert_refused(e, 1, "device node");
  struct tentry b[] = { { 'b', "dev/sda" } };
  assert_refused(b, 1, "device node");
}

Test(unpack, device_nodes_when_asked)
{
  struct tentry e[] = { { 'c', "null" } };
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.allow_devices = true;
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 1, &o, &err), 0, "%s", err.msg);
  char *p = rootpath("null");
  struct stat st;
  cr_assert_eq(lstat(p, &st), 0);
  cr_assert(S_ISCHR(st.st_mode));
  free(p);
}

Test(unpack, setuid_and_setgid_are_dropped)
{
  struct tentry e[] = { { 'f', "suid", .data = "x", .mode = 06755 }, { 'd', "sgid", .mode = 02775 } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 2, NULL, &err), 0, "%s", err.msg);
  char *p = rootpath("suid");
  struct stat st;
  cr_assert_eq(stat(p, &st), 0);
  cr_assert_eq(st.st_mode & 07777, 0755, "mode %o", st.st_mode & 07777);
  free(p);
  p = rootpath("sgid");
  cr_assert_eq(stat(p, &st), 0);
  cr_assert_eq(st.st_mode & 07777, 0775, "directory mode %o: setgid is dropped too", st.st_mode & 07777);
  free(p);
}

Test(unpack, setuid_kept_when_asked)
{
  struct tentry e[] = { { 'f', "suid", .data = "x", .mode = 04755 }, { 'd', "sgid", .mode = 02775 } };
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.keep_setid = true;
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 2, &o, &err), 0, "%s", err.msg);
  char *p = rootpath("suid");
  struct stat st;
  cr_assert_eq(stat(p, &st), 0);
  cr_assert_eq(st.st_mode & 07777, 04755);
  free(p);
  p = rootpath("sgid");
  cr_assert_eq(stat(p, &st), 0);
  cr_assert_eq(st.st_mode & 07777, 02775);
  free(p);
}

Test(unpack, whiteout_of_dotdot_and_bare_whiteout_are_refused)
{
  struct tentry e[] = { { 'f', "d/.wh...", .data = "" } };
  assert_refused(e, 1, "whiteout");
  struct tentry f[] = { { 'f', ".wh.", .data = "" } };
  assert_refused(f, 1, "whiteout");
  struct tentry g[] = { { 'f', "d/.wh..", .data = "" } };
  assert_refused(g, 1, "whiteout");
}

Test(unpack, huge_sparse_file_is_refused)
{
  struct tentry e[] = { { 'f', "sparse", .size = 1ll << 40 } };
  assert_refused(e, 1, "more than");
}

Test(unpack, sparse_file_within_bounds_stays_sparse)
{
  struct tentry e[] = { { 'f', "sparse", .size = 256ll << 20 } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 1, NULL, &err), 0, "%s", err.msg);
  char *p = rootpath("sparse");
  struct stat st;
  cr_assert_eq(stat(p, &st), 0);
  cr_assert_eq(st.st_size, 256ll << 20);
  cr_assert_lt(st.st_blocks * 512, 1 << 20, "%lld bytes allocated", (long long) st.st_blocks * 512);
  free(p);
}

Test(unpack, ten_thousand_deep_directories_are_refused)
{
  size_t depth = 10000;
  char *name = malloc(2 * depth + 8);
  for (size_t i = 0; i < depth; i++)
    memcpy(name + 2 * i, "a/", 2);
  strcpy(name + 2 * depth, "f");
  struct tentry e[] = { { 'f', name, .data = "deep" } };
  assert_refused(e, 1, "deep");
  free(name);
}

/* Names are bounded in components, but through a symlink a short name lands deeper: the bound is
 * on where an entry really lands (here 100 + 100 directories, the default bound is 128). */
Test(unpack, deep_directories_through_symlinks_are_refused)
{
  char chain[256] = "", through[260];
  for (int i = 0; i < 100; i++)
    strcat(chain, i ? "/a" : "a");
  snprintf(through, sizeof through, "s/%s", chain);
  struct tentry e[] = { { 'd', chain }, { 'l', "s", chain }, { 'd', through } };
  assert_refused(e, 3, "directories deep (through symbolic links)");
  /* the same with the deep directories made implicitly, as parents of a file */
  char file[270];
  snprintf(file, sizeof file, "%s/f", through);
  struct tentry f[] = { { 'd', chain }, { 'l', "s", chain }, { 'f', file, .data = "x" } };
  assert_refused(f, 3, "directories deep (through symbolic links)");
}

Test(unpack, depth_through_symlinks_counts_each_directory)
{
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.max_depth = 8;
  /* a/b/c/d is 4 deep; s/e/f/g/h lands at 8 (allowed), s/e/f/g/h/i at 9 (refused) */
  struct tentry ok[] = { { 'd', "a/b/c/d" }, { 'l', "s", "a/b/c/d" }, { 'f', "s/e/f/g/h", .data = "8" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(ok, 3, &o, &err), 0, "%s", err.msg);
  assert_file("a/b/c/d/e/f/g/h", "8");
  char root[4200];
  snprintf(root, sizeof root, "%s/root", parent);
  tt_rmrf(root);
  struct tentry deep[] = { { 'd', "a/b/c/d" }, { 'l', "s", "a/b/c/d" }, { 'd', "s/e/f/g" }, { 'f', "s/e/f/g/h/i", .data = "9" } };
  cr_assert_eq(unpack_one(deep, 4, &o, &err), -1);
  cr_assert(strstr(err.msg, "more than 8 directories deep") != NULL, "%s", err.msg);
  cr_assert(strstr(err.msg, "s/e/f/g/h/i") != NULL, "%s", err.msg);
  cr_assert_eq(tt_count(root), -1, "a failed unpack left %s behind", root);
}

Test(unpack, duplicate_entries_replace_not_merge)
{
  struct tentry e[] = { { 'f', "f", .data = "one" }, { 'f', "f", .data = "two" },
                        { 'd', "d" },                { 'f', "d/inner", .data = "x" },
                        { 'f', "d", .data = "now a file" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 5, NULL, &err), 0, "%s", err.msg);
  assert_file("f", "two");
  assert_file("d", "now a file");
  assert_nothing_outside();
}

Test(unpack, whiteouts_and_opaque_directories_across_layers)
{
  struct tentry l1[] = { { 'd', "d" }, { 'f', "d/a", .data = "a" }, { 'f', "d/b", .data = "b" },
                         { 'f', "x", .data = "x" }, { 'f', "y", .data = "y" } };
  /* d/c comes before the opaque marker in the same layer: it stays (the same-layer rule). */
  struct tentry l2[] = { { 'd', "d" }, { 'f', "d/c", .data = "c" }, { 'f', "d/.wh..wh..opq", .data = "" },
                         { 'f', ".wh.x", .data = "" } };
  struct tbuf t[2] = { tt_tar(l1, 5), tt_tar(l2, 4) };
  dj_err err = { 0 };
  cr_assert_eq(unpack_layers(t, 2, NULL, &err), 0, "%s", err.msg);
  char root[4200];
  snprintf(root, sizeof root, "%s/root", parent);
  char *d = rootpath("d"), *x = rootpath("x"), *wh = rootpath(".wh.x");
  cr_assert_eq(tt_count(d), 1, "only d/c is left");
  assert_file("d/c", "c");
  assert_file("y", "y");
  cr_assert_neq(access(x, F_OK), 0, "x is whited out");
  cr_assert_neq(access(wh, F_OK), 0, "the whiteout itself is not written");
  free(d);
  free(x);
  free(wh);
  free(t[0].p);
  free(t[1].p);
}

/* An opaque directory hides everything lower layers put beneath it, also inside the directories
 * this layer keeps (listed, or made as parents of its own entries), and wherever the marker comes
 * in the tar. */
Test(unpack, opaque_directory_hides_lower_content_at_every_depth)
{
  struct tentry l1[] = { { 'd', "d" },
                         { 'f', "d/gone", .data = "1" },
                         { 'd', "d/sub" },
                         { 'f', "d/sub/lower", .data = "1" },
                         { 'd', "d/impl" },
                         { 'f', "d/impl/old", .data = "1" },
                         { 'd', "d/impl/deeper" },
                         { 'f', "d/impl/deeper/old", .data = "1" },
                         { 'f', "other", .data = "1" } };
  struct tentry l2[] = { { 'd', "d/sub" }, { 'f', "d/sub/upper", .data = "2" }, { 'f', "d/impl/x", .data = "2" },
                         { 'f', "d/.wh..wh..opq", .data = "" } };
  struct tbuf t[2] = { tt_tar(l1, 9), tt_tar(l2, 4) };
  dj_err err = { 0 };
  cr_assert_eq(unpack_layers(t, 2, NULL, &err), 0, "%s", err.msg);
  assert_file("d/sub/upper", "2");
  assert_file("d/impl/x", "2");
  assert_file("other", "1");
  const char *hidden[] = { "d/gone", "d/sub/lower", "d/impl/old", "d/impl/deeper" };
  for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
    char *p = rootpath(hidden[i]);
    cr_assert_neq(access(p, F_OK), 0, "%s from the lower layer survived the opaque directory", hidden[i]);
    free(p);
  }
  char *d = rootpath("d"), *sub = rootpath("d/sub"), *impl = rootpath("d/impl");
  cr_assert_eq(tt_count(d), 2, "d holds sub and impl only");
  cr_assert_eq(tt_count(sub), 1);
  cr_assert_eq(tt_count(impl), 1);
  free(d);
  free(sub);
  free(impl);
  free(t[0].p);
  free(t[1].p);
}

/* A whiteout hides lower layers only (OCI image spec): NAME written by the same layer stays,
 * whether it comes before or after its whiteout; a directory of the layer stays too but loses
 * what lower layers put inside. */
Test(unpack, whiteout_spares_what_the_same_layer_wrote)
{
  struct tentry l1[] = { { 'f', "x", .data = "lower" }, { 'd', "d" }, { 'f', "d/old", .data = "1" },
                         { 'f', "gone", .data = "1" } };
  struct tentry l2[] = { { 'f', "x", .data = "upper" }, { 'f', ".wh.x", .data = "" },
                         { 'f', "d/new", .data = "2" }, { 'f', ".wh.d", .data = "" },
                         { 'f', "only", .data = "mine" }, { 'f', ".wh.only", .data = "" },
                         { 'f', ".wh.late", .data = "" }, { 'f', "late", .data = "after" },
                         { 'f', ".wh.gone", .data = "" } };
  struct tbuf t[2] = { tt_tar(l1, 4), tt_tar(l2, 9) };
  dj_err err = { 0 };
  cr_assert_eq(unpack_layers(t, 2, NULL, &err), 0, "%s", err.msg);
  assert_file("x", "upper");
  assert_file("only", "mine");
  assert_file("late", "after");
  assert_file("d/new", "2");
  assert_count("d", 1);   /* d/old of the lower layer is hidden */
  assert_absent("gone");
  assert_count("", 4);    /* x, d, only, late */
  free(t[0].p);
  free(t[1].p);
}

/* The same within one layer only: a file and its whiteout in one tar, the file stays. */
Test(unpack, file_and_its_whiteout_in_one_layer)
{
  struct tentry e[] = { { 'd', "d" }, { 'f', "d/f", .data = "kept" }, { 'f', "d/.wh.f", .data = "" },
                        { 'l', "d/l", "f" }, { 'h', "d/h", "d/f" }, { 'f', "d/.wh..wh..opq", .data = "" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 6, NULL, &err), 0, "%s", err.msg);
  assert_file("d/f", "kept");
  assert_file("d/l", "kept");
  assert_file("d/h", "kept");
  assert_count("d", 3); /* the opaque marker keeps the layer's own f, l and h */
}

/* A whiteout creates nothing: not its missing parents (a/b), not an opaque directory's, and a
 * parent that is a file means there is nothing to hide. */
Test(unpack, whiteouts_create_nothing)
{
  struct tentry e[] = { { 'f', "a/b/.wh.c", .data = "" }, { 'f', "o/p/.wh..wh..opq", .data = "" },
                        { 'f', "file", .data = "f" }, { 'f', "file/.wh.x", .data = "" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 4, NULL, &err), 0, "%s", err.msg);
  assert_count("", 1); /* file only: no a/b, no o/p */
  assert_file("file", "f");
  assert_nothing_outside();
}

/* A whiteout resolves its directory inside DIR like any entry: through a symlink to the host's
 * directory holding DIR it removes nothing there. */
Test(unpack, whiteout_through_a_symlink_stays_inside)
{
  struct tentry e[] = { { 'l', "up", parent }, { 'f', "up/.wh.canary", .data = "" },
                        { 'f', "up/.wh..wh..opq", .data = "" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 3, NULL, &err), 0, "%s", err.msg);
  assert_nothing_outside();
}

Test(unpack, xattrs_are_filtered)
{
  struct tentry e[] = { { 'f', "t", .data = "x", .xattr = "trusted.overlay.opaque=y" },
                        { 'f', "u", .data = "x", .xattr = "user.ok=1" },
                        { 'f', "s", .data = "x", .xattr = "security.capability=AAAA" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 3, NULL, &err), 0, "%s", err.msg);
  char *t = rootpath("t"), *u = rootpath("u"), *s = rootpath("s");
  char v[16];
  cr_assert_lt(lgetxattr(t, "trusted.overlay.opaque", v, sizeof v), 0, "trusted.* must not be set");
  cr_assert_lt(lgetxattr(s, "security.capability", v, sizeof v), 0, "file capabilities dropped");
  ssize_t n = lgetxattr(u, "user.ok", v, sizeof v);
  if (n >= 0) /* tmpfs without user xattrs reports ENOTSUP: then nothing to check */
    cr_assert_eq(n, 1);
  free(t);
  free(u);
  free(s);
}

Test(unpack, ownership_is_remapped)
{
  if (geteuid() != 0)
    cr_skip_test("needs root to chown");
  struct tentry e[] = { { 'f', "f", .data = "x", .uid = 0, .gid = 5 }, { 'l', "l", "f", .uid = 1000, .gid = 1000 } };
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.uid_map = (struct dj_idmap) { 0, 100000, 65536 };
  o.gid_map = (struct dj_idmap) { 0, 100000, 65536 };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 2, &o, &err), 0, "%s", err.msg);
  char *f = rootpath("f"), *l = rootpath("l");
  struct stat st;
  cr_assert_eq(lstat(f, &st), 0);
  cr_assert_eq(st.st_uid, 100000);
  cr_assert_eq(st.st_gid, 100005);
  cr_assert_eq(lstat(l, &st), 0);
  cr_assert_eq(st.st_uid, 101000);
  free(f);
  free(l);
}

/* The arithmetic of the remapping, without chown: both ends of the range, ids outside it, and
 * no wrap past the host's last id (a map at 4294967295 would give container uid 1 host root). */
Test(unpack, id_mapping_arithmetic)
{
  struct dj_idmap m = { 1000, 200000, 10 }, id = { 0 }, top = { 0, 4294967290u, 100 };
  uint32_t out = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_idmap_apply(&m, 1000, "uid", &out, &err), 0, "%s", err.msg);
  cr_assert_eq(out, 200000);
  cr_assert_eq(dj_idmap_apply(&m, 1009, "uid", &out, &err), 0, "%s", err.msg);
  cr_assert_eq(out, 200009);
  cr_assert_eq(dj_idmap_apply(&m, 1010, "uid", &out, &err), -1);
  cr_assert_str_eq(err.msg, "uid 1010 is outside the mapping 1000:200000:10");
  cr_assert_eq(dj_idmap_apply(&m, 999, "gid", &out, &err), -1);
  cr_assert(strstr(err.msg, "gid 999 is outside") != NULL, "%s", err.msg);
  cr_assert_eq(dj_idmap_apply(&m, -1, "uid", &out, &err), -1);
  cr_assert(strstr(err.msg, "out of range") != NULL, "%s", err.msg);
  cr_assert_eq(dj_idmap_apply(&id, 4294967294ll, "uid", &out, &err), 0, "%s", err.msg);
  cr_assert_eq(out, 4294967294u, "no map: the identity");
  cr_assert_eq(dj_idmap_apply(&id, 4294967295ll, "uid", &out, &err), -1, "(uid_t) -1 is no id");
  cr_assert_eq(dj_idmap_apply(&top, 4, "uid", &out, &err), 0, "%s", err.msg);
  cr_assert_eq(out, 4294967294u);
  cr_assert_eq(dj_idmap_apply(&top, 5, "uid", &out, &err), -1);
  cr_assert_eq(dj_idmap_apply(&top, 6, "uid", &out, &err), -1, "wrapped to host uid %u", out);
  cr_assert(strstr(err.msg, "maps past the host's ids") != NULL, "%s", err.msg);
}

Test(unpack, unmappable_owner_is_refused)
{
  struct tentry e[] = { { 'f', "f", .data = "x", .uid = 70000 } };
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.uid_map = (struct dj_idmap) { 0, 100000, 65536 };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 1, &o, &err), -1);
  cr_assert(strstr(err.msg, "outside the mapping") != NULL, "%s", err.msg);
}

/* 16 MiB of one byte: a few KiB once compressed. The bound is on the tar the layer expands to,
 * whatever the compression, and stops the stream there (nothing is left). */
Test(unpack, decompression_bomb_is_bounded)
{
  struct tentry e[] = { { 'f', "big", .data = NULL, .size = 0 } };
  char *data = malloc(16 << 20);
  memset(data, 'z', 16 << 20);
  data[(16 << 20) - 1] = '\0';
  e[0].data = data;
  struct tbuf t = tt_tar(e, 1);
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.max_layer_size = 1 << 20;
  char root[4200];
  snprintf(root, sizeof root, "%s/root", parent);
  for (int comp = 0; comp < 3; comp++) {
    char name[16], ref[4300];
    snprintf(name, sizeof name, "bomb%d", comp);
    char *layout = tt_layout_comp(parent, name, &t, 1, comp);
    struct stat st;
    char blobs[4400];
    snprintf(blobs, sizeof blobs, "%s/blobs/sha256", layout);
    snprintf(ref, sizeof ref, "oci:%s:latest", layout);
    dj_err err = { 0 };
    cr_assert_eq(dj_image_unpack(ref, NULL, &o, root, &err), -1, "compression %d", comp);
    cr_assert(strstr(err.msg, "decompression bomb") != NULL, "%s", err.msg);
    cr_assert_eq(tt_count(root), -1, "a refused bomb left %s", root);
    cr_assert_eq(stat(blobs, &st), 0);
    free(layout);
  }
  free(t.p);
  free(data);
}

Test(unpack, entry_count_is_bounded)
{
  struct tentry e[] = { { 'f', "a", .data = "" }, { 'f', "b", .data = "" }, { 'f', "c", .data = "" } };
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.max_entries = 2;
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 3, &o, &err), -1);
  cr_assert(strstr(err.msg, "more than 2 entries") != NULL, "%s", err.msg);
}

Test(unpack, failure_removes_everything_and_names_the_entry)
{
  struct tentry e[] = { { 'd', "usr" }, { 'f', "usr/a", .data = "a" }, { 'c', "usr/evil" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 3, NULL, &err), -1);
  cr_assert(strstr(err.msg, "entry \"usr/evil\"") != NULL, "%s", err.msg);
  assert_nothing_outside();
}

/* Without CAP_DAC_OVERRIDE a directory the image made mode 0000 cannot be opened: the cleanup of a
 * failed unpack makes it searchable first, so nothing is left. Run as nobody on a DIR it owns. */
Test(unpack, failed_unprivileged_unpack_removes_a_mode_0000_directory)
{
  struct tentry e[] = { { 'd', "d" }, { 'f', "d/f", .data = "x" }, { 'd', "d", .mode = TT_MODE0 }, { 'c', "dev" } };
  struct tbuf t = tt_tar(e, 4);
  char *layout = tt_layout(parent, "layout", &t, 1, false);
  char ref[4200], root[4200];
  snprintf(ref, sizeof ref, "oci:%s:latest", layout);
  snprintf(root, sizeof root, "%s/root", parent);
  cr_assert_eq(chown(parent, 65534, 65534), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                           setresuid(65534, 65534, 65534) < 0))
      _exit(2);
    struct dj_unpack_opts o;
    dj_unpack_opts_default(&o);
    dj_err err = { 0 };
    if (dj_image_unpack(ref, NULL, &o, root, &err) != -1)
      _exit(3);
    _exit(strstr(err.msg, "entry \"dev\": device node") != NULL ? 0 : 4);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the unprivileged unpack: status %#x", status);
  cr_assert_eq(tt_count(root), -1, "the failed unpack left %s behind", root);
  assert_nothing_outside();
  free(layout);
  free(t.p);
}

Test(unpack, existing_nonempty_dir_is_refused)
{
  char root[4200];
  snprintf(root, sizeof root, "%s/root", parent);
  mkdir(root, 0755);
  char f[4300];
  snprintf(f, sizeof f, "%s/keep", root);
  tt_write(f, "mine", 4);
  struct tentry e[] = { { 'f', "x", .data = "x" } };
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 1, NULL, &err), -1);
  cr_assert(strstr(err.msg, "not empty") != NULL, "%s", err.msg);
  char *c = tt_read(f, NULL);
  cr_assert_str_eq(c, "mine");
  free(c);
}

Test(unpack, gzip_layers)
{
  struct tentry e[] = { { 'f', "hello", .data = "world" } };
  struct tbuf t = tt_tar(e, 1);
  char *layout = tt_layout(parent, "layout", &t, 1, true);
  char ref[4200], root[4200];
  snprintf(ref, sizeof ref, "oci:%s:latest", layout);
  snprintf(root, sizeof root, "%s/root", parent);
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  dj_err err = { 0 };
  cr_assert_eq(dj_image_unpack(ref, NULL, &o, root, &err), 0, "%s", err.msg);
  assert_file("hello", "world");
  free(layout);
  free(t.p);
}

Test(unpack, zstd_layers_and_a_corrupt_one)
{
  struct tentry e[] = { { 'f', "hello", .data = "zstd world" } };
  struct tbuf t = tt_tar(e, 1);
  char *layout = tt_layout_comp(parent, "layout", &t, 1, 2);
  char ref[4200], root[4200];
  snprintf(ref, sizeof ref, "oci:%s:latest", layout);
  snprintf(root, sizeof root, "%s/root", parent);
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  dj_err err = { 0 };
  cr_assert_eq(dj_image_unpack(ref, NULL, &o, root, &err), 0, "%s", err.msg);
  assert_file("hello", "zstd world");
  tt_rmrf(root);
  /* A zstd stream cut short (digest re-computed, as a hostile registry would): refused, nothing left. */
  tt_rewrite_layer(layout, 0, cut, NULL);
  cr_assert_eq(dj_image_unpack(ref, NULL, &o, root, &err), -1);
  cr_assert(strstr(err.msg, "zstd") != NULL, "%s", err.msg);
  cr_assert_eq(tt_count(root), -1);
  free(layout);
  free(t.p);
}

Test(unpack, total_size_is_bounded)
{
  struct tentry e[] = { { 'f', "a", .data = "0123456789" }, { 'f', "b", .data = "0123456789" } };
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.max_total_size = 15;
  dj_err err = { 0 };
  cr_assert_eq(unpack_one(e, 2, &o, &err), -1);
  cr_assert(strstr(err.msg, "files exceed 15 bytes") != NULL, "%s", err.msg);
  assert_nothing_outside();
}
