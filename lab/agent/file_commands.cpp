// The file tools a plan runs on a host, with coreutils' exit codes and
// messages: test, true, echo, hostname, sleep, rm, mkdir, mv, chmod,
// install, cat, sha256sum (of files or stdin), stat, find (a directory's listing), dd (blocks through stdin
// and stdout, resumable at a byte offset: a transfer's reader), tee (a transfer's writer, in
// `sh -c 'tee -- FILE | sha256sum'`) and tail (a unit's log followed from a byte offset while the
// unit's process lives).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <strings.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "lab/agent/agent.h"

namespace she::lab::agent {

namespace {

constexpr std::size_t kBlock = 65536;

std::string q(const std::string& p) { return "'" + p + "'"; }

/// Operands after the options: `allowed` are the accepted option letters
/// (single dash, possibly grouped); "--" ends the options.
bool split_options(const std::string& tool, const Args& argv, const std::string& allowed, std::string* flags,
                   Args* operands, std::size_t first = 1) {
  bool options = true;
  for (std::size_t i = first; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    if (options && w == "--") {
      options = false;
      continue;
    }
    if (options && w.size() > 1 && w[0] == '-') {
      for (std::size_t k = 1; k < w.size(); ++k) {
        if (allowed.find(w[k]) == std::string::npos) {
          err(fmt::format("{}: invalid option -- '{}'\nTry '{} --help' for more information.\n", tool, w[k], tool));
          return false;
        }
        *flags += w[k];
      }
      continue;
    }
    operands->push_back(w);
  }
  return true;
}

bool parse_mode(const std::string& s, mode_t* mode) {
  if (s.empty() || s.size() > 4) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '7') return false;
    v = v * 8 + static_cast<unsigned>(c - '0');
  }
  *mode = static_cast<mode_t>(v);
  return true;
}

bool write_all_fd(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

int cmd_test(Agent& a, const Args& argv) {
  Args args(argv.begin() + 1, argv.end());
  bool negate = false;
  if (!args.empty() && args[0] == "!") {
    negate = true;
    args.erase(args.begin());
  }
  if (args.size() != 2 || args[0].size() != 2 || args[0][0] != '-' ||
      std::string("efdsr").find(args[0][1]) == std::string::npos) {
    err("she-lab-agent: test: the lab knows only test [!] -e|-f|-d|-s|-r PATH\n");
    return 2;
  }
  struct stat st {};
  const bool exists = ::stat(a.map(args[1]).c_str(), &st) == 0;
  bool r = false;
  switch (args[0][1]) {
    case 'e': r = exists; break;
    case 'f': r = exists && S_ISREG(st.st_mode); break;
    case 'd': r = exists && S_ISDIR(st.st_mode); break;
    case 's': r = exists && st.st_size > 0; break;
    case 'r': r = exists && ::access(a.map(args[1]).c_str(), R_OK) == 0; break;
  }
  return (r != negate) ? 0 : 1;
}

int cmd_echo(const Args& argv) {
  std::size_t i = 1;
  bool newline = true;
  if (i < argv.size() && argv[i] == "-n") {
    newline = false;
    ++i;
  }
  std::string s;
  for (; i < argv.size(); ++i) s += (s.empty() ? "" : " ") + argv[i];
  out(s + (newline ? "\n" : ""));
  return 0;
}

int cmd_hostname(Agent& a) {
  std::string name;
  if (!read_file(a.map("/etc/hostname"), &name) || trim(name).empty()) name = a.host;
  out(trim(name) + "\n");
  return 0;
}

// getent hosts|ahosts KEY, from the sandbox's /etc/hosts (the lab's only
// name source): `hosts` prints "ADDRESS NAME", `ahosts` one line per
// socket type, as glibc's getent does. Exit 2: the key is not there.
int cmd_getent(Agent& a, const Args& argv) {
  if (argv.size() != 3 || (argv[1] != "hosts" && argv[1] != "ahosts")) {
    err("getent: the lab answers only `getent hosts KEY` and `getent ahosts KEY`\n");
    return 1;
  }
  std::string table;
  read_file(a.map("/etc/hosts"), &table);
  std::istringstream lines(table);
  bool found = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string address, name;
    if (!(words >> address >> name)) continue;
    bool match = argv[2] == address || strcasecmp(argv[2].c_str(), name.c_str()) == 0;
    if (!match) continue;
    found = true;
    if (argv[1] == "hosts") {
      out(address + "       " + name + "\n");
      break;
    }
    out(address + "      STREAM " + name + "\n" + address + "      DGRAM  \n" + address + "      RAW    \n");
  }
  return found ? 0 : 2;
}

