#include "fs/index_format.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "fs/crc32c.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {
namespace {

constexpr char kMagic[8] = {'P', 'S', 'H', 'M', 'I', 'D', 'X', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr char kDeltaMagic[8] = {'P', 'S', 'H', 'M', 'D', 'L', 'T', '2'};
constexpr std::uint32_t kDeltaVersion = 2;
// Smallest operation: kind byte + u16 name length + a 1-byte name.
constexpr std::size_t kMinOp = 3;
// A slot that grew past the deltas of the one before sits at 2C plus their
// budget (place_next_base), beyond 4 x need for small directories: still a
// layout this writer makes, so its capacity stays trusted (bounded, so a
// hostile field still cannot send writes far).
constexpr std::uint64_t kDeltaSlack = 2 * kDeltaMinBudget;
constexpr std::uint8_t kFlagLinked = 1;
constexpr std::uint8_t kFlagRealIsName = 2;
constexpr std::uint8_t kFlagAtPath = 4;
// Fixed part of an entry record, before its variable-length fields.
constexpr std::size_t kEntryFixed = 2 + 2 + 1 + 1 + 2 + 4 + 3 * 12 + 8 + 4 + 4 + 4;

class Out {
  public:
    void u8(std::uint8_t v) { s_.push_back(static_cast<char>(v)); }
    void u16(std::uint16_t v) { le(v, 2); }
    void u32(std::uint32_t v) { le(v, 4); }
    void u64(std::uint64_t v) { le(v, 8); }
    void ts(const Timestamp& t) {
        u64(static_cast<std::uint64_t>(t.sec));
        u32(t.nsec);
    }
    void bytes(std::string_view b) { s_.append(b); }
    std::string take() { return std::move(s_); }

  private:
    void le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
    std::string s_;
};

class In {
  public:
    explicit In(std::string_view s) : s_(s) {}
    bool ok() const { return ok_; }
    std::size_t left() const { return s_.size() - pos_; }
    std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(le(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
    std::uint64_t u64() { return le(8); }
    Timestamp ts() {
        Timestamp t;
        t.sec = static_cast<std::int64_t>(u64());
        t.nsec = u32();
        return t;
    }
    std::string_view bytes(std::size_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return {};
        }
        auto b = s_.substr(pos_, n);
        pos_ += n;
        return b;
    }

  private:
    std::uint64_t le(int n) {
        auto b = bytes(static_cast<std::size_t>(n));
        if (b.size() != static_cast<std::size_t>(n)) return 0;
        std::uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[i]);
        return v;
    }
    std::string_view s_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

void write_entry(Out& o, const Entry& e, bool with_names) {
    const bool real_is_name = with_names && e.real == e.name && !e.real.empty() && !e.at_path;
    std::string at;  // AT_PATH: the path, then NUL and the previous one while it moves
    if (e.at_path) at = e.real_prev.empty() ? e.real : e.real + '\0' + e.real_prev;
    const std::string_view real = real_is_name ? std::string_view{}
                                  : e.at_path  ? std::string_view{at}
                                               : std::string_view{e.real};
    o.u16(static_cast<std::uint16_t>(with_names ? e.name.size() : 0));
    o.u16(static_cast<std::uint16_t>(real.size()));
    o.u8(static_cast<std::uint8_t>(e.type));
    o.u8(static_cast<std::uint8_t>((e.linked() ? kFlagLinked : 0) |
                                   (real_is_name ? kFlagRealIsName : 0) |
                                   (e.at_path ? kFlagAtPath : 0)));
    o.u16(0);
    o.u32(e.mode & 0777);
    o.ts(e.atime);
    o.ts(e.mtime);
    o.ts(e.ctime);
    o.u64(e.link_id);
    o.u32(e.nlink);
    o.u32(static_cast<std::uint32_t>(e.target.size()));
    o.u32(static_cast<std::uint32_t>(e.xattrs.size()));
    if (with_names) o.bytes(e.name);
    o.bytes(real);
    o.bytes(e.target);
    for (const auto& [k, v] : e.xattrs) {
        o.u16(static_cast<std::uint16_t>(k.size()));
        o.u32(static_cast<std::uint32_t>(v.size()));
        o.bytes(k);
        o.bytes(v);
    }
}

Timestamp sane(Timestamp t) {
    if (t.nsec >= 1000000000u) t.nsec = 0;
    return t;
}

// Reads one record; false when the structure is broken (stop parsing).
// `*keep` is false when the record is well-formed but unacceptable.
bool read_entry(In& in, Entry* e, bool with_names, bool* keep, std::string* why) {
    *keep = true;
    const std::uint16_t name_len = in.u16();
    const std::uint16_t real_len = in.u16();
    const std::uint8_t type = in.u8();
    const std::uint8_t flags = in.u8();
    in.u16();
    const std::uint32_t mode = in.u32();
    e->atime = sane(in.ts());
    e->mtime = sane(in.ts());
    e->ctime = sane(in.ts());
    e->link_id = in.u64();
    e->nlink = in.u32();
    const std::uint32_t target_len = in.u32();
    const std::uint32_t xattr_count = in.u32();
    if (!in.ok()) return false;
    if ((!with_names && name_len != 0) || real_len > kMaxRealLen || target_len > kMaxTargetLen)
        return false;
    e->name = in.bytes(name_len);
    e->real = in.bytes(real_len);
    e->target = in.bytes(target_len);
    if (!in.ok()) return false;
    // Each xattr needs at least its 6 header bytes: caps absurd counts.
    if (xattr_count > in.left() / 6) return false;
    std::size_t xattr_total = 0;
    for (std::uint32_t i = 0; i < xattr_count; ++i) {
        const std::uint16_t kl = in.u16();
        const std::uint32_t vl = in.u32();
        if (!in.ok() || kl > kMaxXattrName || vl > kMaxXattrValue) return false;
        std::string k{in.bytes(kl)};
        std::string v{in.bytes(vl)};
        if (!in.ok()) return false;
        xattr_total += k.size() + v.size();
        if (k.rfind("user.", 0) != 0 || k.size() <= 5 || k.find('\0') != std::string::npos ||
            xattr_total > kMaxXattrTotal) {
            *why = "xattr dropped";
            continue;
        }
        e->xattrs.emplace(std::move(k), std::move(v));
    }
    if (flags & kFlagRealIsName) {
        if (real_len != 0) return false;
        e->real = e->name;
    }
    e->at_path = (flags & kFlagAtPath) != 0;
    if (e->at_path) {
        // Not a backing name here: the path of the data, then the one it is
        // leaving while a move is under way (section 5).
        const auto nul = e->real.find('\0');
        if (nul != std::string::npos) {
            e->real_prev = e->real.substr(nul + 1);
            e->real.resize(nul);
        }
        if (!is_valid_data_path(e->real) ||
            (!e->real_prev.empty() && !is_valid_data_path(e->real_prev)) ||
            (flags & (kFlagLinked | kFlagRealIsName)) || type == 2) {
            *keep = false;
            *why = "invalid path of a hard-linked file's data";
        }
    }
    if (!(flags & kFlagLinked)) e->link_id = 0;
    if ((flags & kFlagLinked) && e->link_id == 0) {
        *keep = false;
        *why = "linked entry without link id";
    }
    if (type < 1 || type > 5) {
        // Device nodes and unknown types never reach the mount.
        *keep = false;
        *why = "unknown or forbidden type";
    }
    e->type = static_cast<NodeType>(type);
    if (mode & ~0777u) *why = "mode sanitised";
    e->mode = mode & 0777;  // never setuid, setgid or sticky
    if (e->nlink == 0 || e->nlink > kMaxNlink) e->nlink = 1;
    if (e->target.find('\0') != std::string::npos) {
        *keep = false;
        *why = "NUL in symlink target";
    }
    if (e->type == NodeType::Symlink && e->target.empty() && !e->linked()) {
        *keep = false;
        *why = "empty symlink target";
    }
    if (with_names && !is_valid_posix_name(e->name)) {
        *keep = false;
        *why = "invalid name";
    }
    if (!e->real.empty() && !e->at_path &&
        (!is_valid_posix_name(e->real) || is_reserved_backing_name(e->real))) {
        *keep = false;
        *why = "invalid backing name";
    }
    if (with_names && e->real.empty() && !e->linked()) {
        *keep = false;
        *why = "entry without backing name";
    }
    return true;
}

void put_le32(char* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_le64(char* p, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}
std::uint32_t get_le32(const char* p) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
std::uint64_t get_le64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

}  // namespace

bool is_valid_data_path(std::string_view p) {
    if (p.empty() || p.size() > kMaxRealLen) return false;
    // The one reserved name allowed: the pool, for a file on its way into it.
    if (p.starts_with(kLinkPoolName) && p.size() > kLinkPoolName.size() &&
        p[kLinkPoolName.size()] == '/') {
        const std::string_view rest = p.substr(kLinkPoolName.size() + 1);
        return is_valid_posix_name(rest) && !is_reserved_backing_name(rest);
    }
    for (std::size_t start = 0;;) {
        const auto slash = p.find('/', start);
        const std::string_view c = p.substr(start, slash == p.npos ? p.npos : slash - start);
        if (!is_valid_posix_name(c) || is_reserved_backing_name(c)) return false;
        if (slash == p.npos) return true;
        start = slash + 1;
    }
}

bool problem_room(std::vector<std::string>* problems) {
    if (!problems || problems->size() > kMaxProblems) return false;
    if (problems->size() < kMaxProblems) return true;
    problems->push_back("more findings left out");
    return false;
}

std::string serialize_payload(const IndexContent& c) {
    Out o;
    o.u32(static_cast<std::uint32_t>(c.entries.size()));
    o.u32(0);  // flags, none defined in version 1
    write_entry(o, c.self, false);
    for (const auto& e : c.entries) write_entry(o, e, true);
    return o.take();
}

std::optional<IndexContent> parse_payload(std::string_view payload,
                                          std::vector<std::string>* problems) {
    In in(payload);
    IndexContent c;
    const std::uint32_t count = in.u32();
    in.u32();
    if (!in.ok()) return std::nullopt;
    bool keep = true;
    std::string why;
    if (!read_entry(in, &c.self, false, &keep, &why)) return std::nullopt;
    c.self.type = NodeType::Dir;
    c.self.link_id = 0;
    c.self.xattrs.clear();
    c.self.target.clear();
    c.self.real.clear();
    c.self.real_prev.clear();
    c.self.at_path = false;
    if (count > in.left() / kEntryFixed) return std::nullopt;
    if (count > kMaxIndexEntries) return std::nullopt;
    std::unordered_set<std::string_view> names, reals;
    names.reserve(count);
    reals.reserve(count);
    c.entries.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        Entry e;
        why.clear();
        if (!read_entry(in, &e, true, &keep, &why)) return std::nullopt;
        if (!why.empty() && problem_room(problems))
            problems->push_back(why + ": entry " + std::to_string(i));
        if (keep) c.entries.push_back(std::move(e));
    }
    // Two names for one backing file, or one name twice, would let a
    // crafted index alias files: first one wins, later ones are dropped.
    // (The views point into c.entries, which holds still until the sets go.)
    std::vector<bool> unique(c.entries.size());
    for (std::size_t i = 0; i < c.entries.size(); ++i) {
        const Entry& e = c.entries[i];
        unique[i] = names.insert(e.name).second && (e.real.empty() || reals.insert(e.real).second);
        if (!unique[i] && problem_room(problems)) problems->push_back("duplicate name dropped");
    }
    names.clear();
    reals.clear();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < c.entries.size(); ++i)
        if (unique[i]) {
            if (kept != i) c.entries[kept] = std::move(c.entries[i]);
            ++kept;
        }
    c.entries.resize(kept);
    return c;
}

std::string encode_slot(std::uint64_t generation, std::uint32_t capacity,
                        std::string_view payload) {
    std::string s(kSlotHeaderSize, '\0');
    std::memcpy(s.data(), kMagic, 8);
    put_le32(&s[8], kVersion);
    put_le32(&s[12], kSlotHeaderSize);
    put_le64(&s[16], generation);
    put_le32(&s[24], capacity);
    put_le32(&s[28], static_cast<std::uint32_t>(payload.size()));
    put_le32(&s[32], crc32c(payload));
    put_le32(&s[36], 0);
    put_le32(&s[60], crc32c(s.data(), 60));
    s.append(payload);
    return s;
}

namespace {

// A header that verifies, whose payload [start, end) is still to be checked
// against `crc`.
struct Candidate {
    std::size_t offset;
    std::uint64_t start, end;
    std::uint32_t crc;
    bool ok = false;
};

// Checks every candidate's payload CRC in one pass over `file`: the CRC of
// each prefix ending at a payload's start or end, then each payload's CRC
// from two of them (crc32c_of_range). Payloads may overlap each other in a
// crafted file; checking each on its own would cost O(file) apiece.
void verify_payloads(std::string_view file, std::vector<Candidate>& cands) {
    std::vector<std::uint64_t> at;
    at.reserve(2 * cands.size());
    for (const auto& c : cands) {
        at.push_back(c.start);
        at.push_back(c.end);
    }
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    std::vector<std::uint32_t> prefix(at.size());
    std::uint32_t crc = 0;
    std::uint64_t pos = 0;
    for (std::size_t i = 0; i < at.size(); ++i) {
        crc = crc32c(file.data() + pos, at[i] - pos, crc);
        pos = at[i];
        prefix[i] = crc;
    }
    auto prefix_at = [&](std::uint64_t p) {
        return prefix[std::lower_bound(at.begin(), at.end(), p) - at.begin()];
    };
    for (auto& c : cands)
        c.ok = crc32c_of_range(prefix_at(c.start), prefix_at(c.end), c.end - c.start) == c.crc;
}

}  // namespace

std::optional<SlotFound> find_newest_slot(std::string_view file, int* slots_seen) {
    std::vector<Candidate> cands;
    std::vector<std::uint64_t> gens;
    int seen = 0;
    for (std::size_t off = 0; off + kSlotHeaderSize <= file.size(); off += kSlotAlign) {
        const char* h = file.data() + off;
        if (std::memcmp(h, kMagic, 8) != 0) continue;
        ++seen;
        if (get_le32(h + 60) != crc32c(h, 60)) continue;
        if (get_le32(h + 8) != kVersion || get_le32(h + 12) != kSlotHeaderSize) continue;
        const std::uint64_t gen = get_le64(h + 16);
        if (gen > kMaxGeneration) continue;
        const std::uint32_t len = get_le32(h + 28);
        if (len > file.size() - off - kSlotHeaderSize) continue;
        cands.push_back(
            {off, off + kSlotHeaderSize, off + kSlotHeaderSize + len, get_le32(h + 32)});
        gens.push_back(gen);
    }
    if (slots_seen) *slots_seen = seen;
    verify_payloads(file, cands);
    // The highest generation wins; among equals, the lowest offset.
    std::optional<std::size_t> best;
    for (std::size_t i = 0; i < cands.size(); ++i)
        if (cands[i].ok && (!best || gens[i] > gens[*best])) best = i;
    if (!best) return std::nullopt;
    const Candidate& c = cands[*best];
    const char* h = file.data() + c.offset;
    return SlotFound{c.offset, gens[*best], get_le32(h + 24), c.end - c.offset,
                     file.substr(c.start, c.end - c.start)};
}

SlotPlace place_next_slot(std::optional<SlotSpan> newest, std::uint32_t capacity,
                          std::size_t slot_bytes) {
    auto round_up = [](std::uint64_t v) { return (v + kSlotAlign - 1) / kSlotAlign * kSlotAlign; };
    const std::uint64_t want = round_up(std::max<std::uint64_t>(kSlotAlign, 2 * slot_bytes));
    if (!newest) return {0, static_cast<std::uint32_t>(want)};
    // The capacity comes from the stick: the format calls it informative, so
    // it is used only when it agrees with the layout actually found (aligned,
    // holding the newest slot where a region starts, and not far beyond what
    // the slots need). A hostile value could otherwise send the next write to
    // an offset the reader never scans, or gigabytes into a FAT file (which
    // has no holes).
    const std::uint64_t need =
        round_up(std::max<std::uint64_t>({kSlotAlign, 2 * slot_bytes, 2 * newest->length}));
    const bool trusted = capacity != 0 && capacity % kSlotAlign == 0 &&
                         newest->length <= capacity && capacity <= 4 * need + kDeltaSlack &&
                         (newest->offset == 0 || newest->offset == capacity);
    if (trusted && slot_bytes <= capacity)
        return {newest->offset == 0 ? std::uint64_t{capacity} : 0, capacity};
    // Grow (or recover from an odd layout): the new slot goes at the new
    // capacity, past the end of the newest slot, so a torn write of the new
    // one cannot damage it.
    std::uint64_t cap = std::max<std::uint64_t>(trusted ? 2 * std::uint64_t{capacity} : 0, want);
    cap = std::max<std::uint64_t>(cap, round_up(newest->offset + newest->length));
    return {cap, static_cast<std::uint32_t>(cap)};
}

namespace {

std::uint64_t round_up_align(std::uint64_t v) {
    return (v + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
}

std::uint64_t span_end(const SlotSpan& s) {
    return round_up_align(s.offset + s.length);
}

void sanitise_self(Entry& self) {
    self.type = NodeType::Dir;
    self.link_id = 0;
    self.xattrs.clear();
    self.target.clear();
    self.real.clear();
    self.real_prev.clear();
    self.at_path = false;
    self.name.clear();
}

}  // namespace

std::string serialize_entry(const Entry& e) {
    Out o;
    write_entry(o, e, true);
    return o.take();
}

std::string serialize_self(const Entry& self) {
    Out o;
    write_entry(o, self, false);
    return o.take();
}

RecordSet to_records(const IndexContent& c) {
    RecordSet r;
    r.self = serialize_self(c.self);
    for (const auto& e : c.entries) r.entries.emplace(e.name, serialize_entry(e));
    return r;
}

std::string payload_from_records(const RecordSet& r) {
    std::size_t total = 8 + r.self.size();
    for (const auto& [name, rec] : r.entries) total += rec.size();
    Out o;
    o.u32(static_cast<std::uint32_t>(r.entries.size()));
    o.u32(0);
    std::string s = o.take();
    s.reserve(total);
    s += r.self;
    for (const auto& [name, rec] : r.entries) s += rec;
    return s;
}

std::optional<std::string> diff_payload(const RecordSet& from, const RecordSet& to,
                                        std::size_t limit) {
    // Removes first: a backing name a removed entry held may be taken by an
    // upsert of the same record (a rename), and the reader keeps backing
    // names unique as it goes.
    std::string removes, upserts;
    std::uint32_t count = 0;
    auto over = [&] { return 8 + removes.size() + upserts.size() > limit; };
    auto f = from.entries.begin();
    auto t = to.entries.begin();
    while (f != from.entries.end() || t != to.entries.end()) {
        if (t == to.entries.end() || (f != from.entries.end() && f->first < t->first)) {
            Out o;
            o.u8(static_cast<std::uint8_t>(DeltaOp::Kind::Remove));
            o.u16(static_cast<std::uint16_t>(f->first.size()));
            o.bytes(f->first);
            removes += o.take();
            ++count;
            ++f;
        } else if (f == from.entries.end() || t->first < f->first) {
            upserts.push_back(static_cast<char>(DeltaOp::Kind::Upsert));
            upserts += t->second;
            ++count;
            ++t;
        } else {
            if (f->second != t->second) {
                upserts.push_back(static_cast<char>(DeltaOp::Kind::Upsert));
                upserts += t->second;
                ++count;
            }
            ++f;
            ++t;
        }
        if (over()) return std::nullopt;
    }
    if (from.self != to.self) {
        upserts.push_back(static_cast<char>(DeltaOp::Kind::Self));
        upserts += to.self;
        ++count;
        if (over()) return std::nullopt;
    }
    if (count == 0) return std::string();
    Out o;
    o.u32(count);
    o.u32(0);
    std::string s = o.take();
    s += removes;
    s += upserts;
    return s;
}

std::string serialize_delta_payload(const std::vector<DeltaOp>& ops) {
    Out o;
    o.u32(static_cast<std::uint32_t>(ops.size()));
    o.u32(0);
    for (const auto& op : ops) {
        o.u8(static_cast<std::uint8_t>(op.kind));
        switch (op.kind) {
            case DeltaOp::Kind::Upsert:
                write_entry(o, op.entry, true);
                break;
            case DeltaOp::Kind::Self:
                write_entry(o, op.entry, false);
                break;
            case DeltaOp::Kind::Remove:
                o.u16(static_cast<std::uint16_t>(op.name.size()));
                o.bytes(op.name);
                break;
        }
    }
    return o.take();
}

std::optional<std::vector<DeltaOp>> parse_delta_payload(std::string_view payload,
                                                        std::vector<std::string>* problems) {
    In in(payload);
    const std::uint32_t count = in.u32();
    in.u32();
    if (!in.ok() || count > in.left() / kMinOp) return std::nullopt;
    std::vector<DeltaOp> ops;
    for (std::uint32_t i = 0; i < count; ++i) {
        DeltaOp op;
        const std::uint8_t kind = in.u8();
        if (!in.ok()) return std::nullopt;
        bool keep = true;
        std::string why;
        switch (kind) {
            case static_cast<std::uint8_t>(DeltaOp::Kind::Upsert):
                op.kind = DeltaOp::Kind::Upsert;
                if (!read_entry(in, &op.entry, true, &keep, &why)) return std::nullopt;
                break;
            case static_cast<std::uint8_t>(DeltaOp::Kind::Self):
                op.kind = DeltaOp::Kind::Self;
                if (!read_entry(in, &op.entry, false, &keep, &why)) return std::nullopt;
                // As the payload's own record: always a directory, whatever
                // the record says.
                sanitise_self(op.entry);
                keep = true;
                break;
            case static_cast<std::uint8_t>(DeltaOp::Kind::Remove): {
                op.kind = DeltaOp::Kind::Remove;
                const std::uint16_t len = in.u16();
                op.name = in.bytes(len);
                if (!in.ok()) return std::nullopt;
                if (!is_valid_posix_name(op.name)) {
                    keep = false;
                    why = "invalid name";
                }
                break;
            }
            default:
                return std::nullopt;
        }
        if (!why.empty() && problem_room(problems))
            problems->push_back(why + ": delta operation " + std::to_string(i));
        if (keep) ops.push_back(std::move(op));
    }
    // Trailing bytes mean the record is not what a writer made.
    if (in.left() != 0) return std::nullopt;
    return ops;
}

DeltaApplier::DeltaApplier(IndexContent c, std::vector<std::string>* problems)
    : self_(std::move(c.self)), problems_(problems) {
    for (auto& e : c.entries) {
        if (!e.real.empty() && !owner_.emplace(e.real, e.name).second) {
            if (problem_room(problems_))
                problems_->push_back("duplicate backing name dropped: delta");
            continue;
        }
        const std::string name = e.name;
        entries_.insert_or_assign(name, std::move(e));
    }
}

void DeltaApplier::release(const Entry& e) {
    if (e.real.empty()) return;
    auto o = owner_.find(e.real);
    if (o != owner_.end() && o->second == e.name) owner_.erase(o);
}

bool DeltaApplier::apply(const std::vector<DeltaOp>& ops) {
    // Counted before applying, so that a record past the cap leaves the
    // content as it was (upserts of names present count too: no writer
    // comes near the cap).
    const auto upserts = std::count_if(
        ops.begin(), ops.end(), [](const DeltaOp& op) { return op.kind == DeltaOp::Kind::Upsert; });
    if (entries_.size() + static_cast<std::size_t>(upserts) > kMaxIndexEntries) return false;
    std::vector<std::string> upserted;  // in operation order
    for (const auto& op : ops) {
        switch (op.kind) {
            case DeltaOp::Kind::Upsert: {
                auto it = entries_.find(op.entry.name);
                if (it != entries_.end()) {
                    release(it->second);
                    it->second = op.entry;
                } else {
                    entries_.emplace(op.entry.name, op.entry);
                }
                upserted.push_back(op.entry.name);
                break;
            }
            case DeltaOp::Kind::Remove: {
                auto it = entries_.find(op.name);
                if (it == entries_.end()) break;
                release(it->second);
                entries_.erase(it);
                break;
            }
            case DeltaOp::Kind::Self:
                self_ = op.entry;
                sanitise_self(self_);
                break;
        }
    }
    // Backing names stay unique (an alias would let two names share one
    // file): what this record wrote wins, first upsert first; an entry it
    // did not write loses its name to it.
    std::unordered_set<std::string> done;
    for (const auto& n : upserted) {
        if (!done.insert(n).second) continue;
        auto it = entries_.find(n);
        if (it == entries_.end() || it->second.real.empty()) continue;
        auto [o, claimed] = owner_.try_emplace(it->second.real, n);
        if (claimed || o->second == n) continue;
        if (problem_room(problems_)) problems_->push_back("duplicate backing name dropped: delta");
        if (done.count(o->second)) {
            entries_.erase(it);
        } else {
            entries_.erase(o->second);
            o->second = n;
        }
    }
    return true;
}

IndexContent DeltaApplier::take() {
    IndexContent c;
    c.self = std::move(self_);
    c.entries.reserve(entries_.size());
    for (auto& [n, e] : entries_) c.entries.push_back(std::move(e));
    entries_.clear();
    owner_.clear();
    return c;
}

void apply_delta(IndexContent& c, const std::vector<DeltaOp>& ops,
                 std::vector<std::string>* problems) {
    DeltaApplier a(std::move(c), problems);
    a.apply(ops);
    c = a.take();
}

std::string encode_delta(std::uint64_t base_generation, std::uint64_t seq,
                         std::string_view payload) {
    std::string s(kDeltaHeaderSize, '\0');
    std::memcpy(s.data(), kDeltaMagic, 8);
    put_le32(&s[8], kDeltaVersion);
    put_le32(&s[12], kDeltaHeaderSize);
    put_le64(&s[16], base_generation);
    put_le64(&s[24], seq);
    put_le32(&s[32], static_cast<std::uint32_t>(payload.size()));
    put_le32(&s[36], crc32c(payload));
    put_le32(&s[40], 0);
    put_le32(&s[60], crc32c(s.data(), 60));
    s.append(payload);
    s.resize(round_up_align(s.size()), '\0');
    return s;
}

std::optional<IndexRead> read_index(std::string_view file, std::vector<std::string>* problems,
                                    int* slots_seen, bool* over_cap) {
    auto slot = find_newest_slot(file, slots_seen);
    if (!slot) return std::nullopt;
    if (over_cap && slot->payload.size() >= 4)
        *over_cap = get_le32(slot->payload.data()) > kMaxIndexEntries;
    auto content = parse_payload(slot->payload, problems);
    if (!content) return std::nullopt;
    IndexRead r;
    r.base = std::move(*slot);
    r.content = std::move(*content);
    const std::uint64_t gen = r.base.generation;
    std::vector<Candidate> cands;
    std::vector<std::uint64_t> seqs;
    for (std::size_t off = 0; off + kDeltaHeaderSize <= file.size(); off += kSlotAlign) {
        const char* h = file.data() + off;
        if (std::memcmp(h, kDeltaMagic, 8) != 0) continue;
        if (get_le32(h + 60) != crc32c(h, 60)) continue;
        const std::uint64_t base_gen = get_le64(h + 16);
        if (base_gen < kMaxGeneration) r.max_delta_base = std::max(r.max_delta_base, base_gen);
        if (get_le32(h + 8) != kDeltaVersion || get_le32(h + 12) != kDeltaHeaderSize) continue;
        if (base_gen != gen) continue;  // stale: another base's
        const std::uint64_t seq = get_le64(h + 24);
        if (seq == 0 || seq > kMaxDeltaSeq) continue;
        const std::uint32_t len = get_le32(h + 32);
        if (len > kMaxDeltaPayload || len > file.size() - off - kDeltaHeaderSize) continue;
        cands.push_back(
            {off, off + kDeltaHeaderSize, off + kDeltaHeaderSize + len, get_le32(h + 36)});
        seqs.push_back(seq);
    }
    verify_payloads(file, cands);
    // Valid records of this base by sequence number, lowest offset first.
    std::map<std::uint64_t, DeltaFound> chain;
    std::size_t valid = 0;
    for (std::size_t i = 0; i < cands.size(); ++i) {
        if (!cands[i].ok) continue;
        ++valid;
        chain.emplace(seqs[i],
                      DeltaFound{cands[i].offset, seqs[i], cands[i].end - cands[i].offset});
    }
    if (!chain.empty() && chain.begin()->first == 1) {
        DeltaApplier applier(std::move(r.content), problems);
        for (std::uint64_t seq = 1;; ++seq) {
            auto it = chain.find(seq);
            if (it == chain.end()) break;
            const DeltaFound& d = it->second;
            const auto ops = parse_delta_payload(
                file.substr(d.offset + kDeltaHeaderSize, d.length - kDeltaHeaderSize), problems);
            if (!ops) {
                if (problem_room(problems))
                    problems->push_back("delta record with a broken payload: chain ends");
                break;
            }
            if (!applier.apply(*ops)) {
                if (problem_room(problems))
                    problems->push_back("delta records past the cap of " +
                                        std::to_string(kMaxIndexEntries) + " entries: chain ends");
                break;
            }
            r.deltas.push_back(d);
        }
        r.content = applier.take();
    }
    r.strays = valid != r.deltas.size();
    return r;
}

namespace {

// The capacity field, when the layout found agrees with it (section 2).
bool capacity_trusted(const SlotSpan& newest, std::uint32_t capacity) {
    const std::uint64_t need =
        round_up_align(std::max<std::uint64_t>(kSlotAlign, 2 * newest.length));
    return capacity != 0 && capacity % kSlotAlign == 0 && newest.length <= capacity &&
           capacity <= 4 * need + kDeltaSlack && (newest.offset == 0 || newest.offset == capacity);
}

}  // namespace

SlotPlace place_next_base(const IndexLayout& l, std::size_t slot_bytes) {
    const SlotPlace p = place_next_slot(l.base, l.capacity, slot_bytes);
    std::uint64_t hi = 0;
    bool overlaps = false;
    for (const auto& d : l.deltas) {
        hi = std::max(hi, span_end(d));
        if (p.offset < span_end(d) && d.offset < p.offset + slot_bytes) overlaps = true;
    }
    if (!overlaps) return p;
    // As when the slot does not fit: the new slot goes past everything that
    // must survive its torn write, and its capacity is its offset.
    if (l.base) hi = std::max(hi, span_end(*l.base));
    const std::uint64_t want = round_up_align(std::max<std::uint64_t>(kSlotAlign, 2 * slot_bytes));
    const std::uint64_t cap = std::max(want, hi);
    return {cap, static_cast<std::uint32_t>(cap)};
}

std::optional<std::uint64_t> place_next_delta(const IndexLayout& l, std::size_t record_bytes) {
    if (!l.base || l.deltas.size() >= kMaxDeltasPerBase) return std::nullopt;
    std::uint64_t start = span_end(*l.base);
    if (capacity_trusted(*l.base, l.capacity))
        start = std::max<std::uint64_t>(start, 2 * std::uint64_t{l.capacity});
    std::uint64_t used = round_up_align(record_bytes);
    for (const auto& d : l.deltas) {
        start = std::max(start, span_end(d));
        used += span_end(d) - d.offset;
    }
    const std::uint64_t budget = std::max<std::uint64_t>(kDeltaMinBudget, l.base->length / 2);
    if (used > budget) return std::nullopt;
    if (start + round_up_align(record_bytes) > kMaxIndexFileSize) return std::nullopt;
    return start;
}

IndexWrite plan_index_write(const IndexWriteState& s, const RecordSet& now) {
    IndexWrite w;
    if (s.on_stick && s.layout.base && !s.force_base) {
        // A delta larger than what the budget could ever hold is not worth
        // computing in full: stop the diff there.
        const std::uint64_t budget =
            std::max<std::uint64_t>(kDeltaMinBudget, s.layout.base->length / 2);
        const auto payload = diff_payload(*s.on_stick, now, budget);
        if (payload && payload->empty()) return w;  // Nothing
        if (payload) {
            const auto off =
                place_next_delta(s.layout, round_up_align(kDeltaHeaderSize + payload->size()));
            if (off && s.layout.deltas.size() + 1 <= kMaxDeltaSeq) {
                w.kind = IndexWrite::Kind::Delta;
                w.offset = *off;
                w.bytes = encode_delta(s.generation, s.layout.deltas.size() + 1, *payload);
                return w;
            }
        }
    }
    const std::string payload = payload_from_records(now);
    const SlotPlace p = place_next_base(s.layout, kSlotHeaderSize + payload.size());
    w.kind = IndexWrite::Kind::Base;
    w.offset = p.offset;
    w.capacity = p.capacity;
    w.generation = std::max(s.generation, s.generation_floor) + 1;
    w.bytes = encode_slot(w.generation, p.capacity, payload);
    // Both regions, then the deltas: their budget within this capacity is
    // at most max(kDeltaMinBudget, capacity / 2) (a slot is never longer
    // than its capacity).
    const std::uint64_t cap = p.capacity;
    // Never past the reader's cap (place_next_delta keeps deltas within it).
    w.extend_to = std::max<std::uint64_t>(
        w.offset + w.bytes.size(),
        std::min<std::uint64_t>(kMaxIndexFileSize, 2 * cap + round_up_align(std::max<std::uint64_t>(
                                                                 kDeltaMinBudget, cap / 2))));
    return w;
}

void commit_index_write(IndexWriteState& s, const IndexWrite& w, RecordSet now) {
    switch (w.kind) {
        case IndexWrite::Kind::Nothing:
            return;
        case IndexWrite::Kind::Delta:
            // The padding is ours too: the next record starts past it.
            s.layout.deltas.push_back(SlotSpan{w.offset, w.bytes.size()});
            break;
        case IndexWrite::Kind::Base:
            s.layout.base = SlotSpan{w.offset, w.bytes.size()};
            s.layout.capacity = w.capacity;
            s.layout.deltas.clear();
            s.generation = w.generation;
            s.force_base = false;
            break;
    }
    s.on_stick = std::move(now);
}

}  // namespace pershome::fs
