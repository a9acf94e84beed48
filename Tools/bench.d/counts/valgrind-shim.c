/* Preloaded into relay, agent, sshd and ssh when they run under valgrind 3.19 (Debian 12's)
 * for their instruction counts (counts/tunnel.py). Two things otherwise kill valgrind
 * itself, not the program:
 *
 * - libdispatch parks the main thread of a Swift program (dispatch_main, the async
 *   main's drain) in sigsuspend() with a mask in read-only memory. valgrind's wrapper of
 *   rt_sigsuspend writes into that mask (to keep its own signal out of it) and takes a
 *   SIGSEGV. Here the mask is copied to the stack first; the call is otherwise the same.
 * - sshd's pre-authentication child sandboxes itself: a seccomp filter that allows only
 *   the system calls sshd makes, not the ones valgrind makes on its behalf; a limit of
 *   one open file (zero upstream), which valgrind refuses (it keeps descriptors of its
 *   own); a file size limit of zero and a chroot to an empty folder, under which
 *   callgrind cannot write its counts when the child exits (it then exits 1, which fails
 *   the login). Here the filter is refused (EINVAL), which sshd logs at debug level and
 *   goes on without, and the limits and the chroot are taken as done without being
 *   done. The child still drops to sshd's own user (counts/tunnel.py gives it a folder it
 *   may write to). The sandbox is off in this measurement only; it holds for the seconds
 *   of a login, not per forwarded connection.
 *
 * Nothing else is changed, so the instructions counted are the programs' own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    /* The kernel's sigset is 8 bytes on Linux, not glibc's 128. */
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)8);
}

int prctl(int option, ...) {
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
    unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_SECCOMP) {
        errno = EINVAL;
        return -1;
    }
    return (int)syscall(SYS_prctl, option, a2, a3, a4, a5);
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit *limit) {
    if ((resource == RLIMIT_NOFILE || resource == RLIMIT_FSIZE) && limit->rlim_max <= 1) return 0;
    return (int)syscall(SYS_prlimit64, 0, resource, limit, NULL);
}

int chroot(const char *path) {
    (void)path;
    return 0;
}