int cmd_sleep(const Args& argv) {
  if (argv.size() != 2) {
    err("sleep: missing operand\nTry 'sleep --help' for more information.\n");
    return 1;
  }
  char* end = nullptr;
  const double s = std::strtod(argv[1].c_str(), &end);
  if (!end || *end != '\0' || s < 0) {
    err(fmt::format("sleep: invalid time interval {}\nTry 'sleep --help' for more information.\n", q(argv[1])));
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
  return 0;
}

int cmd_rm(Agent& a, const Args& argv) {
  std::string flags;
  Args files;
  if (!split_options("rm", argv, "f", &flags, &files)) return 1;
  const bool force = flags.find('f') != std::string::npos;
  if (files.empty() && !force) {
    err("rm: missing operand\nTry 'rm --help' for more information.\n");
    return 1;
  }
  int rc = 0;
  for (const auto& f : files) {
    const fs::path p = a.map(f);
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (!force) {
        err(fmt::format("rm: cannot remove {}: No such file or directory\n", q(f)));
        rc = 1;
      }
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      err(fmt::format("rm: cannot remove {}: Is a directory\n", q(f)));
      rc = 1;
      continue;
    }
    if (::unlink(p.c_str()) != 0) {
      err(fmt::format("rm: cannot remove {}: {}\n", q(f), std::strerror(errno)));
      rc = 1;
    }
  }
  return rc;
}

int cmd_mkdir(Agent& a, const Args& argv) {
  std::string flags;
  Args dirs;
  if (!split_options("mkdir", argv, "p", &flags, &dirs)) return 1;
  if (dirs.empty()) {
    err("mkdir: missing operand\nTry 'mkdir --help' for more information.\n");
    return 1;
  }
  const bool parents = flags.find('p') != std::string::npos;
  int rc = 0;
  for (const auto& d : dirs) {
    const fs::path p = a.map(d);
    std::error_code ec;
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      err(fmt::format("mkdir: cannot create directory {}: File exists\n", q(d)));
      rc = 1;
      continue;
    }
    if (parents) {
      fs::create_directories(p, ec);
      if (!ec && !fs::is_directory(p)) ec = std::make_error_code(std::errc::file_exists);
    } else if (!fs::create_directory(p, ec) && !ec) {
      ec = std::make_error_code(std::errc::file_exists);
    }
    if (ec) {
      const bool not_dir = ec == std::errc::not_a_directory || (parents && fs::exists(p.parent_path()) &&
                                                                !fs::is_directory(p.parent_path()));
      err(fmt::format("mkdir: cannot create directory {}: {}\n", q(d),
                      ec == std::errc::file_exists ? "File exists"
                      : not_dir                    ? "Not a directory"
                      : ec == std::errc::no_such_file_or_directory ? "No such file or directory"
                                                                   : ec.message()));
      rc = 1;
    }
  }
  return rc;
}

int cmd_mv(Agent& a, const Args& argv) {
  std::string flags;
  Args ops;
  if (!split_options("mv", argv, "f", &flags, &ops)) return 1;
  if (ops.size() != 2) {
    err(ops.size() < 2 ? "mv: missing file operand\nTry 'mv --help' for more information.\n"
                       : "she-lab-agent: mv: the lab knows only mv -f -- SRC DST\n");
    return 1;
  }
  const fs::path src = a.map(ops[0]);
  fs::path dst = a.map(ops[1]);
  struct stat st {};
  if (::lstat(src.c_str(), &st) != 0) {
    err(fmt::format("mv: cannot stat {}: No such file or directory\n", q(ops[0])));
    return 1;
  }
  if (fs::is_directory(dst)) dst /= src.filename();
  if (::rename(src.c_str(), dst.c_str()) != 0) {
    err(fmt::format("mv: cannot move {} to {}: {}\n", q(ops[0]), q(ops[1]), std::strerror(errno)));
    return 1;
  }
  return 0;
}

