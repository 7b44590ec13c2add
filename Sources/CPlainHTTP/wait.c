#define _GNU_SOURCE
#include "cplainhttp.h"

int cplainhttp_wait(int descriptor, short events, long long nanoseconds) {
    struct pollfd entry = {.fd = descriptor, .events = events, .revents = 0};
#if defined(__linux__)
    struct timespec timeout = {.tv_sec = nanoseconds / 1000000000LL, .tv_nsec = nanoseconds % 1000000000LL};
    return ppoll(&entry, 1, &timeout, NULL);
#else
    long long milliseconds = (nanoseconds + 999999LL) / 1000000LL;
    return poll(&entry, 1, milliseconds > 2147483647LL ? 2147483647 : (int)milliseconds);
#endif
}
