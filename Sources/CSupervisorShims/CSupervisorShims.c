#define _GNU_SOURCE
#include "CSupervisorShims.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spawn.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int csupervisor_spawn_setsid_flag(void) {
#ifdef POSIX_SPAWN_SETSID
    return POSIX_SPAWN_SETSID;
#else
    return 0;
#endif
}

int csupervisor_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, lowfd);
#else
    (void)actions;
    (void)lowfd;
    return ENOSYS;
#endif
}

int csupervisor_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
    return posix_spawn_file_actions_addchdir_np(actions, path);
#else
    (void)actions;
    (void)path;
    return ENOSYS;
#endif
}

int csupervisor_limit_malloc_arenas(int count) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}

int csupervisor_pidfd_open(int pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int csupervisor_pipe_cloexec_nonblock(int fds[2]) {
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK);
}

int csupervisor_file_identity(const char *path, int fd, unsigned long long *device, unsigned long long *inode,
                              long long *size) {
    struct stat info;
    if ((path ? stat(path, &info) : fstat(fd, &info)) != 0) return -1;
    *device = (unsigned long long)info.st_dev;
    *inode = (unsigned long long)info.st_ino;
    *size = (long long)info.st_size;
    return 0;
}

struct csupervisor_condition {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    clockid_t clock;
};

csupervisor_condition *csupervisor_condition_create(void) {
    csupervisor_condition *condition = calloc(1, sizeof *condition);
    if (!condition) return NULL;
    pthread_mutex_init(&condition->mutex, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    condition->clock = CLOCK_REALTIME;
#if defined(__linux__)
    if (pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0) condition->clock = CLOCK_MONOTONIC;
#endif
    pthread_cond_init(&condition->cond, &attributes);
    pthread_condattr_destroy(&attributes);
    return condition;
}

void csupervisor_condition_destroy(csupervisor_condition *condition) {
    if (!condition) return;
    pthread_cond_destroy(&condition->cond);
    pthread_mutex_destroy(&condition->mutex);
    free(condition);
}

void csupervisor_condition_lock(csupervisor_condition *condition) { pthread_mutex_lock(&condition->mutex); }
void csupervisor_condition_unlock(csupervisor_condition *condition) { pthread_mutex_unlock(&condition->mutex); }
void csupervisor_condition_signal(csupervisor_condition *condition) { pthread_cond_signal(&condition->cond); }
void csupervisor_condition_broadcast(csupervisor_condition *condition) { pthread_cond_broadcast(&condition->cond); }
void csupervisor_condition_wait(csupervisor_condition *condition) {
    pthread_cond_wait(&condition->cond, &condition->mutex);
}

int csupervisor_condition_wait_for(csupervisor_condition *condition, long long nanoseconds) {
    if (nanoseconds <= 0) return 0;
    struct timespec deadline;
    clock_gettime(condition->clock, &deadline);
    deadline.tv_sec += (time_t)(nanoseconds / 1000000000LL);
    deadline.tv_nsec += (long)(nanoseconds % 1000000000LL);
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&condition->cond, &condition->mutex, &deadline) == ETIMEDOUT ? 0 : 1;
}

#if defined(__linux__) && defined(__GLIBC__)
#include <elf.h>
#include <stdint.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

/// Whether the object's dynamic section asks for text relocations (its read-only pages were then written at
/// load time, and dropping them would undo that).
static int csupervisor_has_text_relocations(const struct dl_phdr_info *info) {
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        if (header->p_type != PT_DYNAMIC) continue;
        const ElfW(Dyn) *entry = (const ElfW(Dyn) *)(info->dlpi_addr + header->p_vaddr);
        for (; entry->d_tag != DT_NULL; entry++) {
            if (entry->d_tag == DT_TEXTREL) return 1;
            if (entry->d_tag == DT_FLAGS && (entry->d_un.d_val & DF_TEXTREL)) return 1;
        }
    }
    return 0;
}

/// Unmaps the pages in [start, end) that are mapped from the file and unchanged (pagemap: present, file page);
/// pages this process has written (anonymous copies) are left alone.
static void csupervisor_release_file_pages(uintptr_t start, uintptr_t end, long long *released) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) return;
    uint64_t entries[512];
    uintptr_t run = 0;  // start of the run of releasable pages being gathered, 0 when none
    uintptr_t address = start;
    while (address < end) {
        size_t count = (end - address) / page;
        if (count > 512) count = 512;
        ssize_t got = pread(pagemap, entries, count * sizeof(uint64_t), (off_t)(address / page * sizeof(uint64_t)));
        if (got <= 0) break;
        count = (size_t)got / sizeof(uint64_t);
        for (size_t i = 0; i < count; i++, address += page) {
            const int present = (entries[i] >> 63) & 1, file = (entries[i] >> 61) & 1;
            if (present && file) {
                if (!run) run = address;
            } else if (run) {
                if (madvise((void *)run, address - run, MADV_DONTNEED) == 0) *released += (long long)(address - run);
                run = 0;
            }
        }
    }
    if (run && madvise((void *)run, address - run, MADV_DONTNEED) == 0) *released += (long long)(address - run);
    close(pagemap);
}

