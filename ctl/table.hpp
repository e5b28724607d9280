// Aligned tables for people. Every cell goes through terminal_text, so a
// label from a stick cannot move the cursor, clear the screen or forge a row.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pershome::ctl {

// S with C0 and C1 control characters and DEL shown as \xNN (C1 as \u0080..
// \u009f). Backslashes stay: pershomed already shows stick text with \xNN.
std::string terminal_text(std::string_view s);

// Columns S takes on a terminal: one per code point (no wide or combining
// characters in what we show, beyond what a label might hold).
std::size_t display_width(std::string_view s);

class Table {
  public:
    explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
    void add(std::vector<std::string> cells);
    bool empty() const { return rows_.empty(); }
    // Columns two spaces apart; no trailing blanks.
    std::string render() const;

  private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
};

// "1.5 GiB", "512 B".
std::string human_size(unsigned long long bytes);
// Local time "2026-12-04 11:02", or "-" for 0.
std::string human_time(long long seconds_since_epoch);

}  // namespace pershome::ctl
