#include "base/yaml_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <yaml-cpp/eventhandler.h>

namespace she {

namespace {

/// Thrown out of the event handler once the text is refused: the parser
/// stops there, before reading (or allocating) any more.
struct Refused {};

const char* kLimitHint = "plans need no more than a few levels of nesting and a few aliases; write the values out";

std::string describe_file_type(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// The first control character in `s` (C0 but tab and line breaks, DEL,
/// C1), or -1. Keys may not hold tabs or line breaks either.
long control_char(const std::string& s, bool in_key) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\t' || c == '\n' || c == '\r') {
      if (in_key) return c;
      continue;
    }
    if (c < 0x20 || c == 0x7f) return c;
    if (c == 0xc2 && i + 1 < s.size()) {
      unsigned char n = static_cast<unsigned char>(s[i + 1]);
      if (n >= 0x80 && n <= 0x9f) return n;
    }
  }
  return -1;
}

/// Streams the events of the text and refuses it at the first limit
/// crossed. Counting needs only the size and depth of each anchored node,
/// never the expansion itself, so an alias bomb costs what its text costs.
class LimitChecker : public YAML::EventHandler {
 public:
  LimitChecker(const std::string& text, const std::string& name, const YamlLimits& limits, Diagnostics& d)
      : text_(text), name_(name), limits_(limits), d_(d) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n') line_starts_.push_back(i + 1);
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ > 1)
      refuse(ErrorKind::ExtraDocument, at(mark), "a second YAML document ('---') in one file",
             "keep one document per file; the second would be ignored");
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    bool is_key = !open_.empty() && open_.back().is_map && open_.back().items % 2 == 0;
    if (long c = control_char(value, is_key); c >= 0)
      refuse(ErrorKind::InvalidEncoding, at(mark),
             fmt::format("a control character (U+{:04X}) in {}", c, is_key ? "a key" : "a value"),
             is_key ? "keys are plain names: remove it" : "remove it; only tabs and line breaks may stand in values");
    if (tag == "!") check_quote(mark);
    leaf(mark, anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (open_anchors_.count(anchor))
      refuse(ErrorKind::RecursiveAlias, at(mark), "this alias refers to the node that contains it",
             "an alias may only repeat a node that is complete before it");
    auto it = sizes_.find(anchor);
    Size s = it == sizes_.end() ? Size{1, 0} : it->second;
    add(mark, s);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Size {
    size_t nodes;
    int depth;
  };
  struct Frame {
    YAML::anchor_t anchor;
    bool is_map;
    size_t items = 0;
    Size size{1, 1};
  };

  [[noreturn]] void refuse(ErrorKind kind, const SourcePos& pos, std::string message, std::string hint) {
    d_.error(kind, pos, std::move(message), std::move(hint));
    throw Refused{};
  }

  SourcePos at(const YAML::Mark& m) const { return {name_, m.line + 1, m.column + 1}; }

  size_t offset_of(const YAML::Mark& m) const {
    if (m.line < 0 || static_cast<size_t>(m.line) >= line_starts_.size()) return text_.size();
    return std::min(text_.size(), line_starts_[static_cast<size_t>(m.line)] + static_cast<size_t>(m.column));
  }

  size_t indent_of_line(size_t line) const {
    size_t i = line_starts_[line];
    while (i < text_.size() && text_[i] == ' ') ++i;
    return i - line_starts_[line];
  }

  size_t line_of(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    return static_cast<size_t>(it - line_starts_.begin()) - 1;
  }

  /// yaml-cpp takes an unclosed quote to the end of the file (or to the
  /// next quote, lines later) and the plan then lacks keys it plainly has.
  /// A quoted value inside a block must close, or continue on lines indented
  /// deeper than the line it starts on (YAML's own rule).
  void check_quote(const YAML::Mark& mark) {
    size_t p = offset_of(mark);
    while (p < text_.size() && (text_[p] == '&' || text_[p] == '!')) {  // anchor or tag before the value
      while (p < text_.size() && text_[p] != ' ' && text_[p] != '\n') ++p;
      while (p < text_.size() && text_[p] == ' ') ++p;
    }
    if (p >= text_.size() || (text_[p] != '"' && text_[p] != '\'')) return;
    char q = text_[p];
    size_t end = std::string::npos;
    for (size_t i = p + 1; i < text_.size(); ++i) {
      if (q == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == q) {
        if (q == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;
          continue;
        }
        end = i;
        break;
      }
    }
    size_t line = line_of(p);  // not position_in: that walks from the start, for every quoted value
    SourcePos pos{name_, static_cast<int>(line) + 1, static_cast<int>(p - line_starts_[line]) + 1};
    const char* hint = "close the quote on its line; a value that goes on must be indented deeper than its key";
    if (end == std::string::npos)
      refuse(ErrorKind::YamlSyntax, pos, "this quote is never closed", hint);
    if (open_.empty()) return;
    size_t first = line_of(p), last = line_of(end);
    size_t base = indent_of_line(first);
    for (size_t l = first + 1; l <= last; ++l) {
      size_t start = line_starts_[l] + indent_of_line(l);
      bool blank = start >= text_.size() || text_[start] == '\n' || text_[start] == '\r';
      if (!blank && indent_of_line(l) <= base)
        refuse(ErrorKind::YamlSyntax, pos, fmt::format("this quote is not closed before line {}", l + 1), hint);
    }
  }

  void count(const YAML::Mark& mark, const Size& s) {
    if (s.nodes > limits_.max_nodes || total_ + s.nodes > limits_.max_nodes)
      refuse(ErrorKind::InputTooLarge, at(mark),
             fmt::format("more than {} values once aliases are expanded", limits_.max_nodes), kLimitHint);
    total_ += s.nodes;
    if (static_cast<int>(open_.size()) + s.depth > limits_.max_depth)
      refuse(ErrorKind::InputTooLarge, at(mark), fmt::format("nested deeper than {} levels", limits_.max_depth),
             kLimitHint);
  }

  /// A complete node of size `s` joins its parent.
  void add(const YAML::Mark& mark, const Size& s) {
    count(mark, s);
    if (open_.empty()) return;
    Frame& parent = open_.back();
    parent.items++;
    parent.size.nodes += s.nodes;
    parent.size.depth = std::max(parent.size.depth, s.depth + 1);
  }

  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (anchor) sizes_[anchor] = {1, 0};
    add(mark, {1, 0});
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    count(mark, {1, 1});
    open_.push_back({anchor, is_map});
    if (anchor) open_anchors_.insert(anchor);
  }

  void close() {
    // Its nodes were counted one by one as they came; only the anchor
    // and the parent learn its size.
    Frame f = open_.back();
    open_.pop_back();
    if (f.anchor) {
      open_anchors_.erase(f.anchor);
      sizes_[f.anchor] = f.size;
    }
    if (open_.empty()) return;
    Frame& parent = open_.back();
    parent.items++;
    parent.size.nodes += f.size.nodes;
    parent.size.depth = std::max(parent.size.depth, f.size.depth + 1);
  }

  const std::string& text_;
  const std::string& name_;
  const YamlLimits& limits_;
  Diagnostics& d_;
  std::vector<size_t> line_starts_;
  std::vector<Frame> open_;
  std::unordered_set<YAML::anchor_t> open_anchors_;
  std::unordered_map<YAML::anchor_t, Size> sizes_;
  size_t total_ = 0;
  int documents_ = 0;
};

}  // namespace

