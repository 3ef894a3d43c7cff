// TLS trust of the engine client: only the pinned engine CA is trusted,
// never a CA that libcurl's default CA path or bundle holds (proved in a
// private mount namespace whose /etc/ssl/certs holds a rogue CA), and one
// trust anchor per run: trust on first use happens once, is recorded, and
// pins the CA when the run resumes.
#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "orchestrator/journal.h"
#include "orchestrator/run_connections.h"
#include "orchestrator/run_state.h"
#include "tests/lab_fixture.h"
#include "tests/lab_hosts_fixture.h"

using namespace she;
using namespace she::engine_api;
using she::test::LabEngine;

namespace {

/// A run's store, as the executor gives RunConnections (no redactor here).
const SecretStore& secrets() {
  static const SecretStore store(SecretStore::Mode::Resolve);
  return store;
}

constexpr const char* kDefaultCaPath = "/etc/ssl/certs";  // Debian libcurl's CAPATH; its CAINFO lies inside

/// "8 hex digits.0", the name OpenSSL's hashed CA directory looks a CA up by.
std::string hashed_name(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  std::string name = cert ? fmt::format("{:08x}.0", X509_subject_name_hash(cert)) : "";
  X509_free(cert);
  BIO_free(bio);
  return name;
}

/// A stand-in for /etc/ssl/certs that trusts the rogue CA: the bundle file
/// libcurl defaults CAINFO to and an `openssl rehash` style hashed link.
void make_default_ca_dir(const std::filesystem::path& dir, const std::string& rogue_ca_pem) {
  std::filesystem::create_directories(dir);
  test::write_file(dir / "ca-certificates.crt", rogue_ca_pem);
  test::write_file(dir / "rogue-test-ca.pem", rogue_ca_pem);
  std::filesystem::create_symlink("rogue-test-ca.pem", dir / hashed_name(rogue_ca_pem));
}

/// A plain GET with a curl easy handle; `setup` changes its defaults.
CURLcode plain_get(const std::string& url, const std::function<void(CURL*)>& setup) {
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  if (setup) setup(c);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_cleanup(c);
  return rc;
}

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

/// Reads until EOF or the deadline; false on timeout.
bool read_all(int fd, std::string* out, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    out->append(buf, static_cast<size_t>(n));
  }
}

struct ChildResult {
  int status = -1;     // exit code; -1 when it did not exit normally
  std::string report;  // what it wrote
};

