/// \file
/// The .kir tokenizer: numbers with overflow checks, names, strings with the
/// escapes \" \\ \n, punctuation, and located reasons for anything else.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Lexer.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kiln {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_ident_char(char c) { return is_alpha(c) || is_digit(c); }
bool is_name_char(char c) { return is_ident_char(c) || c == '.'; }

std::string byte_str(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", unsigned(c));
  return buf;
}

/// Length of the UTF-8 sequence starting at \p s[i], or 0 when invalid.
size_t utf8_length(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return (unsigned char)s[k]; };
  unsigned char c = b(i);
  if (c == 0)
    return 0;
  if (c < 0x80)
    return 1;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(i + k) & 0xC0) != 0x80)
      return 0;
  // Overlong 3- and 4-byte forms, surrogates, and code points past U+10FFFF.
  if ((c == 0xE0 && b(i + 1) < 0xA0) || (c == 0xED && b(i + 1) > 0x9F) ||
      (c == 0xF0 && b(i + 1) < 0x90) || (c == 0xF4 && b(i + 1) > 0x8F))
    return 0;
  return n;
}

/// Parses -?[0-9]+ into \p v; false when the value does not fit int64.
bool parse_int64(const std::string &s, int64_t &v) {
  bool neg = s[0] == '-';
  uint64_t limit = neg ? uint64_t(INT64_MAX) + 1 : uint64_t(INT64_MAX);
  uint64_t u = 0;
  for (size_t i = neg ? 1 : 0; i < s.size(); ++i) {
    uint64_t d = uint64_t(s[i] - '0');
    if (u > (limit - d) / 10)
      return false;
    u = u * 10 + d;
  }
  v = neg ? int64_t(0 - u) : int64_t(u);
  return true;
}
} // namespace

size_t find_invalid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    size_t n = utf8_length(text, i);
    if (n == 0)
      return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string describe(const Token &t) {
  switch (t.kind) {
  case TokKind::Eof:
    return "end of file";
  case TokKind::Error:
    return "invalid text";
  default:
    break;
  }
  std::string s(t.text.substr(0, 20));
  if (t.text.size() > 20)
    s += "...";
  return "'" + s + "'";
}

void Lexer::skip_space_and_comments() {
  while (pos_ < text_.size()) {
    char c = text_[pos_];
    if (c == '\n') {
      ++pos_;
      ++line_;
      line_begin_ = pos_;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++pos_;
    } else if (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/') {
      while (pos_ < text_.size() && text_[pos_] != '\n')
        ++pos_;
    } else {
      return;
    }
  }
}

Token Lexer::make(TokKind k, size_t begin, int line, int col) {
  Token t;
  t.kind = k;
  t.text = text_.substr(begin, pos_ - begin);
  t.line = line;
  t.col = col;
  t.at_line_start = line != last_line_;
  t.seq = seq_++;
  last_line_ = line;
  return t;
}

Token Lexer::error(std::string why, size_t begin, int line, int col) {
  if (pos_ == begin)
    ++pos_; // always make progress
  Token t = make(TokKind::Error, begin, line, col);
  t.str = std::move(why);
  return t;
}

Token Lexer::next() {
  skip_space_and_comments();
  size_t begin = pos_;
  int line = line_, col = int(pos_ - line_begin_) + 1;
  if (pos_ >= text_.size())
    return make(TokKind::Eof, begin, line, col);
  char c = text_[pos_];
  if (is_digit(c) || c == '-') {
    if (c == '-' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '>') {
      pos_ += 2;
      return make(TokKind::Arrow, begin, line, col);
    }
    return lex_number(begin, line, col);
  }
  if (is_alpha(c)) {
    while (pos_ < text_.size() && is_ident_char(text_[pos_]))
      ++pos_;
    return make(TokKind::Ident, begin, line, col);
  }
  if (c == '%')
    return lex_name(TokKind::ValueName, begin, line, col);
  if (c == '@')
    return lex_name(TokKind::FuncName, begin, line, col);
  if (c == '"')
    return lex_string(begin, line, col);
  static const struct {
    char c;
    TokKind k;
  } kPunct[] = {{'(', TokKind::LParen},   {')', TokKind::RParen},
                {'{', TokKind::LBrace},   {'}', TokKind::RBrace},
                {'[', TokKind::LBracket}, {']', TokKind::RBracket},
                {',', TokKind::Comma},    {':', TokKind::Colon},
                {'=', TokKind::Equal}};
  for (const auto &p : kPunct)
    if (c == p.c) {
      ++pos_;
      return make(p.k, begin, line, col);
    }
  if ((unsigned char)c >= 0x80) {
    pos_ += utf8_length(text_, pos_);
    return error("unexpected character '" +
                     std::string(text_.substr(begin, pos_ - begin)) + "'",
                 begin, line, col);
  }
  if (c < 0x20 || c == 0x7f)
    return error("unexpected byte " + byte_str((unsigned char)c), begin, line,
                 col);
  return error(std::string("unexpected character '") + c + "'", begin, line,
               col);
}

