#include "config/daemon_config.hpp"

#include <syslog.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <set>

#include "config/located_json.hpp"
#include "config/read_file.hpp"

namespace pershome::config {

namespace {

using ojson = nlohmann::ordered_json;

constexpr std::array<std::pair<LogLevel, std::string_view>, 5> kLogLevels{{
    {LogLevel::Debug, "debug"},
    {LogLevel::Info, "info"},
    {LogLevel::Notice, "notice"},
    {LogLevel::Warning, "warning"},
    {LogLevel::Error, "error"},
}};

// Everything a key handler needs to complain precisely.
struct Ctx {
    const LocatedJson& doc;
    const std::string& filename;

    [[noreturn]] void fail(const std::string& pointer, const std::string& what) const {
        throw ConfigError(filename, doc.line_of(pointer), 0, what);
    }
};

// JSON spelling of a value for a message, cut to a readable length.
std::string shown(const ojson& v) {
    std::string text = v.dump();
    constexpr std::size_t kMax = 80;
    if (text.size() > kMax) text = text.substr(0, kMax) + "...";
    return text;
}

std::string json_quoted(std::string_view s) {
    return shown(ojson(std::string(s)));
}

std::string describe(const ojson& v) {
    if (v.is_string() || v.is_number() || v.is_boolean() || v.is_null()) {
        return v.type_name() + std::string(" ") + shown(v);
    }
    return std::string(v.type_name());
}

std::string display_name(const std::string& pointer) {
    // "/tmphome_roots/2" -> "tmphome_roots[2]" for messages.
    std::string out;
    std::size_t pos = 1;
    bool first = true;
    while (pos <= pointer.size()) {
        std::size_t next = pointer.find('/', pos);
        if (next == std::string::npos) next = pointer.size();
        std::string token = pointer.substr(pos, next - pos);
        if (first) {
            out = token;
        } else {
            out += "[" + token + "]";
        }
        first = false;
        pos = next + 1;
    }
    return "\"" + out + "\"";
}

std::int64_t get_int(const Ctx& ctx, const std::string& ptr, const ojson& v, std::int64_t lo,
                     std::int64_t hi) {
    const std::string range =
        "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    if (!v.is_number_integer())
        ctx.fail(ptr, display_name(ptr) + " " + range + ", got " + describe(v));
    bool in_range = v.is_number_unsigned()
                        ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi) &&
                              static_cast<std::int64_t>(v.get<std::uint64_t>()) >= lo
                        : v.get<std::int64_t>() >= lo && v.get<std::int64_t>() <= hi;
    if (!in_range) ctx.fail(ptr, display_name(ptr) + " " + range + ", got " + shown(v));
    return v.is_number_unsigned() ? static_cast<std::int64_t>(v.get<std::uint64_t>())
                                  : v.get<std::int64_t>();
}

const std::string& get_string(const Ctx& ctx, const std::string& ptr, const ojson& v) {
    if (!v.is_string()) ctx.fail(ptr, display_name(ptr) + " must be a string, got " + describe(v));
    return v.get_ref<const std::string&>();
}

std::string get_path(const Ctx& ctx, const std::string& ptr, const ojson& v, bool allow_root) {
    const std::string& s = get_string(ctx, ptr, v);
    if (s.find('\0') != std::string::npos) {
        ctx.fail(ptr, display_name(ptr) + " must not contain a NUL byte");
    }
    std::string norm = normalize_absolute_path(s);
    if (norm.empty()) {
        ctx.fail(ptr, display_name(ptr) + " must be an absolute path without \"..\", got " +
                          json_quoted(s));
    }
    if (!allow_root && norm == "/") ctx.fail(ptr, display_name(ptr) + " must not be \"/\"");
    return norm;
}

using Handler = std::function<void(const Ctx&, const std::string&, const ojson&, DaemonConfig&)>;

const std::vector<std::pair<std::string_view, Handler>>& handlers() {
    static const std::vector<std::pair<std::string_view, Handler>> table{
        {"state_dir", [](const Ctx& c, const std::string& p, const ojson& v,
                         DaemonConfig& cfg) { cfg.state_dir = get_path(c, p, v, false); }},
        {"persistent_homes",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.persistent_homes = get_path(c, p, v, false);
         }},
        {"default_skel", [](const Ctx& c, const std::string& p, const ojson& v,
                            DaemonConfig& cfg) { cfg.default_skel = get_path(c, p, v, false); }},
        {"log_level",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             const std::string& s = get_string(c, p, v);
             for (auto [level, name] : kLogLevels) {
                 if (s == name) {
                     cfg.log_level = level;
                     return;
                 }
             }
             c.fail(p, display_name(p) +
                           " must be one of \"debug\", \"info\", \"notice\", \"warning\", "
                           "\"error\", got " +
                           json_quoted(s));
         }},
        {"workers",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.workers = static_cast<int>(get_int(c, p, v, 1, 64));
         }},
        {"tmphome_roots",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             if (!v.is_array()) {
                 c.fail(p, display_name(p) + " must be an array of absolute paths, got " +
                               describe(v));
             }
             cfg.tmphome_roots.clear();
             std::set<std::string> seen;
             for (std::size_t i = 0; i < v.size(); ++i) {
                 std::string root = get_path(c, p + "/" + std::to_string(i), v[i], false);
                 // A repeat is harmless; keep the list clean for logs.
                 if (seen.insert(root).second) cfg.tmphome_roots.push_back(std::move(root));
             }
         }},
        {"operation_timeout_sec",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.operation_timeout = std::chrono::seconds(get_int(c, p, v, 1, 3600));
         }},
        {"pershome_fs", [](const Ctx& c, const std::string& p, const ojson& v,
                           DaemonConfig& cfg) { cfg.pershome_fs = get_path(c, p, v, false); }},
        {"stick_settle_ms",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.stick_settle = std::chrono::milliseconds(get_int(c, p, v, 0, 30000));
         }},
        {"fsck_timeout_sec",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.fsck_timeout = std::chrono::seconds(get_int(c, p, v, 1, 3600));
         }},
        {"mount_timeout_sec",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.mount_timeout = std::chrono::seconds(get_int(c, p, v, 1, 600));
         }},
        {"stick_backends",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             if (!v.is_object())
                 c.fail(p,
                        display_name(p) + " must be an object of argv arrays, got " + describe(v));
             cfg.stick_backends.clear();
             for (const auto& [name, argv] : v.items()) {
                 const std::string ptr = p + "/" + json_pointer_token(name);
                 const bool name_ok = !name.empty() && name.size() <= 32 &&
                                      name.find_first_not_of(
                                          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789_-") == std::string::npos;
                 if (!name_ok)
                     c.fail(ptr, "backend name " + json_quoted(name) +
                                     " must be 1 to 32 of A-Z a-z 0-9 _ -");
                 if (!argv.is_array() || argv.empty())
                     c.fail(ptr, display_name(ptr) + " must be a non-empty array of strings");
                 std::vector<std::string> words;
                 bool has_mountpoint = false;
                 for (std::size_t i = 0; i < argv.size(); ++i) {
                     words.push_back(get_string(c, ptr + "/" + std::to_string(i), argv[i]));
                     has_mountpoint |= words.back().find("{mountpoint}") != std::string::npos;
                 }
                 if (words[0].empty()) c.fail(ptr, display_name(ptr) + ": the program is empty");
                 if (!has_mountpoint) c.fail(ptr, display_name(ptr) + " must contain {mountpoint}");
                 cfg.stick_backends[name] = std::move(words);
             }
         }},
        {"logout_grace_sec",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.logout_grace = std::chrono::seconds(get_int(c, p, v, 0, 300));
         }},
        {"max_references_per_user",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.max_references_per_user = get_int(c, p, v, 1, 4096);
         }},
        {"max_references",
         [](const Ctx& c, const std::string& p, const ojson& v, DaemonConfig& cfg) {
             cfg.max_references = get_int(c, p, v, 1, 60000);
         }},
    };
    return table;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string unknown_key_message(const std::string& key) {
    std::string msg = "unknown key " + json_quoted(key);
    std::string_view best;
    std::size_t best_distance = 3;  // only suggest near misses
    std::string known;
    for (const auto& [name, handler] : handlers()) {
        std::size_t d = edit_distance(key, name);
        if (d < best_distance) {
            best_distance = d;
            best = name;
        }
        if (!known.empty()) known += ", ";
        known += name;
    }
    if (!best.empty()) return msg + " (did you mean \"" + std::string(best) + "\"?)";
    return msg + " (known keys: " + known + ")";
}

}  // namespace

