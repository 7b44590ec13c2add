#define _GNU_SOURCE
#include "CHostShims.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <spawn.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int chost_spawn_setsid_flag(void) {
#ifdef POSIX_SPAWN_SETSID
    return POSIX_SPAWN_SETSID;
#else
    return 0;
#endif
}

int chost_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, lowfd);
#else
    (void)actions;
    (void)lowfd;
    return ENOSYS;
#endif
}

int chost_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
    return posix_spawn_file_actions_addchdir_np(actions, path);
#else
    (void)actions;
    (void)path;
    return ENOSYS;
#endif
}

int chost_limit_malloc_arenas(int count) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}

int chost_pidfd_open(int pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int chost_pipe_cloexec_nonblock(int fds[2]) {
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK);
}

int chost_file_identity(const char *path, int fd, unsigned long long *device, unsigned long long *inode,
                              long long *size) {
    struct stat info;
    if ((path ? stat(path, &info) : fstat(fd, &info)) != 0) return -1;
    *device = (unsigned long long)info.st_dev;
    *inode = (unsigned long long)info.st_ino;
    *size = (long long)info.st_size;
    return 0;
}

struct chost_condition {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    clockid_t clock;
};

chost_condition *chost_condition_create(void) {
    chost_condition *condition = calloc(1, sizeof *condition);
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

void chost_condition_destroy(chost_condition *condition) {
    if (!condition) return;
    pthread_cond_destroy(&condition->cond);
    pthread_mutex_destroy(&condition->mutex);
    free(condition);
}

void chost_condition_lock(chost_condition *condition) { pthread_mutex_lock(&condition->mutex); }
void chost_condition_unlock(chost_condition *condition) { pthread_mutex_unlock(&condition->mutex); }
void chost_condition_signal(chost_condition *condition) { pthread_cond_signal(&condition->cond); }
void chost_condition_broadcast(chost_condition *condition) { pthread_cond_broadcast(&condition->cond); }
void chost_condition_wait(chost_condition *condition) {
    pthread_cond_wait(&condition->cond, &condition->mutex);
}

int chost_condition_wait_for(chost_condition *condition, long long nanoseconds) {
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
#include <malloc.h>

int chost_trim_malloc(void) { return malloc_trim(0); }
#else
int chost_trim_malloc(void) { return 0; }
#endif

long long chost_raise_open_file_limit(long long ceiling) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    rlim_t wanted = limit.rlim_max;
    if (wanted == RLIM_INFINITY || wanted > (rlim_t)ceiling) wanted = (rlim_t)ceiling;
    if (limit.rlim_cur < wanted) {
        struct rlimit raised = {.rlim_cur = wanted, .rlim_max = limit.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit.rlim_cur = wanted;
    }
    return limit.rlim_cur == RLIM_INFINITY ? ceiling : (long long)limit.rlim_cur;
}