/// Runs `body` in a child process whose mount namespace has `fake_certs`
/// bind-mounted over /etc/ssl/certs. The child forks before the parent
/// starts any thread; `start` (in the parent) returns the port to test
/// against, which the child receives through a pipe. The child is reaped.
ChildResult run_with_default_ca_dir(const std::filesystem::path& fake_certs, const std::function<int()>& start,
                                    const std::function<int(int port, std::string* report)>& body) {
  int to_child[2], from_child[2];
  REQUIRE(::pipe(to_child) == 0);
  REQUIRE(::pipe(from_child) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    std::string report;
    auto finish = [&](int code) {
      write_all(from_child[1], report);
      ::_exit(code);
    };
    if (::unshare(CLONE_NEWNS) != 0) report = std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
    else if (::mount(nullptr, "/", nullptr, MS_PRIVATE | MS_REC, nullptr) != 0)
      report = std::string("mount MS_PRIVATE /: ") + std::strerror(errno);
    else if (::mount(fake_certs.c_str(), kDefaultCaPath, nullptr, MS_BIND, nullptr) != 0)
      report = std::string("bind mount over /etc/ssl/certs: ") + std::strerror(errno);
    if (!report.empty()) finish(90);
    int port = 0;
    if (::read(to_child[0], &port, sizeof port) != sizeof port || port <= 0) {
      report = "no port from the parent";
      finish(91);
    }
    int code = 92;
    try {
      code = body(port, &report);
    } catch (const std::exception& e) {
      report += std::string("\nunexpected exception: ") + e.what();
    }
    finish(code);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  ChildResult res;
  int port = 0;
  try {
    port = start();
  } catch (...) {
    ::close(to_child[1]);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    ::close(from_child[0]);
    throw;
  }
  write_all(to_child[1], std::string(reinterpret_cast<const char*>(&port), sizeof port));
  ::close(to_child[1]);
  bool finished = read_all(from_child[0], &res.report, std::chrono::seconds(90));
  ::close(from_child[0]);
  if (!finished) {
    ::kill(pid, SIGKILL);
    res.report += "\n(the child did not finish in time: killed)";
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) res.status = WEXITSTATUS(status);
  return res;
}

/// In the child: the controls, then the client, which must be refused.
/// 0 when all holds; otherwise the report says what did not.
int default_ca_path_is_not_trusted(int port, std::string* report, const ClientConfig& base) {
  const std::string health = fmt::format("https://127.0.0.1:{}/ovirt-engine/services/health", port);
  int failed = 0;
  auto expect = [&](bool ok, const std::string& what) {
    *report += fmt::format("{}: {}\n", ok ? "ok" : "FAILED", what);
    if (!ok) failed = 1;
  };
  // Controls: libcurl's defaults trust the rogue CA here, by its bundle and
  // by its hashed directory alone; and a pinned blob does not stop CAPATH.
  CURLcode rc = plain_get(health, nullptr);
  expect(rc == CURLE_OK, fmt::format("control: a default curl handle accepts the rogue server ({})", curl_easy_strerror(rc)));
  rc = plain_get(health, [](CURL* c) { curl_easy_setopt(c, CURLOPT_CAINFO, nullptr); });
  expect(rc == CURLE_OK, fmt::format("control: the default CAPATH alone accepts it ({})", curl_easy_strerror(rc)));
  const std::string pinned_pem = base.ca_file.empty() ? "" : test::read_file(base.ca_file);
  if (!pinned_pem.empty()) {
    rc = plain_get(health, [&](CURL* c) {
      curl_blob blob{const_cast<char*>(pinned_pem.data()), pinned_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
    });
    expect(rc == CURLE_OK, fmt::format("control: a CA blob with the default CAPATH left set accepts it ({})",
                                       curl_easy_strerror(rc)));
  }
  for (bool basic : {false, true}) {
    ClientConfig cfg = base;
    cfg.api_url = fmt::format("https://127.0.0.1:{}/ovirt-engine/api", port);
    cfg.basic_auth = basic;
    cfg.read_attempts = 1;
    EngineClient client(cfg);
    try {
      client.list_hosts({"tls-test", nullptr, nullptr});
      expect(false, fmt::format("the client ({}) was refused", basic ? "Basic" : "SSO"));
    } catch (const EngineError& e) {
      std::string what = e.what();
      expect(e.kind() == EngineError::Kind::Tls, fmt::format("the client ({}) was refused for TLS: {}", basic ? "Basic" : "SSO", what));
      expect(what.find(LabEngine::kPassword) == std::string::npos, "the message holds no password");
    }
  }
  return failed;
}

/// Requests that carried or would carry credentials: the SSO token request,
/// logout, any API request (Bearer or Basic).
int credential_requests(LabEngine& lab) {
  int n = 0;
  for (auto& r : lab.server->request_log().all())
    if (r.path.rfind("/ovirt-engine/sso", 0) == 0 || r.path.rfind("/ovirt-engine/services/sso-logout", 0) == 0 ||
        r.path.rfind("/ovirt-engine/api", 0) == 0)
      ++n;
  return n;
}

/// The genuine lab CA (pinned), and an impostor: a server certificate signed
/// by a rogue CA that the default CA path trusts, serving the genuine CA
/// (which is public) at pki-resource.
struct Impostor {
  test::TempDir dir;
  lab::LabPki genuine = lab::generate_lab_pki(dir.path() / "genuine", "engine.example.com");
  lab::LabPki rogue = lab::generate_lab_pki(dir.path() / "rogue", "engine.example.com");
  lab::LabPkiFiles serve{genuine.files.ca_file, rogue.files.cert_file, rogue.files.key_file};
  std::filesystem::path certs = dir.path() / "default-ca-path";
  std::unique_ptr<LabEngine> lab;
  Impostor() { make_default_ca_dir(certs, rogue.ca_pem); }
  int start() {
    lab = std::make_unique<LabEngine>("examples/lab/three-hosts.yaml", 0, &genuine, &serve);
    return lab->port;
  }
};

CallOptions call() { return {"tls-test", nullptr, nullptr}; }

}  // namespace

TEST_CASE("engine TLS: with ca_file pinned a server certificate from a CA in libcurl's default CA path is refused - no credential sent") {
  Impostor imp;
  ClientConfig cfg;
  cfg.password = LabEngine::kPassword;
  cfg.ca_file = imp.genuine.files.ca_file.string();
  ChildResult r = run_with_default_ca_dir(imp.certs, [&] { return imp.start(); },
                                          [&](int port, std::string* report) {
                                            return default_ca_path_is_not_trusted(port, report, cfg);
                                          });
  INFO(r.report);
  CHECK(r.status == 0);
  REQUIRE(imp.lab);
  CHECK(imp.lab->count("GET", "/ovirt-engine/services/health") == 3);  // the three controls reached it
  CHECK(credential_requests(*imp.lab) == 0);
  CHECK(r.report.find(LabEngine::kPassword) == std::string::npos);
}

TEST_CASE("engine TLS: with ca_fingerprint pinned a server certificate from a CA in libcurl's default CA path is refused - no credential sent") {
  Impostor imp;
  ClientConfig cfg;
  cfg.password = LabEngine::kPassword;
  cfg.ca_fingerprint = imp.genuine.ca_fingerprint;
  ChildResult r = run_with_default_ca_dir(imp.certs, [&] { return imp.start(); },
                                          [&](int port, std::string* report) {
                                            return default_ca_path_is_not_trusted(port, report, cfg);
                                          });
  INFO(r.report);
  CHECK(r.status == 0);
  REQUIRE(imp.lab);
  CHECK(imp.lab->count("GET", "/ovirt-engine/services/health") == 2);
  // The CA fetch (it matched the pin: the impostor serves the genuine CA) is
  // all that reached it; it carries no credentials.
  CHECK(imp.lab->count("GET", "/ovirt-engine/services/pki-resource") >= 1);
  CHECK(credential_requests(*imp.lab) == 0);
}

TEST_CASE("engine TLS: clients sharing a trust anchor fetch and trust the CA once - the ca_file anchor fetches nothing") {
  LabEngine lab;
  auto anchor = std::make_shared<TrustAnchor>();
  std::vector<std::string> first_uses;
  anchor->on_first_use([&](const std::string& fp) { first_uses.push_back(fp); });
  ClientConfig cfg = lab.config();
  cfg.ca_file.clear();
  cfg.trust_on_first_use = true;
  cfg.trust = anchor;
  {
    EngineClient a(cfg), b(cfg);
    CHECK(a.list_hosts(call()).size() == 4);
    CHECK(b.list_hosts(call()).size() == 4);
    CHECK(b.health(call()).find("DB Up!") != std::string::npos);
  }
  CHECK(lab.count("GET", "/ovirt-engine/services/pki-resource") == 1);
  REQUIRE(first_uses.size() == 1);
  CHECK(same_fingerprint(first_uses[0], lab.pki.ca_fingerprint));
  CHECK(anchor->source() == "first_use");

  ClientConfig file = lab.config();
  EngineClient f(file);
  CHECK(f.list_hosts(call()).size() == 4);
  CHECK(lab.count("GET", "/ovirt-engine/services/pki-resource") == 1);
  CHECK(f.fetched_ca_fingerprint().empty());
}

TEST_CASE("engine TLS: trust on first use once per run - journaled - a resume accepts the recorded CA and refuses a changed one naming both") {
  test::LabHosts lab;
  std::filesystem::path pw = lab.engine.dir.path() / "engine-password";
  test::write_file(pw, std::string(LabEngine::kPassword) + "\n");
  Environment env;
  env.file = (lab.engine.dir.path() / "environment.yaml").string();
  env.engine.fqdn = "engine.example.com";
  env.engine.api_url = lab.engine.api_url();
  env.engine.user = "admin@internal";
  env.engine.password = "file:" + pw.string();
  env.engine.trust_on_first_use = true;
  env.engine.poll_interval = std::chrono::milliseconds(10);
  const lab::FleetHost& h = lab.fleet.host("hosted_engine_1");
  SshEndpoint via;
  via.name = "hosted_engine_1";
  via.user = lab.fleet.user();
  via.address = h.address;
  via.port = h.port;
  via.key = lab.fleet.client_key().string();
  via.known_hosts = lab.fleet.known_hosts().string();

  test::TempDir run;
  const std::string journal_path = (run.path() / "journal").string();
  std::vector<std::string> said;
  {
    Journal journal;
    RunState opened;
    std::string warning, err;
    REQUIRE(journal.open(journal_path, &opened, &warning, &err));
    RunConnections conns(env, secrets(), [&](const std::string& line) { said.push_back(line); });
    int first_uses = 0;
    conns.on_ca_trusted_first_use([&](const std::string& fp) {
      ++first_uses;
      std::string e;
      REQUIRE(journal.append(Value{{"t", rec::kCaTrusted}, {"fingerprint", fp}}, &e));
    });
    CHECK(conns.engine(nullptr).list_hosts(call()).size() == 4);
    // A second client of the run, through a tunnel: the same anchor.
    EngineClient& tunneled = conns.engine(&via);
    CHECK(&tunneled != &conns.engine(nullptr));
    CHECK(tunneled.list_hosts(call()).size() == 4);
    CHECK(first_uses == 1);
    CHECK(lab.engine.count("GET", "/ovirt-engine/services/pki-resource") == 1);
    CHECK(same_fingerprint(conns.trust().fingerprint(), lab.engine.pki.ca_fingerprint));
  }
  bool printed = false;
  for (auto& line : said)
    printed |= line.find("trusting the engine CA on first use: " + lab.engine.pki.ca_fingerprint) != std::string::npos &&
               line.find("ca_fingerprint: " + lab.engine.pki.ca_fingerprint) != std::string::npos;
  CHECK(printed);
  for (auto& line : said) CHECK(line.find(LabEngine::kPassword) == std::string::npos);

  // The journal holds the record; replaying it gives the run's pin.
  std::vector<Value> records;
  std::string warning, err;
  REQUIRE(Journal::read(journal_path, &records, &warning, &err));
  RunState st = RunState::replay(records);
  CHECK(st.trusted_ca_fingerprint == lab.engine.pki.ca_fingerprint);

  SUBCASE("a resume accepts the same CA without trusting anew") {
    RunConnections resumed(env, secrets(), [](const std::string&) {});
    resumed.set_recorded_ca_fingerprint(st.trusted_ca_fingerprint);
    int first_uses = 0;
    resumed.on_ca_trusted_first_use([&](const std::string&) { ++first_uses; });
    CHECK(resumed.engine(nullptr).list_hosts(call()).size() == 4);
    CHECK(first_uses == 0);
    CHECK(resumed.trust().source() == "recorded");
  }
  SUBCASE("a resume against an engine with another CA is refused - both fingerprints shown - no credential sent") {
    LabEngine other;  // the lab started with a CA of its own
    REQUIRE(!same_fingerprint(other.pki.ca_fingerprint, st.trusted_ca_fingerprint));
    Environment moved = env;
    moved.engine.api_url = other.api_url();
    RunConnections resumed(moved, secrets(), [](const std::string&) {});
    resumed.set_recorded_ca_fingerprint(st.trusted_ca_fingerprint);
    int first_uses = 0;
    resumed.on_ca_trusted_first_use([&](const std::string&) { ++first_uses; });
    try {
      resumed.engine(nullptr).list_hosts(call());
      FAIL("a changed engine CA was accepted on resume");
    } catch (const EngineError& e) {
      std::string what = e.what();
      CHECK(e.kind() == EngineError::Kind::Tls);
      CHECK(what.find(other.pki.ca_fingerprint) != std::string::npos);
      CHECK(what.find(st.trusted_ca_fingerprint) != std::string::npos);
      CHECK(what.find(LabEngine::kPassword) == std::string::npos);
    }
    CHECK(first_uses == 0);
    CHECK(credential_requests(other) == 0);
  }
}