bool is_valid_utf8(const std::string& s, std::size_t* bad_at) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char n = static_cast<unsigned char>(s[i + k]);
      ok = (n & 0xc0) == 0x80;
      cp = (cp << 6) | (n & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    static const uint32_t min_of[] = {0, 0, 0x80, 0x800, 0x10000};
    if (ok && (cp < min_of[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)) ok = false;
    if (!ok) {
      if (bad_at) *bad_at = i;
      return false;
    }
    i += len;
  }
  return true;
}

SourcePos position_in(const std::string& text, std::size_t offset, const std::string& name) {
  int line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {name, line, column};
}

std::optional<YAML::Node> parse_yaml_text(const std::string& text, const std::string& name, Diagnostics& d,
                                          const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    d.error(ErrorKind::InputTooLarge, {name, 1, 1}, fmt::format("larger than {} bytes", limits.max_bytes),
            "split it, or check that this is the file meant");
    return std::nullopt;
  }
  if (size_t nul = text.find('\0'); nul != std::string::npos) {
    d.error(ErrorKind::InvalidEncoding, position_in(text, nul, name), "a NUL byte: this is not text",
            "check that this is the YAML file meant; remove the byte");
    return std::nullopt;
  }
  if (size_t bad = 0; !is_valid_utf8(text, &bad)) {
    d.error(ErrorKind::InvalidEncoding, position_in(text, bad, name), "not valid UTF-8",
            "save the file as UTF-8");
    return std::nullopt;
  }
  // First the events only: nothing is built until the text is known to
  // stay within the limits.
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    LimitChecker checker(text, name, limits, d);
    while (parser.HandleNextDocument(checker)) {
    }
  } catch (const Refused&) {
    return std::nullopt;
  } catch (const YAML::ParserException& e) {
    d.error(ErrorKind::YamlSyntax, {name, e.mark.line + 1, e.mark.column + 1}, e.msg,
            "check indentation and quoting around this point; values with ': ' or starting with '{', '[', '*' or "
            "'&' need quotes");
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    d.error(ErrorKind::YamlSyntax, {name, 1, 1}, e.what(), "check the YAML syntax");
    return std::nullopt;
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    d.error(ErrorKind::YamlSyntax, {name, e.mark.line + 1, e.mark.column + 1}, e.msg, "check the YAML syntax");
    return std::nullopt;
  }
}

