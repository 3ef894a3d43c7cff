// Transfers as byte ranges at once (TransferOptions::streams) against lab
// hosts behind real sshd: what arrives is the file, byte for byte, in all
// three directions; a range the far side's disk corrupts, a range whose
// writer fails and an interrupted copy leave nothing under the final name.
// The threshold is lowered so that files of a few MiB go as ranges.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>

#include "base/interrupted.h"
#include "hosts/file_transfer.h"
#include "tests/lab_hosts_fixture.h"
#include "tests/test_support.h"

using namespace she;
using she::test::LabHosts;
namespace fs = std::filesystem;

namespace {

/// 24 MiB and a bit, not a whole number of blocks: the last range is short.
constexpr long long kSize = (24LL << 20) + 12345;


std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string local_sha256(const fs::path& p) {
  return test::run("sha256sum '" + p.string() + "'").output.substr(0, 64);
}

/// What a failing disk does: one byte of the file changed in place.
void flip_byte(const fs::path& p, long long at) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(at);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(at);
  f.write(&c, 1);
}

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TransferOptions ranged(int streams) {
  TransferOptions o;
  o.streams = streams;
  o.parallel_from = 4 << 20;
  return o;
}

}  // namespace

TEST_CASE("transfer: ranges over 2 and 3 streams arrive byte-identical in all three directions") {
  LabHosts lab;
  SshSession engine(lab.target("engine")), backup(lab.target("backup_storage")), reader(lab.target("engine"));
  const lab::FleetHost& engine_host = lab.fleet.host("engine");
  const lab::FleetHost& backup_host = lab.fleet.host("backup_storage");
  fs::path dir = lab.engine.dir.path();
  fs::path src = dir / "src.bin";
  test::random_file(src, kSize);
  const std::string want = local_sha256(src), bytes = file_bytes(src);
  for (int streams : {2, 3}) {
    CAPTURE(streams);
    TransferOptions o = ranged(streams);
    const std::string up_path = "/var/lib/ovirt-engine-backup/r.bin", across_path = "/srv/backups/r.bin";
    TransferResult up = copy_file({nullptr, src.string()}, {&engine, up_path}, o);
    CHECK(up.sha256 == want);
    CHECK(up.bytes == kSize);
    CHECK(file_bytes(engine_host.in_sandbox(up_path)) == bytes);

    const std::string before = lab.agent_log("backup_storage");
    TransferResult across = copy_file({&reader, up_path}, {&backup, across_path}, o);
    CHECK(across.sha256 == want);
    CHECK(file_bytes(backup_host.in_sandbox(across_path)) == bytes);
    CHECK(!fs::exists(backup_host.in_sandbox(across_path + ".part")));
    // Each range was written by a dd of its own, exactly as the operation
    // (which the dry run shows) says: the parts are the commands run.
    const std::string log = lab.agent_log("backup_storage").substr(before.size());
    Operation op = transfer_operation({&reader, up_path}, {&backup, across_path}, o, kSize);
    size_t range_writes = 0;
    for (const Operation& part : op.parts) {
      CAPTURE(part.line);
      CHECK(log.find(part.line) != std::string::npos);
      if (part.line.rfind("dd of=", 0) == 0) ++range_writes;
    }
    CHECK(range_writes == static_cast<size_t>(streams));
    CHECK(count_of(log, "conv=notrunc oflag=seek_bytes") == static_cast<size_t>(streams));
    // And each was read from the source by a dd of its own.
    CHECK(count_of(lab.agent_log("engine"), "iflag=skip_bytes,count_bytes") >= static_cast<size_t>(streams));

    fs::path back = dir / "back.bin";
    TransferResult down = copy_file({&backup, across_path}, {nullptr, back.string()}, o);
    CHECK(down.sha256 == want);
    CHECK(local_sha256(back) == want);
    CHECK(file_bytes(back) == bytes);
    CHECK(!fs::exists(back.string() + ".part"));
    CHECK((fs::status(back).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    fs::remove(back);
  }
  // Below the threshold the same options take one stream.
  Operation small = transfer_operation({nullptr, src.string()}, {&backup, "/srv/backups/s.bin"}, ranged(3), 1 << 20);
  for (const Operation& part : small.parts) CHECK(part.line.rfind("dd ", 0) != 0);
}

TEST_CASE("transfer: a range corrupted at the far side is refused in every direction - nothing under the final name") {
  LabHosts lab;
  SshSession engine(lab.target("engine")), backup(lab.target("backup_storage"));
  const lab::FleetHost& engine_host = lab.fleet.host("engine");
  const lab::FleetHost& backup_host = lab.fleet.host("backup_storage");
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, kSize);
  // A byte in the second of three ranges changes on the destination's disk
  // after every range is written, before the check.
  const long long in_second_range = (9LL << 20) + 777;

  TransferOptions o = ranged(3);
  const fs::path up_part = backup_host.in_sandbox("/srv/backups/c.bin.part");
  int corrupted = 0;
  o.on_written = [&] {
    flip_byte(up_part, in_second_range);
    ++corrupted;
  };
  CHECK_THROWS_WITH_AS(copy_file({nullptr, src.string()}, {&backup, "/srv/backups/c.bin"}, o),
                       doctest::Contains("checksum mismatch copying local:"), std::runtime_error);
  CHECK(corrupted == 1);
  CHECK(!fs::exists(backup_host.in_sandbox("/srv/backups/c.bin")));
  CHECK(!fs::exists(up_part));

  // Host to host: the engine's file into the backup host, corrupted there.
  fs::create_directories(engine_host.in_sandbox("/var/lib/ovirt-engine-backup"));
  fs::copy_file(src, engine_host.in_sandbox("/var/lib/ovirt-engine-backup/h.bin"));
  const fs::path across_part = backup_host.in_sandbox("/srv/backups/h.bin.part");
  o.on_written = [&] { flip_byte(across_part, in_second_range); };
  CHECK_THROWS_WITH_AS(copy_file({&engine, "/var/lib/ovirt-engine-backup/h.bin"}, {&backup, "/srv/backups/h.bin"}, o),
                       doctest::Contains("checksum mismatch copying engine:"), std::runtime_error);
  CHECK(!fs::exists(backup_host.in_sandbox("/srv/backups/h.bin")));
  CHECK(!fs::exists(across_part));

  // Down: our own disk corrupts it.
  fs::path local = lab.engine.dir.path() / "d.bin";
  o.on_written = [&] { flip_byte(local.string() + ".part", in_second_range); };
  CHECK_THROWS_WITH_AS(copy_file({&engine, "/var/lib/ovirt-engine-backup/h.bin"}, {nullptr, local.string()}, o),
                       doctest::Contains(("nothing was put under " + local.string()).c_str()), std::runtime_error);
  CHECK(!fs::exists(local));
  CHECK(!fs::exists(local.string() + ".part"));

  // Without the corruption the same copy goes through.
  o.on_written = {};
  CHECK(copy_file({&engine, "/var/lib/ovirt-engine-backup/h.bin"}, {nullptr, local.string()}, o).sha256 ==
        local_sha256(src));
}

TEST_CASE("transfer: a range whose writer fails fails the ranged copy - nothing under the final name") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, kSize);
  // The second of two ranges starts at 13 MiB (25 blocks, 13 and 12).
  lab.fleet.set_faults("backup_storage",
                       R"({"fail": [{"match": "seek=13631488", "exit": 1, "message": "dd: error writing: No space left on device\n", "times": 1}]})");
  CHECK_THROWS_WITH_AS(copy_file({nullptr, src.string()}, {&backup, "/srv/backups/f.bin"}, ranged(2)),
                       doctest::Contains("f.bin.part failed"), std::runtime_error);
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/f.bin")));
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/f.bin.part")));
}