/// The executable's `.rodata` when the linker put it in a writable segment (it does when any input's
/// `.rodata` is writable; Foundation's ICU tables are tens of MiB of it). Constant data is never written
/// after load; the pages that relocations wrote at load are anonymous and stay.
long long csupervisor_release_unwritten_pages(void *start, size_t length) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t first = ((uintptr_t)start + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)start + length) & ~(page - 1);
    long long released = 0;
    if (end > first) csupervisor_release_file_pages(first, end, &released);
    return released;
}

static void csupervisor_release_writable_rodata(uintptr_t base, long long *released) {
    int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (file < 0) return;
    ElfW(Ehdr) header;
    ElfW(Shdr) *sections = NULL;
    char *names = NULL;
    if (pread(file, &header, sizeof header, 0) != (ssize_t)sizeof header) goto done;
    if (memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_shentsize != sizeof(ElfW(Shdr))) goto done;
    if (header.e_shnum == 0 || header.e_shstrndx >= header.e_shnum) goto done;
    size_t table = (size_t)header.e_shnum * sizeof(ElfW(Shdr));
    if (!(sections = malloc(table))) goto done;
    if (pread(file, sections, table, (off_t)header.e_shoff) != (ssize_t)table) goto done;
    const ElfW(Shdr) *strings = &sections[header.e_shstrndx];
    if (strings->sh_size == 0 || strings->sh_size > (1 << 20)) goto done;
    if (!(names = malloc(strings->sh_size + 1))) goto done;
    if (pread(file, names, strings->sh_size, (off_t)strings->sh_offset) != (ssize_t)strings->sh_size) goto done;
    names[strings->sh_size] = 0;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (unsigned i = 0; i < header.e_shnum; i++) {
        const ElfW(Shdr) *section = &sections[i];
        if (section->sh_type != SHT_PROGBITS || section->sh_name >= strings->sh_size) continue;
        if (!(section->sh_flags & SHF_ALLOC) || !(section->sh_flags & SHF_WRITE)) continue;
        if (strcmp(names + section->sh_name, ".rodata") != 0) continue;
        uintptr_t start = (base + section->sh_addr + page - 1) & ~(page - 1);
        uintptr_t end = (base + section->sh_addr + section->sh_size) & ~(page - 1);
        if (end > start) csupervisor_release_file_pages(start, end, released);
    }
done:
    free(names);
    free(sections);
    close(file);
}

struct csupervisor_release_state {
    long long released;
    int seen_executable;
};

static int csupervisor_release_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct csupervisor_release_state *state = data;
    // The first object is the executable itself.
    const int executable = !state->seen_executable;
    state->seen_executable = 1;
    // The vDSO is the kernel's own mapping, not a file's.
    if ((unsigned long)info->dlpi_addr == getauxval(AT_SYSINFO_EHDR)) return 0;
    if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso")) return 0;
    if (csupervisor_has_text_relocations(info)) return 0;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *header = &info->dlpi_phdr[i];
        // Only segments that are never written: code and read-only data, mapped from the file. Writable ones
        // (data, relocated pointers, RELRO) hold this process's own changes.
        if (header->p_type != PT_LOAD || (header->p_flags & PF_W)) continue;
        uintptr_t start = info->dlpi_addr + header->p_vaddr;
        uintptr_t end = start + header->p_filesz;
        // Whole pages inside the segment only: a page shared with a neighbouring segment is left alone.
        start = (start + page - 1) & ~(page - 1);
        end &= ~(page - 1);
        if (end <= start) continue;
        if (madvise((void *)start, end - start, MADV_DONTNEED) == 0) state->released += (long long)(end - start);
    }
    if (executable) csupervisor_release_writable_rodata(info->dlpi_addr, &state->released);
    return 0;
}

long long csupervisor_release_code_pages(void) {
    struct csupervisor_release_state state = {0, 0};
    dl_iterate_phdr(csupervisor_release_object, &state);
    malloc_trim(0);
    return state.released;
}
#else
long long csupervisor_release_code_pages(void) { return 0; }
long long csupervisor_release_unwritten_pages(void *start, size_t length) {
    (void)start;
    (void)length;
    return 0;
}
#endif