int cmd_chmod(Agent& a, const Args& argv) {
  if (argv.size() < 3) {
    err("chmod: missing operand\nTry 'chmod --help' for more information.\n");
    return 1;
  }
  mode_t mode = 0;
  if (!parse_mode(argv[1], &mode)) {
    err(fmt::format("chmod: invalid mode: {}\nTry 'chmod --help' for more information.\n", q(argv[1])));
    return 1;
  }
  std::string flags;
  Args files;
  if (!split_options("chmod", argv, "", &flags, &files, 2)) return 1;
  int rc = 0;
  for (const auto& f : files)
    if (::chmod(a.map(f).c_str(), mode) != 0) {
      err(fmt::format("chmod: cannot access {}: {}\n", q(f), std::strerror(errno)));
      rc = 1;
    }
  return rc;
}

int cmd_install(Agent& a, const Args& argv) {
  // install -m MODE /dev/null PATH: an empty file with that mode.
  if (argv.size() != 5 || argv[1] != "-m" || argv[3] != "/dev/null") {
    err("she-lab-agent: install: the lab knows only install -m MODE /dev/null PATH\n");
    return 1;
  }
  mode_t mode = 0;
  if (!parse_mode(argv[2], &mode)) {
    err(fmt::format("install: invalid mode {}\n", q(argv[2])));
    return 1;
  }
  const fs::path p = a.map(argv[4]);
  ::unlink(p.c_str());
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    err(fmt::format("install: cannot create regular file {}: {}\n", q(argv[4]), std::strerror(errno)));
    return 1;
  }
  ::fchmod(fd, mode);
  ::close(fd);
  return 0;
}

int cmd_cat(Agent& a, const Args& argv) {
  std::string flags;
  Args files;
  if (!split_options("cat", argv, "", &flags, &files)) return 1;
  // No operand, or "-": standard input (the end of the transfer's pipeline).
  if (files.empty()) files.push_back("-");
  int rc = 0;
  std::vector<char> buf(kBlock);
  for (const auto& f : files) {
    const fs::path p = f == "-" ? fs::path() : a.map(f);
    if (f != "-" && fs::is_directory(p)) {
      err(fmt::format("cat: {}: Is a directory\n", f));
      rc = 1;
      continue;
    }
    const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err(fmt::format("cat: {}: {}\n", f, std::strerror(errno)));
      rc = 1;
      continue;
    }
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;)
      if (!write_all_fd(1, buf.data(), static_cast<std::size_t>(n))) {
        ::close(fd);
        return 1;
      }
    ::close(fd);
  }
  return rc;
}

/// The SHA-256 of each of `files` ("-": standard input), each line written
/// by `line(hex, name)`; `tool` names the command in its errors.
int sha256_lines(Agent& a, const std::string& tool, Args files,
                 const std::function<std::string(const std::string&, const std::string&)>& line) {
  // No operand, or "-": standard input (the end of the transfer's pipeline).
  if (files.empty()) files.push_back("-");
  int rc = 0;
  std::vector<char> buf(kBlock);
  for (const auto& f : files) {
    const fs::path p = f == "-" ? fs::path() : a.map(f);
    if (f != "-" && fs::is_directory(p)) {
      err(fmt::format("{}: {}: Is a directory\n", tool, f));
      rc = 1;
      continue;
    }
    const int fd = f == "-" ? 0 : ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err(fmt::format("{}: {}: {}\n", tool, f, std::strerror(errno)));
      rc = 1;
      continue;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0 || (n < 0 && errno == EINTR);)
      if (n > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n));
    if (fd != 0) ::close(fd);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    std::string hex;
    for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
    out(line(hex, f));
  }
  return rc;
}

