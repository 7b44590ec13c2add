// The few GNU extensions of posix_spawn that the supervisor needs; glibc declares them only under
// _GNU_SOURCE, which Swift's Glibc module does not define.
#ifndef CHOST_SHIMS_H
#define CHOST_SHIMS_H

#include <spawn.h>
#include <stddef.h>

/// POSIX_SPAWN_SETSID: the child starts a new session (and process group) before exec; 0 where unsupported.
int chost_spawn_setsid_flag(void);

/// Closes every descriptor from `lowfd` up in the child (posix_spawn_file_actions_addclosefrom_np).
int chost_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd);

/// Changes the child's working directory before exec (posix_spawn_file_actions_addchdir_np).
int chost_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// Caps glibc's malloc arenas at `count` (mallopt M_ARENA_MAX): a daemon whose threads come and go (probes that
/// wait off the cooperative pool) otherwise gets an arena per thread, each keeping freed memory; 0 where there
/// is no such knob. Returns mallopt's result (1 on success).
int chost_limit_malloc_arenas(int count);

/// pidfd_open(2): a close-on-exec descriptor for process `pid` that becomes readable when it ends, child or not;
/// -1 with errno set when there is none (ENOSYS before Linux 5.3, ESRCH when the process is gone).
int chost_pidfd_open(int pid);

/// pipe2(fds, O_CLOEXEC | O_NONBLOCK): a pipe no spawned process inherits, even where closefrom is missing.
int chost_pipe_cloexec_nonblock(int fds[2]);

/// fstat(fd) when `path` is NULL, else stat(path): device, inode and size; 0 on success, -1 with errno set.
int chost_file_identity(const char *path, int fd, unsigned long long *device, unsigned long long *inode,
                              long long *size);

/// A mutex and a condition variable whose timed waits run on CLOCK_MONOTONIC (where the platform allows), so
/// that setting the wall clock back doesn't stretch them. Opaque; NULL when it can't be made.
typedef struct chost_condition chost_condition;
chost_condition *chost_condition_create(void);
void chost_condition_destroy(chost_condition *condition);
void chost_condition_lock(chost_condition *condition);
void chost_condition_unlock(chost_condition *condition);
void chost_condition_signal(chost_condition *condition);
void chost_condition_broadcast(chost_condition *condition);
/// Waits (the lock held) until signalled.
void chost_condition_wait(chost_condition *condition);
/// Waits (the lock held) until signalled or `nanoseconds` have passed; 1 when woken before, 0 on timeout.
int chost_condition_wait_for(chost_condition *condition, long long nanoseconds);

/// Returns the free memory of malloc's arenas to the system (malloc_trim(0)); 1 when some was released, 0 when none
/// was or where unsupported.
int chost_trim_malloc(void);

/// Raises this process's soft limit on open descriptors (RLIMIT_NOFILE) to its hard limit, or to `ceiling` when the
/// hard limit is higher or unlimited; never lowers it. Returns the soft limit now in force, -1 when it can't be read.
long long chost_raise_open_file_limit(long long ceiling);

#endif