std::optional<YAML::Node> read_yaml_file(const std::string& path, const SourcePos& from, Diagnostics& d,
                                         const YamlLimits& limits) {
  // A problem with the file itself is shown where it is named, or at the
  // file when the command line names it.
  SourcePos where = from.line > 0 ? from : SourcePos{path, 1, 1};
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    d.error(ErrorKind::FileNotFound, from, fmt::format("cannot read '{}': {}", path, std::strerror(errno)),
            "check the path; relative paths are taken from the directory of the file that names them");
    return std::nullopt;
  }
  // Refused before opening: a FIFO would block, a device never end.
  auto not_a_file = [&](mode_t mode) {
    d.error(ErrorKind::NotAFile, where, fmt::format("'{}' is {}, not a regular file", path, describe_file_type(mode)),
            "name the YAML file itself");
    return std::nullopt;
  };
  if (!S_ISREG(st.st_mode)) return not_a_file(st.st_mode);
  if (static_cast<std::size_t>(st.st_size) > limits.max_bytes) {
    d.error(ErrorKind::InputTooLarge, where,
            fmt::format("'{}' is larger than {} bytes", path, limits.max_bytes),
            "check that this is the file meant");
    return std::nullopt;
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    d.error(ErrorKind::FileNotFound, from, fmt::format("cannot read '{}': {}", path, std::strerror(errno)),
            "check the path and its permissions");
    return std::nullopt;
  }
  // The path may have been swapped between stat and open.
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return not_a_file(st.st_mode);
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      d.error(ErrorKind::FileNotFound, from, fmt::format("cannot read '{}': {}", path, std::strerror(err)),
              "check the file");
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > limits.max_bytes) break;  // grew since stat: refused below
  }
  ::close(fd);
  return parse_yaml_text(text, path, d, limits);
}

}  // namespace she