int cmd_sha256sum(Agent& a, const Args& argv) {
  std::string flags;
  Args files;
  if (!split_options("sha256sum", argv, "b", &flags, &files)) return 1;
  return sha256_lines(a, "sha256sum", files, [](const std::string& hex, const std::string& f) {
    return hex + "  " + f + "\n";
  });
}

/// `openssl dgst -sha256 -r [FILE...]`, the one use the transfers make of
/// OpenSSL's command line: "HEX *FILE", "HEX *stdin" without one.
int cmd_openssl(Agent& a, const Args& argv) {
  if (argv.size() < 4 || argv[1] != "dgst" || argv[2] != "-sha256" || argv[3] != "-r") {
    err("she-lab-agent: openssl: the lab knows only `openssl dgst -sha256 -r [FILE...]`\n");
    return 1;
  }
  return sha256_lines(a, "openssl", Args(argv.begin() + 4, argv.end()), [](const std::string& hex, const std::string& f) {
    return hex + " *" + (f == "-" ? "stdin" : f) + "\n";
  });
}

int cmd_tee(Agent& a, const Args& argv) {
  // tee [-a] [--] FILE...: stdin to stdout and to each FILE (created, or
  // truncated keeping its mode; appended to with -a). A FILE that fails is reported and dropped
  // while the rest go on; the exit is 1 then. The drop fault cuts the
  // stream here as in dd: tee is the transfer's writer.
  std::string flags;
  Args files;
  if (!split_options("tee", argv, "a", &flags, &files)) return 1;
  const int how = flags.find('a') != std::string::npos ? O_APPEND : O_TRUNC;
  int rc = 0;
  std::vector<std::pair<std::string, int>> outs;
  for (const auto& f : files) {
    const int fd = ::open(a.map(f).c_str(), O_WRONLY | O_CREAT | how | O_CLOEXEC, 0666);
    if (fd < 0) {
      err(fmt::format("tee: {}: {}\n", f, std::strerror(errno)));
      rc = 1;
      continue;
    }
    outs.emplace_back(f, fd);
  }
  const long long drop_after = take_drop_after_bytes(a);
  std::vector<char> buf(kBlock);
  long long total = 0;
  bool to_stdout = true;
  while (true) {
    std::size_t want = buf.size();
    if (drop_after >= 0 && total + static_cast<long long>(want) > drop_after)
      want = static_cast<std::size_t>(drop_after - total);
    if (drop_after >= 0 && want == 0) {
      for (const auto& o : outs) ::fdatasync(o.second);
      drop_connection();
    }
    const ssize_t n = ::read(0, buf.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err(fmt::format("tee: 'standard input': {}\n", std::strerror(errno)));
      rc = 1;
      break;
    }
    if (n == 0) break;
    total += n;
    if (to_stdout && !write_all_fd(1, buf.data(), static_cast<std::size_t>(n))) {
      err(fmt::format("tee: 'standard output': {}\n", std::strerror(errno)));
      to_stdout = false, rc = 1;
    }
    for (auto& o : outs) {
      if (o.second < 0 || write_all_fd(o.second, buf.data(), static_cast<std::size_t>(n))) continue;
      err(fmt::format("tee: {}: {}\n", o.first, std::strerror(errno)));
      ::close(o.second);
      o.second = -1, rc = 1;
    }
    if (!to_stdout && std::none_of(outs.begin(), outs.end(), [](const auto& o) { return o.second >= 0; })) break;
  }
  for (const auto& o : outs)
    if (o.second >= 0 && ::close(o.second) != 0) rc = 1;
  return rc;
}

