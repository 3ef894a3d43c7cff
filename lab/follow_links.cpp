#include "lab/follow_links.h"

#include <pugixml.hpp>
#include <vector>

#include "lab/api_xml.h"

namespace she::lab {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= s.size()) {
    std::size_t j = s.find(sep, i);
    if (j == std::string::npos) j = s.size();
    std::string part = s.substr(i, j - i);
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    if (!part.empty()) out.push_back(part);
    i = j + 1;
  }
  return out;
}

void follow(pugi::xml_node object, const std::vector<std::string>& path, std::size_t at, const ResolveLink& resolve) {
  if (at >= path.size()) return;
  pugi::xml_node link = object.child(path[at].c_str());
  if (!link) return;
  if (!link.first_child()) {  // a bare reference: <cluster href id/>
    const std::string href = link.attribute("href").as_string();
    const std::string prefix = std::string(kApiPrefix) + "/";
    if (href.rfind(prefix, 0) != 0) return;
    const auto parts = split(href.substr(prefix.size()), '/');
    if (parts.size() != 2) return;
    const std::string xml = resolve(parts[0], parts[1]);
    pugi::xml_document doc;
    if (xml.empty() || !doc.load_string(xml.c_str())) return;
    pugi::xml_node full = object.insert_copy_after(doc.document_element(), link);
    full.set_name(path[at].c_str());
    object.remove_child(link);
    link = full;
  }
  follow(link, path, at + 1, resolve);
}

}  // namespace

std::string follow_links(const std::string& xml, const std::string& follow_spec, const ResolveLink& resolve) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str())) return xml;
  pugi::xml_node root = doc.document_element();
  std::vector<pugi::xml_node> objects;
  if (root.attribute("id")) {
    objects.push_back(root);
  } else {
    for (pugi::xml_node c : root.children()) objects.push_back(c);
  }
  for (const auto& spec : split(follow_spec, ','))
    for (pugi::xml_node o : objects) follow(o, split(spec, '.'), 0, resolve);
  return xml_text(doc);
}

}  // namespace she::lab
