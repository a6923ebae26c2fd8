/* Removing a directory tree we created, without following symlinks. */
#ifndef DJ_IMAGES_TREE_H
#define DJ_IMAGES_TREE_H

/* rm -rf path (path itself included); symlinks are removed, never followed. Best effort. */
void dj_remove_tree(const char *path);
/* Remove everything inside the directory dirfd (not dirfd itself). Best effort. */
void dj_empty_dir(int dirfd);
/* Remove the entry name of dirfd, a directory with everything inside. 0, or -1 with errno. */
int dj_remove_at(int dirfd, const char *name);

#endif