int cmd_stat(Agent& a, const Args& argv) {
  // stat -c %s -- PATH: the size in bytes.
  std::size_t i = 1;
  if (argv.size() < 4 || argv[1] != "-c" || argv[2] != "%s") {
    err("she-lab-agent: stat: the lab knows only stat -c %s -- PATH\n");
    return 1;
  }
  i = 3;
  if (i < argv.size() && argv[i] == "--") ++i;
  int rc = 0;
  for (; i < argv.size(); ++i) {
    struct stat st {};
    if (::stat(a.map(argv[i]).c_str(), &st) != 0) {
      err(fmt::format("stat: cannot statx {}: {}\n", q(argv[i]), std::strerror(errno)));
      rc = 1;
      continue;
    }
    out(fmt::format("{}\n", static_cast<long long>(st.st_size)));
  }
  return rc;
}

int cmd_find(Agent& a, const Args& argv) {
  // find DIR -maxdepth 1 -type f -printf FORMAT: a directory's regular
  // files, FORMAT with %T@ (mtime), %s (size), %f (name), \0 and \n.
  if (argv.size() != 8 || argv[2] != "-maxdepth" || argv[3] != "1" || argv[4] != "-type" || argv[5] != "f" ||
      argv[6] != "-printf") {
    err("she-lab-agent: find: the lab knows only find DIR -maxdepth 1 -type f -printf FORMAT\n");
    return 1;
  }
  const fs::path dir = a.map(argv[1]);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    err(fmt::format("find: {}: No such file or directory\n", q(argv[1])));
    return 1;
  }
  std::string listing;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const std::string& f = argv[7];
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (f[i] == '\\' && i + 1 < f.size()) {
        const char c = f[++i];
        listing += c == '0' ? '\0' : c == 'n' ? '\n' : c;
      } else if (f[i] == '%' && f.compare(i, 3, "%T@") == 0) {
        listing += fmt::format("{}.{:09d}", static_cast<long long>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec);
        i += 2;
      } else if (f[i] == '%' && i + 1 < f.size() && (f[i + 1] == 's' || f[i + 1] == 'f')) {
        listing += f[++i] == 's' ? std::to_string(static_cast<long long>(st.st_size)) : e.path().filename().string();
      } else {
        listing += f[i];
      }
    }
  }
  out(listing);
  return 0;
}

bool parse_size(const std::string& s, long long* v) {
  if (s.empty()) return false;
  std::size_t used = 0;
  long long n = 0;
  try {
    n = std::stoll(s, &used);
  } catch (const std::exception&) {
    return false;
  }
  const std::string suffix = s.substr(used);
  long long mult = 1;
  if (suffix.empty() || suffix == "c") mult = 1;
  else if (suffix == "w") mult = 2;
  else if (suffix == "b") mult = 512;
  else if (suffix == "K" || suffix == "KiB") mult = 1024;
  else if (suffix == "kB") mult = 1000;
  else if (suffix == "M" || suffix == "MiB") mult = 1024LL * 1024;
  else if (suffix == "MB") mult = 1000LL * 1000;
  else if (suffix == "G" || suffix == "GiB") mult = 1024LL * 1024 * 1024;
  else return false;
  if (n < 0) return false;
  *v = n * mult;
  return true;
}

