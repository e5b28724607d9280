// A minimal PAM application for the tests: opens and closes one session of
// USER through SERVICE and reports what the PAM stack (that is,
// pam_pershome.so) changed in the process: file descriptors, signal mask and
// handlers, threads, the process environment and the PAM environment. A
// module loaded into sshd or gdm must leave all of these as it found them,
// except for the reference fifo it keeps (close-on-exec) until close.
//
//   pam_app SERVICE USER [TTY]   (run under pam_wrapper, like pamtester)
//
// Prints one line per step: "open rc=N new_fds=K all_cloexec=B same=B" and
// "close rc=N new_fds=K same=B", with PAM's messages as "info: ..." and
// "error: ...".
#include <dirent.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Snapshot {
    std::set<int> fds;
    std::string sigmask;
    std::vector<std::string> handlers;
    int threads = 0;
    std::vector<std::string> env;
    std::vector<std::string> pam_env;

    bool same_but_fds(const Snapshot& o, std::string& why) const {
        if (sigmask != o.sigmask) why += " sigmask";
        if (handlers != o.handlers) why += " handlers";
        if (threads != o.threads) why += " threads";
        if (env != o.env) why += " environ";
        if (pam_env != o.pam_env) why += " pam_env";
        return why.empty();
    }
};

std::set<int> open_fds() {
    std::set<int> fds;
    DIR* d = opendir("/proc/self/fd");
    if (!d) return fds;
    for (dirent* e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != dirfd(d)) fds.insert(fd);
    }
    closedir(d);
    return fds;
}

int thread_count() {
    int n = 0;
    DIR* d = opendir("/proc/self/task");
    if (!d) return -1;
    for (dirent* e; (e = readdir(d));)
        if (e->d_name[0] != '.') ++n;
    closedir(d);
    return n;
}

Snapshot snapshot(pam_handle_t* pamh) {
    Snapshot s;
    s.fds = open_fds();
    sigset_t set;
    sigprocmask(SIG_BLOCK, nullptr, &set);
    for (int sig = 1; sig < NSIG; ++sig) s.sigmask += sigismember(&set, sig) == 1 ? '1' : '0';
    for (int sig = 1; sig < NSIG; ++sig) {
        struct sigaction sa {};
        if (sigaction(sig, nullptr, &sa) != 0) continue;
        char buf[64];
        snprintf(buf, sizeof buf, "%d:%p:%x", sig, reinterpret_cast<void*>(sa.sa_handler),
                 static_cast<unsigned>(sa.sa_flags));
        s.handlers.push_back(buf);
    }
    s.threads = thread_count();
    for (char** e = environ; *e; ++e) s.env.push_back(*e);
    if (pamh) {
        char** list = pam_getenvlist(pamh);
        for (char** e = list; e && *e; ++e) {
            s.pam_env.push_back(*e);
            free(*e);
        }
        free(list);
    }
    return s;
}

int conv(int n, const pam_message** msg, pam_response** resp, void*) {
    *resp = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
    if (!*resp) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        if (msg[i]->msg_style == PAM_TEXT_INFO)
            printf("info: %s\n", msg[i]->msg);
        else if (msg[i]->msg_style == PAM_ERROR_MSG)
            printf("error: %s\n", msg[i]->msg);
        else
            return PAM_CONV_ERR;  // the module must never prompt
    }
    fflush(stdout);
    return PAM_SUCCESS;
}

void report(const char* step, int rc, const Snapshot& before, const Snapshot& after,
            pam_handle_t* pamh) {
    int added = 0;
    bool cloexec = true;
    for (int fd : after.fds) {
        if (before.fds.count(fd)) continue;
        ++added;
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) cloexec = false;
    }
    int removed = 0;
    for (int fd : before.fds)
        if (!after.fds.count(fd)) ++removed;
    std::string why;
    bool same = after.same_but_fds(before, why);
    printf("%s rc=%d (%s) new_fds=%d gone_fds=%d all_cloexec=%d same=%d%s%s\n", step, rc,
           pam_strerror(pamh, rc), added, removed, cloexec ? 1 : 0, same ? 1 : 0,
           same ? "" : " differs:", why.c_str());
    fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: pam_app SERVICE USER [TTY]\n");
        return 2;
    }
    pam_conv c = {conv, nullptr};
    pam_handle_t* pamh = nullptr;
    int rc = pam_start(argv[1], argv[2], &c, &pamh);
    if (rc != PAM_SUCCESS) {
        fprintf(stderr, "pam_start: %d\n", rc);
        return 2;
    }
    if (argc == 4 && pam_set_item(pamh, PAM_TTY, argv[3]) != PAM_SUCCESS) {
        fprintf(stderr, "pam_set_item(PAM_TTY) failed\n");
        return 2;
    }
    Snapshot s0 = snapshot(pamh);
    rc = pam_open_session(pamh, 0);
    Snapshot s1 = snapshot(pamh);
    report("open", rc, s0, s1, pamh);
    rc = pam_close_session(pamh, 0);
    Snapshot s2 = snapshot(pamh);
    report("close", rc, s0, s2, pamh);
    pam_end(pamh, rc);
    return 0;
}
