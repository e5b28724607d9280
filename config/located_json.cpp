#include "config/located_json.hpp"

#include <cstddef>
#include <iterator>
#include <optional>
#include <vector>

#include "config/config_error.hpp"
#include "config/text_position.hpp"

namespace pershome::config {

namespace {

using ojson = nlohmann::ordered_json;

// Hands characters to nlohmann's lexer one at a time and publishes how far it
// has read. The lexer calls back into the SAX handler right after the last
// character of a token, so this tells the handler where each key ends.
class CountingIterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    CountingIterator(const char* p, const char** cursor) : p_(p), cursor_(cursor) {}
    reference operator*() const { return *p_; }
    CountingIterator& operator++() {
        ++p_;
        *cursor_ = p_;
        return *this;
    }
    CountingIterator operator++(int) {
        CountingIterator old = *this;
        ++*this;
        return old;
    }
    bool operator==(const CountingIterator& other) const { return p_ == other.p_; }

  private:
    const char* p_;
    const char** cursor_;
};

constexpr std::size_t kMaxDepth = 32;

// A key as JSON spells it, cut to a readable length for messages.
std::string shown_key(const std::string& key) {
    std::string text = ojson(key).dump();
    constexpr std::size_t kMax = 80;
    if (text.size() > kMax) text = text.substr(0, kMax) + "...";
    return text;
}

struct PendingError {
    std::size_t offset;  // byte the error is about
    std::string message;
    bool exact_column;  // false when only the line is meaningful
};

class LocatingSax final : public nlohmann::json_sax<ojson> {
  public:
    LocatingSax(std::string_view text, LocatedJson& out)
        : text_(text), out_(out), cursor_(text.data()), lines_(text) {}

    const char** cursor() { return &cursor_; }
    const std::optional<PendingError>& error() const { return error_; }
    bool empty_input() const { return empty_input_; }

    bool null() override { return scalar(nullptr, false); }
    bool boolean(bool v) override { return scalar(v, false); }
    bool number_integer(number_integer_t v) override { return scalar(v, true); }
    bool number_unsigned(number_unsigned_t v) override { return scalar(v, true); }
    bool number_float(number_float_t v, const string_t&) override { return scalar(v, true); }
    bool string(string_t& v) override { return scalar(std::move(v), false); }
    bool binary(binary_t&) override { return fail(consumed(), "binary values are not JSON"); }

    bool start_object(std::size_t) override { return open(ojson::object()); }
    bool start_array(std::size_t) override { return open(ojson::array()); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }

    bool key(string_t& k) override {
        Frame& frame = frames_.back();
        const int line = line_at(consumed() - 1);
        auto [it, inserted] = frame.key_lines.emplace(k, line);
        if (!inserted) {
            return fail(consumed() - 1,
                        "duplicate key " + shown_key(k) + " (first given at line " +
                            std::to_string(it->second) + ")",
                        /*exact_column=*/false);
        }
        pending_key_ = k;
        pending_line_ = line;
        return true;
    }

    bool parse_error(std::size_t position, const std::string&,
                     const nlohmann::detail::exception& ex) override {
        std::string what = ex.what();
        // Nothing but whitespace and comments: treat as "no settings".
        if (!saw_value_ && what.find("unexpected end of input") != std::string::npos) {
            empty_input_ = true;
            return false;
        }
        // Drop nlohmann's "[json.exception...] parse error at line L, column C: "
        // prefix: our own position counts the offending byte, theirs is off
        // by one line when a newline is the culprit.
        auto at = what.find("parse error");
        if (at != std::string::npos) {
            auto colon = what.find(": ", at);
            if (colon != std::string::npos) what.erase(0, colon + 2);
        }
        std::size_t offset = position == 0 ? 0 : position - 1;
        // "unexpected string literal": the token is whole and merely out of
        // place, so point at its start, not at its last byte.
        if (what.find("unexpected ") != std::string::npos &&
            what.find("end of input") == std::string::npos) {
            offset = token_start(offset);
        }
        return fail(offset, what);
    }

