#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "core/base/temporary_name.hpp"

using namespace certheal;

TEST_CASE("a temporary name is hidden, random, and does not end like the file it stands for", "[files]") {
    std::set<std::string> names;
    for (int index = 0; index < 200; ++index) {
        const auto name = temporary_name_for("certheal.prom");
        CHECK(name.rfind(".certheal.prom.certheal-", 0) == 0);
        CHECK(name.size() == std::string(".certheal.prom.certheal-").size() + 12);
        CHECK_FALSE(name.ends_with(".prom"));  // a collector reading *.prom never picks it up
        CHECK(is_temporary_name(name));
        CHECK(is_temporary_name_of(name, "certheal.prom"));
        CHECK_FALSE(is_temporary_name_of(name, "state.json"));
        names.insert(name);
    }
    CHECK(names.size() == 200);
}

TEST_CASE("only certheal's temporary names are taken for leftovers", "[files]") {
    CHECK(is_temporary_name(".state.json.certheal-AbCdEfGhIjKl"));
    CHECK_FALSE(is_temporary_name("state.json"));
    CHECK_FALSE(is_temporary_name(".state.json.certheal-short"));
    CHECK_FALSE(is_temporary_name(".state.json.certheal-AbCdEfGhIj!l"));
    CHECK_FALSE(is_temporary_name("state.json.certheal-AbCdEfGhIjKl"));  // not hidden: not ours
    CHECK_FALSE(is_temporary_name(".certheal-AbCdEfGhIjKl"));             // no file name in it
    CHECK(is_legacy_temporary_name("certheal.prom.tmp"));
    CHECK(is_legacy_temporary_name("state.json.tmp"));
    CHECK_FALSE(is_legacy_temporary_name("journal.jsonl"));
}
