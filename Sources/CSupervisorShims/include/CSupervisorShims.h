// The few GNU extensions of posix_spawn that the supervisor needs; glibc declares them only under
// _GNU_SOURCE, which Swift's Glibc module does not define.
#ifndef CSUPERVISOR_SHIMS_H
#define CSUPERVISOR_SHIMS_H

#include <spawn.h>

/// POSIX_SPAWN_SETSID: the child starts a new session (and process group) before exec; 0 where unsupported.
int csupervisor_spawn_setsid_flag(void);

/// Closes every descriptor from `lowfd` up in the child (posix_spawn_file_actions_addclosefrom_np).
int csupervisor_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd);

/// Changes the child's working directory before exec (posix_spawn_file_actions_addchdir_np).
int csupervisor_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path);

/// Caps glibc's malloc arenas at `count` (mallopt M_ARENA_MAX): a daemon whose threads come and go (probes that
/// wait off the cooperative pool) otherwise gets an arena per thread, each keeping freed memory; 0 where there
/// is no such knob. Returns mallopt's result (1 on success).
int csupervisor_limit_malloc_arenas(int count);

/// pidfd_open(2): a close-on-exec descriptor for process `pid` that becomes readable when it ends, child or not;
/// -1 with errno set when there is none (ENOSYS before Linux 5.3, ESRCH when the process is gone).
int csupervisor_pidfd_open(int pid);

/// pipe2(fds, O_CLOEXEC | O_NONBLOCK): a pipe no spawned process inherits, even where closefrom is missing.
int csupervisor_pipe_cloexec_nonblock(int fds[2]);

/// fstat(fd) when `path` is NULL, else stat(path): device, inode and size; 0 on success, -1 with errno set.
int csupervisor_file_identity(const char *path, int fd, unsigned long long *device, unsigned long long *inode,
                              long long *size);

#endif
