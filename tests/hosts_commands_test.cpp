// Quoting of remote arguments (checked by a real shell) and the command
// builders of engine-backup and hosted-engine.
#include <doctest/doctest.h>

#include "hosts/engine_backup_command.h"
#include "hosts/hosted_engine_command.h"
#include "hosts/shell_quote.h"
#include "tests/test_support.h"

using namespace she;

TEST_CASE("shell_quote: hostile strings reach the shell as one inert argument") {
  const std::vector<std::string> hostile = {
      "a;rm -rf /", "it's", "\"double\"", "two words", "$(id)", "`id`", "a&&b", "x|y", "*", "~root",
      "back\\slash", "tab\there", "line\nbreak", "'", "''", "-n", "", "日本語", "a#b", "$HOME"};
  for (auto& s : hostile) {
    CAPTURE(s);
    CHECK(test::shell_split(shell_quote(s)) == "[" + s + "]\n");
  }
  CHECK(test::shell_split(shell_join({"ping", "-c", "1", "a;rm -rf /"})) == "[ping]\n[-c]\n[1]\n[a;rm -rf /]\n");
}

TEST_CASE("shell_quote: commands joined with && stay one script whose hostile words stay inert") {
  const std::vector<std::string> joined = shell_and({{"mkdir", "-p", "--", "/srv/a;b"}, {"touch", "/srv/a;b/$(id)"}});
  REQUIRE(joined.size() == 3);
  CHECK(joined[0] == "sh");
  CHECK(joined[1] == "-c");
  CHECK(joined[2] == "mkdir -p -- '/srv/a;b' && touch '/srv/a;b/$(id)'");
  // The outer shell sees three words; the script, run by sh, its own.
  CHECK(test::shell_split(shell_join(joined)) == "[sh]\n[-c]\n[mkdir -p -- '/srv/a;b' && touch '/srv/a;b/$(id)']\n");
}

TEST_CASE("shell_quote: plain words stay readable") {
  CHECK(shell_quote("/etc/ovirt-hosted-engine/hosted-engine.conf") == "/etc/ovirt-hosted-engine/hosted-engine.conf");
  CHECK(shell_quote("--mode=restore") == "--mode=restore");
  CHECK(shell_quote("a b") == "'a b'");
  CHECK(shell_quote("it's") == "'it'\\''s'");
  CHECK(shell_quote("") == "''");
}

namespace {
EngineBackupOptions restore(const std::string& file) {
  EngineBackupOptions o;
  o.mode = EngineBackupOptions::Mode::Restore;
  o.file = file;
  return o;
}
std::string error_of(const EngineBackupOptions& o) {
  std::string err;
  auto argv = engine_backup_argv(o, &err);
  return argv.empty() ? err : "";
}
}  // namespace

// Rules from ovirt-he-automation.md section 3 (engine-backup.sh.in).
TEST_CASE("engine-backup: a custom dump needs an explicit permissions choice unless provisioning") {
  auto o = restore("/root/b.tar");
  CHECK(error_of(o) ==
        "Please pass one of --restore-permissions or --no-restore-permissions when restoring a backup with a custom dump format");
  o.permissions = EngineBackupOptions::Permissions::Restore;
  CHECK(error_of(o).empty());
  o = restore("/root/b.tar");
  o.provision_db = true;
  CHECK(error_of(o).empty());  // provisioning turns --restore-permissions on
  o = restore("/root/b.tar");
  o.db_dump_format = "plain";
  CHECK(error_of(o).empty());
}

TEST_CASE("engine-backup: credentials / provisioning and HE options follow the tool's rules") {
  auto o = restore("/root/b.tar");
  o.provision_db = true;
  o.engine_db.change = true;
  o.engine_db.passfile = "/root/p";
  CHECK(error_of(o) == "Cannot change credentials if provisioning a database");
  // The rule is the engine database's: a provisioned DWH database goes with
  // the engine's changed credentials.
  o.provision_db = false;
  o.provision_dwh_db = true;
  o.engine_db.host = "localhost";
  o.engine_db.user = o.engine_db.name = "engine";
  o.permissions = EngineBackupOptions::Permissions::Restore;
  CHECK(error_of(o) == "");

  o = restore("/root/b.tar");
  o.permissions = EngineBackupOptions::Permissions::NoRestore;
  o.engine_db.host = "db.example.com";
  CHECK(error_of(o) == "Please use --change-db-credentials to change engine db credentials");

  o.engine_db.change = true;
  CHECK(error_of(o) == "--db-user is missing");
  o.engine_db.user = "engine";
  CHECK(error_of(o).find("--db-passfile or --db-password is missing") == 0);  // never a password on the command line
  o.engine_db.passfile = "/root/p";
  CHECK(error_of(o) == "--db-name is missing");
  o.engine_db.name = "engine";
  CHECK(error_of(o).empty());

  EngineBackupOptions b;
  b.file = "/b.tar";
  b.he_remove_hosts = true;
  CHECK(error_of(b) == "hosted-engine cleaning options work only in restore mode");

  b = EngineBackupOptions{};
  b.file = "/x";
  b.log = "/x";
  CHECK(error_of(b) == "--file and --log can not be the same");

  b = EngineBackupOptions{};
  b.file = "/x";
  b.scopes = {"cinderlibdb"};
  CHECK(error_of(b) == "scope cinderlibdb is for restore only");
  b.scopes = {"everything"};
  CHECK(error_of(b) == "unknown scope 'everything'");
}

