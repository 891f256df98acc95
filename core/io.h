/* io.h - the one OS shim of the core: map (or read) a whole file. Natively on
 * POSIX the file is memory-mapped read-only; elsewhere (or when mapping is
 * off) it is read into a malloc'd buffer. */
#ifndef RELP_IO_H
#define RELP_IO_H

#include <stddef.h>

struct relp_mapped_file {
    const unsigned char *data;
    size_t size;
    int is_mapped; /* 1: munmap on close, 0: free */
};

/* Returns 0 on success; on failure -1 and err (cap bytes) says why. */
int relp__map_file(struct relp_mapped_file *f, const char *path, int use_mmap, char *err, size_t cap);
void relp__unmap_file(struct relp_mapped_file *f);
/* 1 if path names an existing regular file. */
int relp__file_exists(const char *path);
int relp__dir_exists(const char *path);
/* The names in a folder (no "." or ".."), sorted, into *names (each and the array malloc'd); 0, or -1 (also
 * where the platform has no folders, as in WebAssembly). */
int relp__list_dir(const char *path, char ***names, int *n);

#endif
