#include "lab/staged_disaster.h"

#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "base/digest.h"
#include "base/durable_file.h"
#include "hosts/backup_archive.h"
#include "lab/postgres_server.h"

namespace she::lab {

namespace {

/// Lets the world's transitions due within `seconds` (lab time) complete:
/// the clock moves past them, and the world is read as often as it wants
/// before it lets a transition end (a poller sees the intermediate status).
void let_time_pass(World& world, double seconds) {
  world.advance_clock(std::chrono::milliseconds(static_cast<long long>(seconds * 1000 + 1000)));
  for (int i = 0; i < 3; ++i) world.tick();
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

constexpr const char* kDbConf = "etc/ovirt-engine/engine.conf.d/10-setup-database.conf";

std::string sql_literal(const std::string& v) {
  std::string o = "'";
  for (char c : v) o += c == '\'' ? std::string("''") : std::string(1, c);
  return o + "'";
}

/// The legacy backup's database: a real pg_dump (custom format, as
/// engine-backup takes it) of the engine's real database, in which the world
/// as the engine knew it is one more table (she_lab_world), so that the
/// engine-setup that follows a real restore serves what was restored.
void real_engine_dump(const HostFleet& fleet, const nlohmann::json& db, BackupContent* content) {
  const FleetHost& engine = fleet.host("engine");
  const PostgresInstance pg = PostgresInstance::of_sandbox(engine.sandbox);
  if (pg.port == 0 || !pg_running(pg))
    throw std::runtime_error("after_disaster: a legacy restore needs the engine's real database (engine_machine: "
                             "{setup: done, database: local})");
  std::string out;
  if (pg_superuser_sql(pg,
                       "set role engine;\ndrop table if exists she_lab_world;\ncreate table she_lab_world (doc text "
                       "not null);\ninsert into she_lab_world values (" + sql_literal(db.dump()) + ");\n",
                       &out, "engine") != 0)
    throw std::runtime_error("after_disaster: cannot store the world in the engine database: " + out);
  const std::filesystem::path dump = pg.socket_dir / "she-lab-staged.dump";
  if (run_postgres_tool({"pg_dump", "-Fc", "-E", "UTF8", "-h", pg.socket_dir.string(), "-p", std::to_string(pg.port),
                         "-U", "postgres", "-f", dump.string(), "engine"},
                        "", &out) != 0)
    throw std::runtime_error("after_disaster: pg_dump of the engine database failed: " + out);
  content->dumps["db"] = read_all(dump);
  std::filesystem::remove(dump);
  content->files[kDbConf] = read_all(engine.in_sandbox(std::string("/") + kDbConf));
}

/// The legacy disaster's engine VM: gone, its machine what the deploy will
/// create (the engine's packages and PostgreSQL's installed, nothing set up),
/// powered off until then.
void fresh_engine_vm(const HostFleet& fleet) {
  const FleetHost& engine = fleet.host("engine");
  const PostgresInstance pg = PostgresInstance::of_sandbox(engine.sandbox);
  std::string out;
  if (pg.port != 0 && pg_running(pg) && pg_stop(pg, &out) != 0)
    throw std::runtime_error("after_disaster: cannot stop the engine's database: " + out);
  std::filesystem::remove_all(pg.data_dir);
  std::filesystem::remove(engine.in_sandbox("/var/lib/ovirt-engine/engine.up"));
  std::filesystem::remove(engine.in_sandbox(std::string("/") + kDbConf));
  fleet.power_engine_vm(false);
}

}  // namespace

void apply_disaster(World& world, const HostFleet& fleet, const std::string& failover) {
  for (const auto& vm : world.vms())
    if (vm.is_hosted_engine() && !vm.host_id.empty()) world.set_host_status(vm.host_id, HostStatus::NonResponsive);
  world.set_engine_running(false);
  std::filesystem::remove(fleet.host(failover).in_sandbox("/etc/ovirt-hosted-engine/hosted-engine.conf"));
}

std::string stage_disaster(World& world, const HostFleet& fleet, const AfterDisaster& spec,
                           const std::string& storage_path) {
  auto failover = world.host_by_name(spec.failover);
  if (!failover) throw std::runtime_error("after_disaster: no host named " + spec.failover);
  OpContext ctx;
  ctx.correlation_id = "she-lab-staging";

  // The backup, as she-backup takes it: the failover host in maintenance.
  OpResult r = world.deactivate_host(failover->id, "she-lab: staging a backup", ctx);
  if (!r.ok()) throw std::runtime_error("after_disaster: cannot put " + spec.failover + " in maintenance: " + r.message);
  let_time_pass(world, world.durations().maintenance);
  failover = world.host_by_name(spec.failover);
  if (failover->status != HostStatus::Maintenance)
    throw std::runtime_error("after_disaster: " + spec.failover + " did not reach maintenance");
  const nlohmann::json db = world.to_json();
  BackupContent content;
  content.version = world.engine().version;
  content.engine_fqdn = world.engine().fqdn;
  const bool legacy = spec.deploy == "legacy";
  if (legacy) real_engine_dump(fleet, db, &content);
  else content.dumps["db"] = db.dump();
  const std::filesystem::path dir = fleet.host("backup_storage").in_sandbox(storage_path);
  std::filesystem::create_directories(dir);
  const std::filesystem::path archive = dir / spec.backup;
  std::string err;
  if (!write_backup_archive(archive.string(), content, &err)) throw std::runtime_error("after_disaster: " + err);
  nlohmann::json hosts = nlohmann::json::array();
  std::string spm;
  for (const auto& h : world.hosts()) {
    hosts.push_back({{"id", h.id}, {"name", h.name}, {"address", h.address}, {"status", to_string(h.status)},
                     {"hosted_engine", h.hosted_engine.has_value()}, {"hardware_id", h.hardware_id}});
    if (h.spm == SpmStatus::Spm) spm = h.name;
  }
  nlohmann::json vms = nlohmann::json::array();
  for (const auto& v : world.vms())
    vms.push_back({{"id", v.id}, {"name", v.name}, {"status", to_string(v.status)}, {"host_id", v.host_id},
                   {"origin", v.origin}});
  // The keys of the manifest plans/she-backup.yaml writes.
  nlohmann::json manifest = {{"archive", spec.backup},
                             {"sha256", sha256_hex(read_all(archive))},
                             {"engine_fqdn", content.engine_fqdn},
                             {"engine_version", content.version},
                             {"os_version", content.os_version},
                             {"failover_host", failover->name},
                             {"failover_address", failover->address},
                             {"failover_status", to_string(failover->status)},
                             {"hosts", hosts},
                             {"vms", vms},
                             {"spm_host", spm}};
  if (!write_file_durably((dir / (spec.backup + ".manifest.json")).string(), manifest.dump(2) + "\n", &err))
    throw std::runtime_error("after_disaster: " + err);
  r = world.activate_host(failover->id, ctx);
  if (!r.ok()) throw std::runtime_error("after_disaster: cannot activate " + spec.failover + ": " + r.message);
  let_time_pass(world, world.durations().activate);

  apply_disaster(world, fleet, spec.failover);
  if (legacy) fresh_engine_vm(fleet);
  return (std::filesystem::path(storage_path) / spec.backup).string();
}

}  // namespace she::lab