TEST_CASE("engine-backup: DWH's changed credentials - the seed's manual restore of Data Warehouse") {
  // seed 000, "Restoring the Database": --change-dwh-db-credentials
  // --dwh-db-host --dwh-db-name --dwh-db-user ovirt_engine_history, the
  // password through a passfile (engine-backup's verifyArgs order).
  auto o = restore("/root/engine.backup");
  o.permissions = EngineBackupOptions::Permissions::Restore;
  o.dwh_db.user = "ovirt_engine_history";
  CHECK(error_of(o) == "Please use --change-dwh-db-credentials to change dwh db credentials");
  o.dwh_db.change = true;
  CHECK(error_of(o) == "--dwh-db-host is missing");
  o.dwh_db.host = "localhost";
  CHECK(error_of(o).find("--dwh-db-passfile or --dwh-db-password is missing") == 0);
  o.dwh_db.passfile = "/root/.dwhpass";
  CHECK(error_of(o) == "--dwh-db-name is missing");
  o.dwh_db.name = "ovirt_engine_history";
  CHECK(error_of(o).empty());
  std::string err;
  CHECK(shell_join(engine_backup_argv(o, &err)) ==
        "engine-backup --mode=restore --file=/root/engine.backup --change-dwh-db-credentials --dwh-db-host=localhost "
        "--dwh-db-user=ovirt_engine_history --dwh-db-name=ovirt_engine_history --dwh-db-passfile=/root/.dwhpass "
        "--restore-permissions");
  // Provisioning that same database instead is a contradiction.
  o.provision_dwh_db = true;
  CHECK(error_of(o) == "Cannot change credentials if provisioning a database");
}

TEST_CASE("engine-backup: command lines as the seed procedure writes them") {
  auto o = restore("/root/engine.backup");
  o.log = "/root/restore.log";
  o.provision_db = true;
  o.permissions = EngineBackupOptions::Permissions::Restore;
  std::string err;
  CHECK(shell_join(engine_backup_argv(o, &err)) ==
        "engine-backup --mode=restore --file=/root/engine.backup --log=/root/restore.log --provision-db --restore-permissions");

  o = restore("/root/engine.backup");
  o.permissions = EngineBackupOptions::Permissions::NoRestore;
  o.engine_db.change = true;
  o.engine_db.host = "db.example.com";
  o.engine_db.user = "engine";
  o.engine_db.name = "engine";
  o.engine_db.passfile = "/root/.pass";
  o.he_remove_hosts = true;
  CHECK(shell_join(engine_backup_argv(o, &err)) ==
        "engine-backup --mode=restore --file=/root/engine.backup --change-db-credentials --db-host=db.example.com "
        "--db-user=engine --db-name=engine --db-passfile=/root/.pass --no-restore-permissions --he-remove-hosts");

  EngineBackupOptions b;
  b.file = "/var/lib/ovirt-engine-backup/e.backup";
  b.scopes = {"files", "db"};
  CHECK(shell_join(engine_backup_argv(b, &err)) ==
        "engine-backup --mode=backup --scope=files --scope=db --file=/var/lib/ovirt-engine-backup/e.backup");
}

TEST_CASE("hosted-engine: command lines and the generated answer file") {
  CHECK(shell_join(hosted_engine_vm_status_argv()) == "hosted-engine --vm-status --json");
  CHECK(shell_join(hosted_engine_set_maintenance_argv("global")) == "hosted-engine --set-maintenance --mode=global");
  CHECK(shell_join(hosted_engine_deploy_restore_argv("/root/b.backup", "/root/a.conf")) ==
        "hosted-engine --deploy --restore-from-file=/root/b.backup --config-append=/root/a.conf");
  CHECK(shell_join(hosted_engine_clean_metadata_argv("2", true)) ==
        "hosted-engine --clean-metadata --host-id=2 --force-cleanup");
  DeployAnswers a;
  a.engine_fqdn = "engine.example.com";
  a.storage_type = "nfs";
  a.storage_connection = "nfs:/he";
  a.admin_password = "[secret env:P]";
  std::string text = deploy_answer_file(a);
  CHECK(text.rfind("[environment:default]\n", 0) == 0);
  CHECK(text.find("OVEHOSTED_NETWORK/fqdn=str:engine.example.com\n") != std::string::npos);
  CHECK(text.find("OVEHOSTED_CORE/pauseonRestore=bool:False\n") != std::string::npos);
  CHECK(text.find("OVEHOSTED_ENGINE/adminPassword=str:[secret env:P]\n") != std::string::npos);
}
