// pershome-pam-login: a login as a display manager or login(1) does it, for
// tests and the demo. It opens a PAM session for USER with service SERVICE
// (a real Linux-PAM stack; under pam_wrapper in tests), then obeys commands
// on stdin, one per line:
//   run SHELL-COMMAND   run it as the user, in the home, with /bin/sh
//   close               close the session and exit
// End of input closes too. With --open-on-request it prints "ready" after
// pam_start and opens the session only when it reads the line "open" (so
// many logins can be started one by one and opened all at once). It reports on stdout, one line per
// event:
//   open <pam rc> <pam_strerror>      after pam_open_session
//   info: / error: <text>             what the PAM conversation showed
//   out: <line>                       the output of a command run as the user
//   ran <exit status>                 after a command
//   close <pam rc> <pam_strerror>     after pam_close_session
#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

namespace {

int conversation(int n, const pam_message** msgs, pam_response** resp, void*) {
    *resp = static_cast<pam_response*>(calloc(static_cast<size_t>(n), sizeof(pam_response)));
    if (!*resp) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        const char* kind = msgs[i]->msg_style == PAM_ERROR_MSG ? "error" : "info";
        std::printf("%s: %s\n", kind, msgs[i]->msg ? msgs[i]->msg : "");
    }
    std::fflush(stdout);
    return PAM_SUCCESS;
}

int run_as_user(const std::string& user, const std::string& command) {
    passwd* pw = getpwnam(user.c_str());
    if (!pw) {
        std::printf("out: no such user %s\n", user.c_str());
        return -1;
    }
    int out[2];
    if (pipe(out) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(out[0]);
        close(out[1]);
        if (setgroups(0, nullptr) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
            std::perror("dropping privileges");
            _exit(126);
        }
        if (chdir(pw->pw_dir) < 0) {
            std::perror(pw->pw_dir);
            _exit(126);
        }
        // The user's programs need the fake users (nss_wrapper) but not the
        // PAM wrapper's chatter.
        unsetenv("PAM_WRAPPER_DEBUGLEVEL");
        setenv("HOME", pw->pw_dir, 1);
        setenv("USER", user.c_str(), 1);
        execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    close(out[1]);
    FILE* f = fdopen(out[0], "r");
    char* line = nullptr;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        std::printf("out: %s", line);
        if (line[strlen(line) - 1] != '\n') std::printf("\n");
    }
    free(line);
    if (f) fclose(f);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
    bool on_request = argc > 1 && std::strcmp(argv[1], "--open-on-request") == 0;
    if (on_request) {
        ++argv;
        --argc;
    }
    if (argc != 3 || std::strcmp(argv[1], "--help") == 0) {
        std::fprintf(stderr,
                     "usage: pershome-pam-login [--open-on-request] SERVICE USER  (commands on "
                     "stdin)\n");
        return 2;
    }
    const std::string service = argv[1], user = argv[2];
    setvbuf(stdout, nullptr, _IOLBF, 0);
    pam_conv conv{conversation, nullptr};
    pam_handle_t* pamh = nullptr;
    int rc = pam_start(service.c_str(), user.c_str(), &conv, &pamh);
    if (rc != PAM_SUCCESS) {
        std::printf("open %d pam_start: %s\n", rc, pam_strerror(pamh, rc));
        return 1;
    }
    if (on_request) {
        std::printf("ready\n");
        std::string go;
        if (!std::getline(std::cin, go) || go != "open") {
            pam_end(pamh, PAM_SUCCESS);
            return 1;
        }
    }
    rc = pam_open_session(pamh, 0);
    std::printf("open %d %s\n", rc, pam_strerror(pamh, rc));
    const bool opened = rc == PAM_SUCCESS;
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line == "close") break;
        if (line.rfind("run ", 0) == 0) {
            int status = run_as_user(user, line.substr(4));
            std::printf("ran %d\n", status);
        } else {
            std::printf("error: unknown command: %s\n", line.c_str());
        }
    }
    int close_rc = PAM_SUCCESS;
    if (opened) {
        close_rc = pam_close_session(pamh, 0);
        std::printf("close %d %s\n", close_rc, pam_strerror(pamh, close_rc));
    }
    pam_end(pamh, close_rc);
    return opened && close_rc == PAM_SUCCESS ? 0 : 1;
}
