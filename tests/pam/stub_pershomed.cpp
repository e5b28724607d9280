// A stand-in for pershomed, for testing pam_pershome.so alone: it owns
// org.pershome1 on a private bus and answers OpenSession/CloseSession with
// canned replies, recording every call in a file the test reads. It does
// none of pershomed's work; the real end-to-end tests with pershomed live in
// tests/integration/.
//
//   stub_pershomed --mode=MODE --record=FILE --fifo-dir=DIR
//
// MODE:
//   answer              answer everything (see below)
//   hang                own the name and never read the bus: a wedged daemon
//   hang-close          answer OpenSession, never answer CloseSession
//   release-after-open  give up the bus name while answering OpenSession, as
//                       if the daemon had gone; keep watching the fifos
// Users: "patron" gets NotApplicable, "broken" gets Failed with a sentence,
// anyone else a session with reference "ref-USER-N" and a welcome message.
// Prints "ready" on stdout once the name is owned.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

std::string g_mode = "answer";
std::string g_record;
std::string g_fifo_dir = "/tmp";
int g_counter = 0;
sd_bus* g_bus = nullptr;
std::vector<sd_bus_message*> g_held;  // calls we never answer, on purpose

void record(const std::string& line) {
    FILE* f = fopen(g_record.c_str(), "a");
    if (!f) return;
    fprintf(f, "%s\n", line.c_str());
    fclose(f);
}

[[noreturn]] void die(const char* what, int r) {
    fprintf(stderr, "stub_pershomed: %s: %s\n", what, strerror(r < 0 ? -r : r));
    exit(1);
}

// Read end of each reference fifo -> its reference id.
std::map<int, std::string> g_fifos;

int on_fifo(sd_event_source* s, int fd, uint32_t revents, void* /*userdata*/) {
    char buf[64];
    if (revents & EPOLLIN)
        while (read(fd, buf, sizeof buf) > 0) {
        }
    if (revents & EPOLLHUP) {
        record("FifoEOF reference=" + g_fifos[fd]);
        g_fifos.erase(fd);
        sd_event_source_set_enabled(s, SD_EVENT_OFF);
        sd_event_source_unref(s);
        close(fd);
    }
    return 0;
}

// Reads a{sv} into "key=value" pairs (strings and uint32 only: all the PAM
// module sends), sorted so the record is stable.
int read_options(sd_bus_message* m, std::map<std::string, std::string>& out) {
    int r = sd_bus_message_enter_container(m, 'a', "{sv}");
    if (r < 0) return r;
    while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
        const char* key = nullptr;
        if ((r = sd_bus_message_read(m, "s", &key)) < 0) return r;
        char type = 0;
        const char* contents = nullptr;
        if ((r = sd_bus_message_peek_type(m, &type, &contents)) < 0) return r;
        if (contents && strcmp(contents, "s") == 0) {
            const char* v = nullptr;
            if ((r = sd_bus_message_read(m, "v", "s", &v)) < 0) return r;
            out[key] = v;
        } else if (contents && strcmp(contents, "u") == 0) {
            uint32_t v = 0;
            if ((r = sd_bus_message_read(m, "v", "u", &v)) < 0) return r;
            out[key] = std::to_string(v);
        } else {
            if ((r = sd_bus_message_skip(m, "v")) < 0) return r;
            out[key] = std::string("<") + (contents ? contents : "?") + ">";
        }
        if ((r = sd_bus_message_exit_container(m)) < 0) return r;
    }
    if (r < 0) return r;
    return sd_bus_message_exit_container(m);
}