int cmd_dd(Agent& a, const Args& argv) {
  std::string in_path, out_path, status;
  long long bs = 512, seek = 0, skip = 0, count = -1;
  bool seek_bytes = false, skip_bytes = false, count_bytes = false, fullblock = false, notrunc = false,
       fsync_end = false;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    const auto eq = w.find('=');
    if (eq == std::string::npos) {
      err(fmt::format("dd: unrecognized operand {}\nTry 'dd --help' for more information.\n", q(w)));
      return 1;
    }
    const std::string k = w.substr(0, eq), v = w.substr(eq + 1);
    auto number = [&](long long* dst) {
      if (parse_size(v, dst)) return true;
      err(fmt::format("dd: invalid number: {}\n", q(v)));
      return false;
    };
    auto flag_list = [&](auto on_flag) {
      std::size_t s = 0;
      while (s <= v.size()) {
        std::size_t e = v.find(',', s);
        if (e == std::string::npos) e = v.size();
        if (!on_flag(v.substr(s, e - s))) {
          err(fmt::format("dd: invalid {}: {}\nTry 'dd --help' for more information.\n",
                          k == "conv" ? "conversion" : k == "oflag" ? "output flag" : "input flag",
                          q(v.substr(s, e - s))));
          return false;
        }
        s = e + 1;
      }
      return true;
    };
    if (k == "if") in_path = v;
    else if (k == "of") out_path = v;
    else if (k == "bs" || k == "ibs" || k == "obs") {
      if (!number(&bs)) return 1;
      if (bs <= 0) bs = 512;
    } else if (k == "seek" || k == "oseek") {
      if (!number(&seek)) return 1;
    } else if (k == "skip" || k == "iseek") {
      if (!number(&skip)) return 1;
    } else if (k == "count") {
      if (!number(&count)) return 1;
    } else if (k == "status") {
      status = v;
    } else if (k == "oflag") {
      if (!flag_list([&](const std::string& f) { return (f == "seek_bytes" && (seek_bytes = true)) || f == "direct"; }))
        return 1;
    } else if (k == "iflag") {
      if (!flag_list([&](const std::string& f) {
            return (f == "skip_bytes" && (skip_bytes = true)) || (f == "count_bytes" && (count_bytes = true)) ||
                   (f == "fullblock" && (fullblock = true)) || f == "direct";
          }))
        return 1;
    } else if (k == "conv") {
      if (!flag_list([&](const std::string& f) {
            if (f == "notrunc") return notrunc = true;
            if (f == "fsync" || f == "fdatasync") return fsync_end = true;
            return false;
          }))
        return 1;
    } else {
      err(fmt::format("dd: unrecognized operand {}\nTry 'dd --help' for more information.\n", q(w)));
      return 1;
    }
  }
  const long long seek_at = seek_bytes ? seek : seek * bs;
  const long long skip_at = skip_bytes ? skip : skip * bs;

  int in = 0, outfd = 1;
  if (!in_path.empty()) {
    in = ::open(a.map(in_path).c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) {
      err(fmt::format("dd: failed to open {}: {}\n", q(in_path), std::strerror(errno)));
      return 1;
    }
  }
  if (!out_path.empty()) {
    outfd = ::open(a.map(out_path).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (outfd < 0) {
      err(fmt::format("dd: failed to open {}: {}\n", q(out_path), std::strerror(errno)));
      if (in > 0) ::close(in);
      return 1;
    }
    // GNU dd truncates at the seek offset unless conv=notrunc.
    if (!notrunc && ::ftruncate(outfd, seek_at) != 0) {
      err(fmt::format("dd: failed to truncate to {} bytes in output file {}: {}\n", seek_at, q(out_path),
                      std::strerror(errno)));
      return 1;
    }
    if (::lseek(outfd, seek_at, SEEK_SET) < 0) {
      err(fmt::format("dd: {}: cannot seek: {}\n", q(out_path), std::strerror(errno)));
      return 1;
    }
  }
  if (skip_at > 0) {
    if (in != 0) {
      if (::lseek(in, skip_at, SEEK_SET) < 0) {
        err(fmt::format("dd: {}: cannot skip: {}\n", q(in_path), std::strerror(errno)));
        return 1;
      }
    } else {
      std::vector<char> sink(kBlock);
      long long left = skip_at;
      while (left > 0) {
        const ssize_t n = ::read(0, sink.data(), static_cast<std::size_t>(std::min<long long>(left, kBlock)));
        if (n <= 0) break;
        left -= n;
      }
    }
  }

  const long long drop_after = take_drop_after_bytes(a);
  const auto start = std::chrono::steady_clock::now();
  std::vector<char> buf(static_cast<std::size_t>(std::min<long long>(std::max<long long>(bs, 1), 64LL << 20)));
  long long total = 0, full = 0, partial = 0;
  int rc = 0;
  // As GNU dd counts: `count` reads (count_bytes: count / bs reads, then
  // one of the remainder), each of one block or less. A short read is a
  // block of its own unless iflag=fullblock, which reads on until the
  // block is full: without it, input arriving in pieces (a pipe, an SSH
  // channel) ends the copy early, and the rest stays on standard input.
  const long long reads = count < 0 ? -1 : count_bytes ? count / static_cast<long long>(buf.size()) : count;
  const long long last = count_bytes && count >= 0 ? count % static_cast<long long>(buf.size()) : 0;
  for (long long blocks = 0; reads < 0 || blocks < reads + (last > 0 ? 1 : 0); ++blocks) {
    std::size_t want = blocks == reads ? static_cast<std::size_t>(last) : buf.size();
    if (drop_after >= 0 && total + static_cast<long long>(want) > drop_after)
      want = static_cast<std::size_t>(drop_after - total);
    if (drop_after >= 0 && want == 0) {
      if (outfd != 1) ::fdatasync(outfd);
      drop_connection();
    }
    ssize_t n = 0;
    while (static_cast<std::size_t>(n) < want) {
      const ssize_t got = ::read(in, buf.data() + n, want - static_cast<std::size_t>(n));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        if (n == 0) n = -1;
        break;
      }
      n += got;
      if (got == 0 || !fullblock) break;
    }
    if (n < 0) {
      err(fmt::format("dd: error reading {}: {}\n", in_path.empty() ? "'standard input'" : q(in_path),
                      std::strerror(errno)));
      rc = 1;
      break;
    }
    if (n == 0) break;
    if (!write_all_fd(outfd, buf.data(), static_cast<std::size_t>(n))) {
      err(fmt::format("dd: error writing {}: {}\n", out_path.empty() ? "'standard output'" : q(out_path),
                      std::strerror(errno)));
      rc = 1;
      break;
    }
    total += n;
    (static_cast<std::size_t>(n) == buf.size() ? full : partial) += 1;
  }
  if (drop_after >= 0 && total >= drop_after && rc == 0) {
    if (outfd != 1) ::fdatasync(outfd);
    drop_connection();
  }
  if (fsync_end && outfd != 1 && ::fsync(outfd) != 0) rc = 1;
  if (in != 0) ::close(in);
  if (outfd != 1 && ::close(outfd) != 0) rc = 1;
  if (status != "none") {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    err(fmt::format("{}+{} records in\n{}+{} records out\n{} bytes copied, {:.5f} s, {:.1f} MB/s\n", full, partial, full,
                    partial, total, secs, secs > 0 ? total / secs / 1e6 : 0.0));
  }
  return rc;
}

}  // namespace