TEST_CASE("transfer: an interrupted ranged copy stops and leaves no half file under the final name") {
  LabHosts lab;
  SshSession backup(lab.target("backup_storage"));
  const lab::FleetHost& host = lab.fleet.host("backup_storage");
  fs::path src = lab.engine.dir.path() / "src.bin";
  test::random_file(src, kSize);
  TransferOptions o = ranged(3);
  std::atomic<int> asked{0};
  o.should_stop = [&] { return ++asked > 6; };
  CHECK_THROWS_AS(copy_file({nullptr, src.string()}, {&backup, "/srv/backups/i.bin"}, o), Interrupted);
  CHECK(asked > 6);
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/i.bin")));
  CHECK(!fs::exists(host.in_sandbox("/srv/backups/i.bin.part")));

  fs::create_directories(host.in_sandbox("/srv/backups"));
  fs::copy_file(src, host.in_sandbox("/srv/backups/d.bin"));
  fs::path local = lab.engine.dir.path() / "d.bin";
  asked = 0;
  o.should_stop = [&] { return ++asked > 6; };
  CHECK_THROWS_AS(copy_file({&backup, "/srv/backups/d.bin"}, {nullptr, local.string()}, o), Interrupted);
  CHECK(!fs::exists(local));
  CHECK(!fs::exists(local.string() + ".part"));
}

TEST_CASE("transfer: without streams a copy to a host goes as ranges and a download as one stream") {
  LabHosts lab;
  SshSession engine(lab.target("engine")), backup(lab.target("backup_storage"));
  TransferOptions o;  // streams as a plan leaves it: by direction
  o.parallel_from = 4 << 20;
  auto range_writes = [](const Operation& op) {
    size_t n = 0;
    for (const Operation& part : op.parts) n += part.line.find("conv=notrunc oflag=seek_bytes") != std::string::npos;
    return n;
  };
  const std::string path = "/srv/backups/d.bin";
  CHECK(range_writes(transfer_operation({nullptr, "/tmp/d.bin"}, {&backup, path}, o, kSize)) ==
        static_cast<size_t>(kToHostStreams));
  CHECK(range_writes(transfer_operation({&engine, path}, {&backup, path}, o, kSize)) ==
        static_cast<size_t>(kToHostStreams));
  CHECK(transfer_operation({&backup, path}, {nullptr, "/tmp/d.bin"}, o, kSize).parts.size() ==
        transfer_operation({&backup, path}, {nullptr, "/tmp/d.bin"}, ranged(1), kSize).parts.size());
  // A file below the threshold goes as one stream whichever way.
  CHECK(range_writes(transfer_operation({nullptr, "/tmp/d.bin"}, {&backup, path}, o, 1 << 20)) == 0);
  // And the upload so planned arrives byte for byte.
  fs::path src = lab.engine.dir.path() / "d.bin";
  test::random_file(src, kSize);
  const std::string before = lab.agent_log("backup_storage");
  TransferResult up = copy_file({nullptr, src.string()}, {&backup, path}, o);
  CHECK(up.sha256 == local_sha256(src));
  CHECK(file_bytes(lab.fleet.host("backup_storage").in_sandbox(path)) == file_bytes(src));
  CHECK(count_of(lab.agent_log("backup_storage").substr(before.size()), "conv=notrunc oflag=seek_bytes") ==
        static_cast<size_t>(kToHostStreams));
}
