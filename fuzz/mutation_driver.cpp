// A seeded mutation loop for the fuzz targets when they are built without
// libFuzzer (the GCC build `make test` uses). It takes libFuzzer's flags
// that matter here, so scripts and CTest call both the same way:
//
//   fuzz-TARGET [-runs=N] [-seed=S] [-max_total_time=SECONDS] [-max_len=BYTES]
//               [-timeout=SECONDS] CORPUS_DIR_OR_FILE...
//
// Every seed runs once as it is, then mutants of them (bit flips, bytes set,
// inserted and removed, ranges duplicated, splices of two seeds, YAML and
// XML tokens inserted) from a generator seeded with -seed, so a run is the
// same on every machine. A crash or a hang (-timeout) leaves the input in
// fuzz-crash-SEED in the working directory and ends the process the way
// the input did.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// Tokens of the formats the targets read: YAML structure and plan keys, XML
// markup and the engine's element names.
const char* const kDictionary[] = {
    ": ",      "- ",        "\n",          "\n  ",       "{",          "}",         "[",           "]",
    ", ",      "'",         "\"",          "#",          "|\n",        ">\n",       "---\n",       "...\n",
    "!!str ",  "? ",        "${",          "}",          "${params.",  "${env.",    "${steps.",    "${vars.",
    "plan: ",  "uses: ",    "steps:\n",    "with:\n",    "id: ",       "foreach:",  "when: ",      "timeout: ",
    "env:X",   "file:/",    "roles: [",    "failover",   "hosts:\n",   "engine:\n", "environment:", "0s",
    "<",       ">",         "</",          "/>",         "<?xml version=\"1.0\"?>", "<![CDATA[", "]]>", "&amp;",
    "<host ",  "id=\"",     "<hosts>",     "<status>",   "<name>",     "<fault>",   "<hosted_engine>", "&#",
    "\x1f\x8b", "ustar",    "./version",   "./sha256sum", "./files",   "\0",        "\xff",        "..",
};

std::string g_current;  // the input under test, for the crash handler
std::string g_crash_file = "fuzz-crash";

void write_current(int) {
  int fd = ::open(g_crash_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return;
  ssize_t ignored = ::write(fd, g_current.data(), g_current.size());
  (void)ignored;
  ::close(fd);
}

void on_fatal(int sig) {
  write_current(sig);
  const char msg[] = "fuzz: the input that failed is in the crash file\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
  std::signal(sig, SIG_DFL);
  std::raise(sig == SIGALRM ? SIGABRT : sig);
}

void load(const std::filesystem::path& p, std::vector<std::string>& corpus, size_t max_len) {
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) {
    std::vector<std::filesystem::path> files;
    for (auto& e : std::filesystem::recursive_directory_iterator(p, ec))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());  // the same order everywhere
    for (auto& f : files) load(f, corpus, max_len);
    return;
  }
  std::ifstream in(p, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_len) text.resize(max_len);
  corpus.push_back(std::move(text));
}

std::string mutate(const std::vector<std::string>& corpus, std::mt19937_64& rng, size_t max_len) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  std::string s = corpus[pick(corpus.size())];
  int rounds = 1 + static_cast<int>(pick(4));
  for (int r = 0; r < rounds; ++r) {
    switch (pick(7)) {
      case 0:
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1u << pick(8));
        break;
      case 1:
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng());
        break;
      case 2: s.insert(pick(s.size() + 1), 1, static_cast<char>(rng())); break;
      case 3:
        if (!s.empty()) {
          size_t at = pick(s.size());
          s.erase(at, 1 + pick(std::min<size_t>(16, s.size() - at)));
        }
        break;
      case 4:
        if (!s.empty()) {
          size_t at = pick(s.size()), len = 1 + pick(std::min<size_t>(64, s.size() - at));
          s.insert(pick(s.size() + 1), s.substr(at, len));
        }
        break;
      case 5: {
        const std::string& other = corpus[pick(corpus.size())];
        size_t cut = pick(s.size() + 1), from = pick(other.size() + 1);
        s = s.substr(0, cut) + other.substr(from);
        break;
      }
      default: {
        const char* tok = kDictionary[pick(sizeof kDictionary / sizeof *kDictionary)];
        s.insert(pick(s.size() + 1), tok, std::max<size_t>(1, std::strlen(tok)));
      }
    }
  }
  if (s.size() > max_len) s.resize(max_len);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long long runs = 1000, seed = 1, max_time = 0, timeout = 20;
  size_t max_len = 64 * 1024;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto flag = [&](const char* name, auto& out) {
      std::string prefix = std::string("-") + name + "=";
      if (a.rfind(prefix, 0) != 0) return false;
      out = static_cast<std::remove_reference_t<decltype(out)>>(std::atoll(a.c_str() + prefix.size()));
      return true;
    };
    if (flag("runs", runs) || flag("seed", seed) || flag("max_total_time", max_time) || flag("max_len", max_len) ||
        flag("timeout", timeout))
      continue;
    if (a.rfind("-", 0) == 0) continue;  // other libFuzzer flags mean nothing here
    inputs.push_back(a);
  }
  std::vector<std::string> corpus;
  for (auto& in : inputs) load(in, corpus, max_len);
  if (corpus.empty()) corpus.push_back("");
  g_crash_file = "fuzz-crash-" + std::to_string(seed);
  for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGALRM}) std::signal(sig, on_fatal);

  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  auto start = std::chrono::steady_clock::now();
  auto one = [&](const std::string& input) {
    g_current = input;
    ::alarm(static_cast<unsigned>(timeout));  // a hang is a failure too
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(g_current.data()), g_current.size());
    ::alarm(0);
  };
  for (auto& s : corpus) one(s);
  long long done = 0;
  // -max_total_time bounds the run; otherwise -runs does.
  for (; max_time > 0 || done < runs; ++done) {
    if (max_time > 0 &&
        std::chrono::steady_clock::now() - start > std::chrono::seconds(max_time))
      break;
    one(mutate(corpus, rng, max_len));
  }
  std::cout << "fuzz: " << corpus.size() << " seeds and " << done << " mutants (seed " << seed << "): no crash\n";
  return 0;
}
