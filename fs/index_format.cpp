#include "fs/index_format.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include "fs/crc32c.hpp"
#include "fs/name_codec.hpp"

namespace pershome::fs {
namespace {

constexpr char kMagic[8] = {'P', 'S', 'H', 'M', 'I', 'D', 'X', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::uint8_t kFlagLinked = 1;
constexpr std::uint8_t kFlagRealIsName = 2;
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
    const bool real_is_name = with_names && e.real == e.name && !e.real.empty();
    const std::string_view real = real_is_name ? std::string_view{} : std::string_view{e.real};
    o.u16(static_cast<std::uint16_t>(with_names ? e.name.size() : 0));
    o.u16(static_cast<std::uint16_t>(real.size()));
    o.u8(static_cast<std::uint8_t>(e.type));
    o.u8(static_cast<std::uint8_t>((e.linked() ? kFlagLinked : 0) |
                                   (real_is_name ? kFlagRealIsName : 0)));
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
    if (!e->real.empty() && (!is_valid_posix_name(e->real) || is_reserved_backing_name(e->real))) {
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
    if (count > in.left() / kEntryFixed) return std::nullopt;
    std::set<std::string_view> names, reals;
    c.entries.reserve(count);
    std::vector<Entry> tmp;
    tmp.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        Entry e;
        why.clear();
        if (!read_entry(in, &e, true, &keep, &why)) return std::nullopt;
        if (!why.empty() && problems) problems->push_back(why + ": entry " + std::to_string(i));
        if (!keep) continue;
        tmp.push_back(std::move(e));
    }
    for (auto& e : tmp) {
        // Two names for one backing file, or one name twice, would let a
        // crafted index alias files: first one wins, later ones are dropped.
        if (!names.insert(e.name).second || (!e.real.empty() && !reals.insert(e.real).second)) {
            if (problems) problems->push_back("duplicate name dropped");
            continue;
        }
        c.entries.push_back(e);
    }
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

std::optional<SlotFound> find_newest_slot(std::string_view file, int* slots_seen) {
    std::optional<SlotFound> best;
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
        const std::string_view payload = file.substr(off + kSlotHeaderSize, len);
        if (crc32c(payload) != get_le32(h + 32)) continue;
        if (best && best->generation >= gen) continue;
        best = SlotFound{off, gen, get_le32(h + 24), kSlotHeaderSize + std::uint64_t{len},
                         std::string(payload)};
    }
    if (slots_seen) *slots_seen = seen;
    return best;
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
                         newest->length <= capacity && capacity <= 4 * need &&
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

}  // namespace pershome::fs
