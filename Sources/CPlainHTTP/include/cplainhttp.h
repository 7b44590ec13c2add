#ifndef CPLAINHTTP_H
#define CPLAINHTTP_H

#include <poll.h>
#include <time.h>

/// Waits up to `nanoseconds` for `events` on `descriptor` (ppoll where there is one: sub-millisecond waits);
/// returns poll's result: > 0 ready, 0 timed out, < 0 error (errno set).
int cplainhttp_wait(int descriptor, short events, long long nanoseconds);

#endif