/// Whether process `pid` still runs: GNU tail asks kill(pid, 0); a zombie
/// (the lab's units have no systemd to reap them at once) has ended.
bool process_lives(long pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  std::string stat;
  if (!read_file(fmt::format("/proc/{}/stat", pid), &stat)) return true;
  const std::size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z';
}

/// `tail -c +N [-f] [--pid=PID] [-s SECONDS] [--] FILE`: FILE from byte N
/// (1 is the first); with -f, what it gains as it is written, until PID
/// (when given) has ended and its last writes are out, or until standard
/// output is closed (coreutils' tail sees a closed pipe at once, without
/// waiting for something to write).
int cmd_tail(Agent& a, const Args& argv) {
  long long from = -1;
  bool follow = false;
  long pid = 0;
  double interval = 1.0;
  Args files;
  bool options = true;
  auto bad = [](const std::string& what) {
    err(fmt::format("tail: {}\nthe lab's tail knows -c +N, -f, --pid=PID, -s SECONDS and one file\n", what));
    return 1;
  };
  auto digits = [](const std::string& text, long long* v) {
    if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) return false;
    *v = std::stoll(text);
    return true;
  };
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    long long v = 0;
    if (!options || w == "-" || w.empty() || w[0] != '-') files.push_back(w);
    else if (w == "--") options = false;
    else if (w == "-f" || w == "--follow" || w == "--follow=descriptor") follow = true;
    else if (w == "-c" || w == "--bytes" || w.rfind("-c", 0) == 0 || w.rfind("--bytes=", 0) == 0) {
      const std::string n = w == "-c" || w == "--bytes" ? (i + 1 < argv.size() ? argv[++i] : "")
                            : w.rfind("--bytes=", 0) == 0 ? w.substr(8) : w.substr(2);
      if (n.empty() || n[0] != '+' || !parse_size(n.substr(1), &v)) return bad(fmt::format("invalid number of bytes: {}", q(n)));
      from = std::max(1LL, v);
    } else if (w.rfind("--pid=", 0) == 0) {
      if (!digits(w.substr(6), &v) || v > 4194304) return bad(fmt::format("invalid PID: {}", q(w.substr(6))));
      pid = static_cast<long>(v);
    } else if (w == "-s" || w.rfind("--sleep-interval=", 0) == 0) {
      const std::string n = w == "-s" ? (i + 1 < argv.size() ? argv[++i] : "") : w.substr(17);
      char* end = nullptr;
      interval = std::strtod(n.c_str(), &end);
      if (n.empty() || *end != '\0' || !(interval >= 0) || interval > 3600) return bad(fmt::format("invalid number of seconds: {}", q(n)));
    } else
      return bad(fmt::format("unrecognized option {}", q(w)));
  }
  if (from < 0 || files.size() != 1 || files[0] == "-") return bad("the lab needs -c +N and one file");
  const int fd = ::open(a.map(files[0]).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err(fmt::format("tail: cannot open {} for reading: {}\n", q(files[0]), std::strerror(errno)));
    return 1;
  }
  std::vector<char> buf(kBlock);
  off_t at = static_cast<off_t>(from - 1);
  // Writes what the file holds past `at`; false once standard output is gone.
  auto drain = [&] {
    for (ssize_t n; (n = ::pread(fd, buf.data(), buf.size(), at)) > 0; at += n)
      if (!write_all_fd(1, buf.data(), static_cast<std::size_t>(n))) return false;
    return true;
  };
  int rc = drain() ? 0 : 1;
  if (rc == 0 && follow) {
    const int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in >= 0) ::inotify_add_watch(in, a.map(files[0]).c_str(), IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF);
    const int wait_ms = std::max(10, static_cast<int>(interval * 1000));
    while (true) {
      const bool writer_gone = pid > 0 && !process_lives(pid);
      if (!drain()) {
        rc = 1;
        break;
      }
      if (writer_gone) break;  // its last writes are out
      pollfd p[2] = {{1, 0, 0}, {in, POLLIN, 0}};
      ::poll(p, in >= 0 ? 2 : 1, in >= 0 ? wait_ms : std::min(wait_ms, 100));
      if (p[0].revents & (POLLERR | POLLHUP)) {
        rc = 1;  // the reader went away
        break;
      }
      if (in >= 0 && (p[1].revents & POLLIN))
        for (char events[4096]; ::read(in, events, sizeof events) > 0;) {
        }
    }
    if (in >= 0) ::close(in);
  }
  ::close(fd);
  return rc;
}

int file_command(Agent& a, const Args& argv, bool* handled) {
  *handled = true;
  const std::string& n = argv[0];
  if (n == "true") return 0;
  if (n == "test") return cmd_test(a, argv);
  if (n == "echo") return cmd_echo(argv);
  if (n == "hostname") return cmd_hostname(a);
  if (n == "getent") return cmd_getent(a, argv);
  if (n == "sleep") return cmd_sleep(argv);
  if (n == "rm") return cmd_rm(a, argv);
  if (n == "mkdir") return cmd_mkdir(a, argv);
  if (n == "mv") return cmd_mv(a, argv);
  if (n == "chmod") return cmd_chmod(a, argv);
  if (n == "install") return cmd_install(a, argv);
  if (n == "cat") return cmd_cat(a, argv);
  if (n == "sha256sum") return cmd_sha256sum(a, argv);
  if (n == "openssl") return cmd_openssl(a, argv);
  if (n == "stat") return cmd_stat(a, argv);
  if (n == "find") return cmd_find(a, argv);
  if (n == "dd") return cmd_dd(a, argv);
  if (n == "tee") return cmd_tee(a, argv);
  if (n == "tail") return cmd_tail(a, argv);
  *handled = false;
  return 127;
}

}  // namespace she::lab::agent
