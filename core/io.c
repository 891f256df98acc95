/* io.c - map or read whole files (see io.h). The only file in core/ that
 * includes OS headers. */
#if !defined(_WIN32) && !defined(__EMSCRIPTEN__)
#define _POSIX_C_SOURCE 200809L
#define RELP_HAVE_MMAP 1
#endif

#include "io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef RELP_HAVE_MMAP
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

int relp__file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int relp__dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int relp__map_file(struct relp_mapped_file *f, const char *path, int use_mmap, char *err, size_t cap) {
    memset(f, 0, sizeof *f);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, cap, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, cap, "%s: not a regular file", path);
        return -1;
    }
    size_t size = (size_t)st.st_size;
#ifdef RELP_HAVE_MMAP
    if (use_mmap && size > 0) {
        int fd = open(path, O_RDONLY);
        if (fd < 0) {
            snprintf(err, cap, "%s: cannot open (%s)", path, strerror(errno));
            return -1;
        }
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) {
            snprintf(err, cap, "%s: cannot map %zu bytes (%s)", path, size, strerror(errno));
            return -1;
        }
        f->data = p;
        f->size = size;
        f->is_mapped = 1;
        return 0;
    }
#else
    (void)use_mmap;
#endif
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, cap, "%s: cannot open (%s)", path, strerror(errno));
        return -1;
    }
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(fp);
        snprintf(err, cap, "%s: out of memory reading %zu bytes", path, size);
        return -1;
    }
    if (size && fread(buf, 1, size, fp) != size) {
        fclose(fp);
        free(buf);
        snprintf(err, cap, "%s: short read", path);
        return -1;
    }
    fclose(fp);
    f->data = buf;
    f->size = size;
    return 0;
}

void relp__unmap_file(struct relp_mapped_file *f) {
    if (!f->data) return;
#ifdef RELP_HAVE_MMAP
    if (f->is_mapped) {
        munmap((void *)f->data, f->size);
        f->data = NULL;
        return;
    }
#endif
    free((void *)f->data);
    f->data = NULL;
}

#ifdef RELP_HAVE_MMAP
static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
#endif

int relp__list_dir(const char *path, char ***names, int *n) {
    *names = NULL;
    *n = 0;
#ifdef RELP_HAVE_MMAP
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int cap = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(*names, (size_t)cap * sizeof *grown);
            if (!grown) break;
            *names = grown;
        }
        if (((*names)[*n] = malloc(strlen(e->d_name) + 1))) strcpy((*names)[(*n)++], e->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, (size_t)*n, sizeof **names, cmp_names);
    return 0;
#else
    (void)path;
    return -1;
#endif
}
