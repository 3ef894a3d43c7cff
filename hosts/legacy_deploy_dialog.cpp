#include "hosts/legacy_deploy_dialog.h"

#include <fmt/format.h>
#include <cstdint>
#include <sstream>

#include "hosts/shell_quote.h"

namespace she {

namespace {

/// A MAC in the 00:16:3e range the tool draws its own from, derived from
/// the engine's FQDN (FNV-1a): the same on every run, so a repeated
/// deploy's VM keeps the address a DHCP server may already know.
std::string derived_mac(const std::string& fqdn) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : fqdn) h = (h ^ c) * 16777619u;
  return fmt::format("00:16:3e:{:02x}:{:02x}:{:02x}", (h >> 16) & 0x7f, (h >> 8) & 0xff, h & 0xff);
}

}  // namespace

std::string legacy_answer_file(const LegacyDeployAnswers& a) {
  std::string out = "[environment:default]\n";
  auto str = [&](const char* key, const std::string& v) {
    if (!v.empty()) out += fmt::format("{}=str:{}\n", key, v);
  };
  out += "OVEHOSTED_CORE/deployProceed=bool:True\n";
  str("OVEHOSTED_STORAGE/domainType", a.storage_type);
  str("OVEHOSTED_STORAGE/storageDomainConnection", a.storage_connection);
  str("OVEHOSTED_NETWORK/bridgeIf", a.bridge_nic);
  out += "OVEHOSTED_NETWORK/firewallManager=str:iptables\n";
  str("OVEHOSTED_NETWORK/gateway", a.gateway);
  str("OVEHOSTED_VM/vmBoot", a.vm_boot);
  if (a.vm_boot == "disk") {
    str("OVEHOSTED_VM/ovfArchive", a.appliance);
    out += "OVEHOSTED_VM/cloudInitISO=str:generate\n";
    str("OVEHOSTED_VM/cloudinitInstanceHostName", a.engine_fqdn);
    out += "OVEHOSTED_VM/cloudinitExecuteEngineSetup=bool:False\n";
    str("OVEHOSTED_VM/cloudinitRootPwd", a.appliance_root_password);
  }
  str("OVEHOSTED_STORAGE/imgAlias", std::string("hosted_engine"));
  out += fmt::format("OVEHOSTED_STORAGE/imgSizeGB=int:{}\n", a.disk_size_gb);
  str("OVEHOSTED_VDSM/cpu", a.cpu_type);
  out += fmt::format("OVEHOSTED_VM/vmVCpus=str:{}\n", a.vcpus);
  out += fmt::format("OVEHOSTED_VM/vmMemSizeMB=int:{}\n", a.memory_mb);
  str("OVEHOSTED_VM/vmMACAddr", a.mac.empty() ? derived_mac(a.engine_fqdn) : a.mac);
  str("OVEHOSTED_VDSM/consoleType", a.console_type);
  str("OVEHOSTED_ENGINE/adminPassword", a.admin_password);
  str("OVEHOSTED_ENGINE/appHostName", a.host_name);
  str("OVEHOSTED_NETWORK/fqdn", a.engine_fqdn);
  // Notifications as the tool's defaults; the restored engine keeps its own.
  out += "OVEHOSTED_NOTIF/smtpServer=str:localhost\nOVEHOSTED_NOTIF/smtpPort=str:25\n"
         "OVEHOSTED_NOTIF/sourceEmail=str:root@localhost\nOVEHOSTED_NOTIF/destEmail=str:root@localhost\n";
  out += "OVEHOSTED_CORE/confirmSettings=bool:True\n";
  return out;
}

std::vector<std::string> legacy_deploy_start_argv(const std::string& answer_file) {
  // One word for script's -c: the shell inside script reads it, so each
  // part is quoted on its own.
  const std::string command =
      shell_join({"hosted-engine", "--deploy", "--noansible", "--config-append=" + answer_file});
  return {"screen", "-h", "10000", "-dmS", kLegacySession, "script", "-q", "-f", "-c", command, kLegacyTranscript};
}