std::string_view to_string(LogLevel level) {
    for (auto [l, name] : kLogLevels) {
        if (l == level) return name;
    }
    return "info";
}

int syslog_priority(LogLevel level) {
    switch (level) {
        case LogLevel::Debug:
            return LOG_DEBUG;
        case LogLevel::Info:
            return LOG_INFO;
        case LogLevel::Notice:
            return LOG_NOTICE;
        case LogLevel::Warning:
            return LOG_WARNING;
        case LogLevel::Error:
            return LOG_ERR;
    }
    return LOG_INFO;
}

std::string normalize_absolute_path(std::string_view path) {
    if (path.empty() || path.front() != '/') return {};
    std::string out;
    std::size_t pos = 0;
    while (pos < path.size()) {
        while (pos < path.size() && path[pos] == '/') ++pos;
        std::size_t end = path.find('/', pos);
        if (end == std::string_view::npos) end = path.size();
        std::string_view comp = path.substr(pos, end - pos);
        pos = end;
        if (comp.empty() || comp == ".") continue;
        if (comp == "..") return {};
        out += '/';
        out += comp;
    }
    return out.empty() ? "/" : out;
}

bool DaemonConfig::allows_tmphome_root(std::string_view root) const {
    if (root.find('\0') != std::string_view::npos) return false;
    std::string norm = normalize_absolute_path(root);
    if (norm.empty()) return false;
    if (tmphome_roots.empty()) return true;
    return std::find(tmphome_roots.begin(), tmphome_roots.end(), norm) != tmphome_roots.end();
}