Token Lexer::lex_number(size_t begin, int line, int col) {
  if (text_[pos_] == '-')
    ++pos_;
  if (text_.substr(pos_, 3) == "inf" &&
      (pos_ + 3 >= text_.size() || !is_ident_char(text_[pos_ + 3]))) {
    pos_ += 3;
    Token t = make(TokKind::Float, begin, line, col);
    t.float_value = -INFINITY;
    return t;
  }
  auto digits = [&] {
    size_t start = pos_;
    while (pos_ < text_.size() && is_digit(text_[pos_]))
      ++pos_;
    return pos_ > start;
  };
  if (!digits())
    return error("expected a digit after '-'", begin, line, col);
  bool is_float = false;
  if (pos_ < text_.size() && text_[pos_] == '.') {
    ++pos_;
    is_float = true;
    if (!digits())
      return error("expected a digit after '.' in a number", begin, line, col);
  }
  if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    ++pos_;
    is_float = true;
    if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
      ++pos_;
    if (!digits())
      return error("expected digits in the exponent of a number", begin, line,
                   col);
  }
  if (pos_ < text_.size() && is_name_char(text_[pos_])) {
    while (pos_ < text_.size() && is_name_char(text_[pos_]))
      ++pos_;
    return error("invalid number '" +
                     std::string(text_.substr(begin, pos_ - begin)) + "'",
                 begin, line, col);
  }
  Token t = make(is_float ? TokKind::Float : TokKind::Int, begin, line, col);
  std::string s(t.text);
  if (is_float) {
    errno = 0;
    t.float_value = std::strtod(s.c_str(), nullptr);
    t.float_overflow = errno == ERANGE && std::isinf(t.float_value);
    return t;
  }
  t.int_overflow = !parse_int64(s, t.int_value);
  return t;
}

Token Lexer::lex_name(TokKind k, size_t begin, int line, int col) {
  ++pos_;
  while (pos_ < text_.size() && is_name_char(text_[pos_]))
    ++pos_;
  if (pos_ == begin + 1)
    return error(std::string("expected a name after '") + text_[begin] + "'",
                 begin, line, col);
  return make(k, begin, line, col);
}

Token Lexer::lex_string(size_t begin, int line, int col) {
  std::string value;
  ++pos_;
  while (pos_ < text_.size() && text_[pos_] != '"') {
    char c = text_[pos_];
    if (c == '\n')
      break;
    if (c != '\\') {
      value += c;
      ++pos_;
      continue;
    }
    char e = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (e != '"' && e != '\\' && e != 'n') {
      int ecol = int(pos_ - line_begin_) + 1;
      pos_ = begin;
      while (pos_ < text_.size() && text_[pos_] != '\n')
        ++pos_; // resume after the line, not inside the string
      Token t = error("unknown escape in string (use \\\", \\\\ or \\n)", begin,
                      line, ecol);
      return t;
    }
    value += e == 'n' ? '\n' : e;
    pos_ += 2;
  }
  if (pos_ >= text_.size() || text_[pos_] != '"')
    return error("unterminated string", begin, line, col);
  ++pos_;
  Token t = make(TokKind::String, begin, line, col);
  t.str = std::move(value);
  return t;
}

} // namespace kiln