int open_session(sd_bus_message* m, sd_bus_error* err) {
    const char* user = nullptr;
    int r = sd_bus_message_read(m, "s", &user);
    if (r < 0) return r;
    std::map<std::string, std::string> opts;
    if ((r = read_options(m, opts)) < 0) return r;
    std::string line = std::string("OpenSession user=") + user;
    for (auto& [k, v] : opts) line += " " + k + "=" + v;
    record(line);

    std::string u = user;
    if (u == "patron")
        return sd_bus_error_set(err, "org.pershome1.Error.NotApplicable",
                                "patron's home is not below a temporary-home root.");
    if (u == "broken")
        return sd_bus_error_set(err, "org.pershome1.Error.Failed",
                                "Your home directory could not be created: the disk is full.");

    std::string reference = "ref-" + u + "-" + std::to_string(++g_counter);
    std::string path = g_fifo_dir + "/" + reference + ".fifo";
    unlink(path.c_str());
    if (mkfifo(path.c_str(), 0600) < 0) return -errno;
    int rd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (rd < 0) return -errno;
    int wr = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (wr < 0) return -errno;
    g_fifos[rd] = reference;
    sd_event_source* src = nullptr;
    r = sd_event_add_io(sd_bus_get_event(g_bus), &src, rd, EPOLLIN, on_fifo, nullptr);
    if (r < 0) return r;

    std::string home = "/tmphome/" + u;
    std::string message = "Welcome, " + u + ": your temporary home is ready.";
    std::string object = "/org/pershome1/session/" + u;
    if (g_mode == "release-after-open") {
        // Before the reply, not after: once the module has its answer it
        // may call CloseSession at once, and that call must find the name
        // gone. (Replies go to the caller's unique name, so this one still
        // arrives.)
        r = sd_bus_release_name(g_bus, "org.pershome1");
        if (r < 0) return r;
        record("ReleasedName");
    }
    // sd-bus duplicates the fd into the reply; our copy goes right after.
    r = sd_bus_reply_method_return(m, "ossshs", object.c_str(), "tmphome", home.c_str(),
                                   reference.c_str(), wr, message.c_str());
    close(wr);
    if (r < 0) return r;
    return 1;
}

int close_session(sd_bus_message* m, sd_bus_error* /*err*/) {
    const char *user = nullptr, *reference = nullptr;
    int r = sd_bus_message_read(m, "ss", &user, &reference);
    if (r < 0) return r;
    std::map<std::string, std::string> opts;
    if ((r = read_options(m, opts)) < 0) return r;
    record(std::string("CloseSession user=") + user + " reference=" + reference);
    if (g_mode == "hang-close") {
        g_held.push_back(sd_bus_message_ref(m));
        return 1;
    }
    return sd_bus_reply_method_return(m, "s", "Goodbye.");
}

int on_manager(sd_bus_message* m, void* /*userdata*/, sd_bus_error* err) {
    if (sd_bus_message_is_method_call(m, "org.pershome1.Manager", "OpenSession"))
        return open_session(m, err);
    if (sd_bus_message_is_method_call(m, "org.pershome1.Manager", "CloseSession"))
        return close_session(m, err);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a.starts_with("--mode="))
            g_mode = a.substr(7);
        else if (a.starts_with("--record="))
            g_record = a.substr(9);
        else if (a.starts_with("--fifo-dir="))
            g_fifo_dir = a.substr(11);
        else {
            fprintf(stderr, "stub_pershomed: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    int r = sd_bus_open_system(&g_bus);
    if (r < 0) die("sd_bus_open_system", r);
    r = sd_bus_request_name(g_bus, "org.pershome1", 0);
    if (r < 0) die("sd_bus_request_name", r);

    if (g_mode == "hang") {
        printf("ready\n");
        fflush(stdout);
        // Owns the name and never reads: calls pile up unanswered in the
        // bus daemon, like a daemon stuck in a system call.
        for (;;) pause();
    }

    sd_event* event = nullptr;
    if ((r = sd_event_default(&event)) < 0) die("sd_event_default", r);
    if ((r = sd_bus_attach_event(g_bus, event, 0)) < 0) die("sd_bus_attach_event", r);
    if ((r = sd_bus_add_object(g_bus, nullptr, "/org/pershome1", on_manager, nullptr)) < 0)
        die("sd_bus_add_object", r);
    printf("ready\n");
    fflush(stdout);
    r = sd_event_loop(event);
    if (r < 0) die("sd_event_loop", r);
    return 0;
}