DaemonConfig parse_daemon_config(std::string_view json_text, const std::string& filename) {
    LocatedJson doc = parse_located_json(json_text, filename);
    if (!doc.value.is_object()) {
        throw ConfigError(filename, doc.line_of(""), 0,
                          std::string("the configuration must be a JSON object {...}, got ") +
                              doc.value.type_name());
    }
    Ctx ctx{doc, filename};
    DaemonConfig cfg;
    for (const auto& [key, value] : doc.value.items()) {
        const std::string pointer = "/" + json_pointer_token(key);
        auto it = std::find_if(handlers().begin(), handlers().end(),
                               [&](const auto& h) { return h.first == key; });
        if (it == handlers().end()) ctx.fail(pointer, unknown_key_message(key));
        it->second(ctx, pointer, value, cfg);
    }
    return cfg;
}

DaemonConfig load_daemon_config(const std::string& path) {
    auto text = read_config_file(path, kMaxDaemonConfigBytes);
    if (!text) throw ConfigError(path, "cannot read configuration: " + text.error().message);
    return parse_daemon_config(*text, path);
}

std::string dump_daemon_config(const DaemonConfig& config) {
    ojson j = ojson::object();
    j["state_dir"] = config.state_dir;
    j["persistent_homes"] = config.persistent_homes;
    j["default_skel"] = config.default_skel;
    j["log_level"] = std::string(to_string(config.log_level));
    j["workers"] = config.workers;
    j["tmphome_roots"] = config.tmphome_roots;
    j["operation_timeout_sec"] = config.operation_timeout.count();
    j["pershome_fs"] = config.pershome_fs;
    j["stick_settle_ms"] = config.stick_settle.count();
    j["fsck_timeout_sec"] = config.fsck_timeout.count();
    j["mount_timeout_sec"] = config.mount_timeout.count();
    j["logout_grace_sec"] = config.logout_grace.count();
    j["max_references_per_user"] = config.max_references_per_user;
    j["max_references"] = config.max_references;
    j["stick_backends"] = ojson::object();
    for (const auto& [name, argv] : config.stick_backends) j["stick_backends"][name] = argv;
    return j.dump(2) + "\n";
}

}  // namespace pershome::config
