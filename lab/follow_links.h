// `follow=` (the engine's FollowService): the named links of each object in
// an answer inlined as the objects they point to, comma-separated, nested
// with '.' (follow=cluster.data_center inlines the host's cluster and that
// cluster's data center).
#pragma once

#include <functional>
#include <string>

namespace she::lab {

/// The XML of one object, given the collection and id of its href ("" when
/// the lab has no such object).
using ResolveLink = std::function<std::string(const std::string& collection, const std::string& id)>;

/// `xml` (a collection or a single object) with the links `follow` names
/// inlined; links that name no object the lab serves stay links.
std::string follow_links(const std::string& xml, const std::string& follow, const ResolveLink& resolve);

}  // namespace she::lab