std::vector<std::string> legacy_deploy_answer_argv(const std::string& text) {
  // ^M is Enter to screen's parser of `stuff`.
  return {"screen", "-S", kLegacySession, "-X", "stuff", text + "^M"};
}

std::vector<std::string> legacy_deploy_list_argv() { return {"screen", "-ls", kLegacySession}; }

bool legacy_session_listed(const std::string& out) {
  std::istringstream in(out);
  const std::string suffix = std::string(".") + kLegacySession;
  for (std::string line; std::getline(in, line);) {
    // "\t12345.she-restore-legacy-deploy\t(Detached)"
    const auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    const auto end = line.find_first_of(" \t", start);
    const std::string word = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const auto dot = word.find('.');
    if (dot != std::string::npos && dot > 0 && word.substr(dot) == suffix &&
        word.find_first_not_of("0123456789") == dot)
      return true;
  }
  return false;
}

const char* legacy_menu_name(LegacyMenu m) {
  switch (m) {
    case LegacyMenu::VmInstallation: return "vm_installation";
    case LegacyMenu::EngineInstallation: return "engine_installation";
    case LegacyMenu::Other: return "other";
    case LegacyMenu::None: break;
  }
  return "none";
}

namespace {

/// Terminal output as lines: carriage returns and ANSI escape sequences
/// (colours, cursor moves) dropped.
std::string plain_text(const std::string& raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\r') continue;
    if (c == '\x1b') {
      // CSI: ESC [ params final (0x40-0x7e); other escapes: ESC and one char.
      if (i + 1 < raw.size() && raw[i + 1] == '[') {
        i += 2;
        while (i < raw.size() && !(raw[i] >= 0x40 && raw[i] <= 0x7e)) ++i;
      } else {
        ++i;
      }
      continue;
    }
    out += c;
  }
  return out;
}

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

bool contains(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }

}  // namespace

LegacyDialogView read_legacy_dialog(const std::string& transcript) {
  LegacyDialogView v;
  v.size = transcript.size();
  const std::string text = plain_text(transcript);
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(rtrim(line));
  }
  // A question is printed without a line break: a last line that is not
  // ended yet and ends like one (otopi's prompts end in ':' or '?').
  const bool open_line = !text.empty() && text.back() != '\n' && !lines.empty();
  if (open_line && !lines.back().empty() && (lines.back().back() == ':' || lines.back().back() == '?')) {
    v.asks = true;
    v.question = lines.back();
  }
  // The menu a question ends: its options are the lines "(N) ..." just
  // before it (seed 000 steps 10 and 12).
  if (v.asks && v.question.find("(1, 2") != std::string::npos) {
    v.menu = LegacyMenu::Other;
    for (size_t i = lines.size() - 1; i-- > 0 && lines.size() - i < 12;) {
      const std::string& l = lines[i];
      const auto start = l.find_first_not_of(' ');
      if (start == std::string::npos) continue;
      if (l[start] != '(') break;
      v.menu_lines.insert(v.menu_lines.begin(), l.substr(start));
    }
    for (const auto& l : v.menu_lines) {
      if (l == "(1) Continue setup - VM installation is complete") v.menu = LegacyMenu::VmInstallation;
      if (l == "(1) Continue setup - engine installation is complete") v.menu = LegacyMenu::EngineInstallation;
    }
  }
  for (const auto& l : lines) {
    if (contains(l, "[ ERROR ]")) v.errors.push_back(l);
    if (contains(l, "The system will wait until the VM is down.")) v.waits_for_vm_down = true;
    if (contains(l, "Hosted Engine successfully set up")) v.succeeded = true;
  }
  // otopi's last stage: the tool has ended, set up or not.
  const bool ended = !lines.empty() && contains(text, "[ INFO  ] Stage: Termination");
  v.aborted = ended && !v.succeeded;
  if (v.errors.size() > 3) v.errors.erase(v.errors.begin(), v.errors.end() - 3);
  return v;
}

}  // namespace she
