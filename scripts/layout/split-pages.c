// A profiling aid for scripts/profile-layout.sh, never part of llama-orch: loaded with LD_PRELOAD, it splits the
// file mappings of one executable (the path in LAYOUT_PROFILE_EXE) into one-page mappings, by giving every other
// page a different read-ahead advice. The kernel maps pages "around" a faulting one only inside its mapping, so
// afterwards a page is resident in /proc/<pid>/pagemap only if the process itself touched it.
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((constructor)) static void split_pages(void) {
    const char *wanted = getenv("LAYOUT_PROFILE_EXE");
    char exe[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (!wanted || length <= 0) return;
    exe[length] = 0;
    if (strcmp(exe, wanted) != 0) return;
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps) return;
    unsigned long ranges[32][2];
    int count = 0;
    char line[PATH_MAX + 128];
    while (count < 32 && fgets(line, sizeof line, maps)) {
        unsigned long low, high;
        char path[PATH_MAX] = "";
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095s", &low, &high, path) == 3 && strcmp(path, exe) == 0) {
            ranges[count][0] = low;
            ranges[count][1] = high;
            count++;
        }
    }
    fclose(maps);
    const unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE);
    long advised = 0;
    for (int i = 0; i < count; i++)
        for (unsigned long address = ranges[i][0]; address < ranges[i][1]; address += 2 * page)
            if (madvise((void *)address, page, MADV_RANDOM) == 0) advised++;
    fprintf(stderr, "layout profile: %ld pages of %s split into mappings of their own\n", advised, exe);
}