  private:
    struct Frame {
        ojson* node;
        std::string pointer;
        std::map<std::string, int> key_lines;  // for duplicate detection
    };

    std::size_t token_start(std::size_t last) const {
        if (last >= text_.size()) return last;
        auto is_word = [](char c) {
            return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   c == '.' || c == '+' || c == '-';
        };
        if (text_[last] == '"') {
            for (std::size_t i = last; i-- > 0;) {
                if (text_[i] != '"') continue;
                std::size_t backslashes = 0;
                while (backslashes < i && text_[i - 1 - backslashes] == '\\') ++backslashes;
                if (backslashes % 2 == 0) return i;
            }
            return last;
        }
        while (last > 0 && is_word(text_[last]) && is_word(text_[last - 1])) --last;
        return last;
    }

    std::size_t consumed() const { return static_cast<std::size_t>(cursor_ - text_.data()); }
    int line_at(std::size_t offset) { return lines_.line_at(offset); }

    bool fail(std::size_t offset, std::string message, bool exact_column = true) {
        if (!error_) error_ = PendingError{offset, std::move(message), exact_column};
        return false;
    }

    // Where the value just completed sits, and the JSON pointer naming it.
    std::pair<std::string, int> place(bool number) {
        std::size_t last = consumed() == 0 ? 0 : consumed() - 1;
        // A number is only known to end once the lexer has read one byte past it.
        if (number && last > 0) {
            char c = text_[last];
            bool part_of_number =
                (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
            if (!part_of_number) --last;
        }
        if (frames_.empty()) return {"", line_at(last)};
        Frame& parent = frames_.back();
        if (parent.node->is_array()) {
            return {parent.pointer + "/" + std::to_string(parent.node->size()), line_at(last)};
        }
        return {parent.pointer + "/" + json_pointer_token(pending_key_), pending_line_};
    }

    ojson* attach(ojson value) {
        saw_value_ = true;
        if (frames_.empty()) {
            out_.value = std::move(value);
            return &out_.value;
        }
        ojson& parent = *frames_.back().node;
        if (parent.is_array()) {
            parent.push_back(std::move(value));
            return &parent.back();
        }
        ojson& slot = parent[pending_key_];
        slot = std::move(value);
        return &slot;
    }

    template <typename T>
    bool scalar(T&& v, bool number) {
        auto [pointer, line] = place(number);
        out_.lines[pointer] = line;
        attach(ojson(std::forward<T>(v)));
        return true;
    }

    bool open(ojson container) {
        if (frames_.size() >= kMaxDepth) {
            return fail(consumed() - 1,
                        "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
        }
        auto [pointer, line] = place(false);
        out_.lines[pointer] = line;
        ojson* node = attach(std::move(container));
        frames_.push_back(Frame{node, pointer, {}});
        return true;
    }

    bool close() {
        frames_.pop_back();
        return true;
    }

    std::string_view text_;
    LocatedJson& out_;
    const char* cursor_;
    LineCounter lines_;
    std::vector<Frame> frames_;
    std::string pending_key_;
    int pending_line_ = 0;
    bool saw_value_ = false;
    bool empty_input_ = false;
    std::optional<PendingError> error_;
};

}  // namespace

std::string json_pointer_token(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (char c : key) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

LocatedJson parse_located_json(std::string_view text, const std::string& filename) {
    LocatedJson out;
    LocatingSax sax(text, out);
    CountingIterator first(text.data(), sax.cursor());
    CountingIterator last(text.data() + text.size(), sax.cursor());
    const bool ok = ojson::sax_parse(first, last, &sax, ojson::input_format_t::json,
                                     /*strict=*/true, /*ignore_comments=*/true);
    if (!ok) {
        if (sax.empty_input()) return LocatedJson{ojson::object(), {}};
        const auto& err = sax.error();
        if (!err) throw ConfigError(filename, "cannot parse JSON");
        TextPosition pos = position_of(text, err->offset);
        throw ConfigError(filename, pos.line, err->exact_column ? pos.column : 0, err->message);
    }
    return out;
}

}  // namespace pershome::config
