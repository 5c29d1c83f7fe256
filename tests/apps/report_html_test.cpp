#include "apps/report_html.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "apps/report_assets.h"

namespace gpu_tune::app {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ReportHtml, EscapesTextForElementsAndAttributes) {
  EXPECT_EQ(html_escape(R"(<b a="1">'x' & y</b>)"), "&lt;b a=&quot;1&quot;&gt;&#39;x&#39; &amp; y&lt;/b&gt;");
}

TEST(ReportHtml, JsonInAScriptCannotEndTheScriptAndParsesBackTheSame) {
  const nlohmann::json data = {{"name", "</script><script>alert(1)</script><!-- & -->"}, {"x", 1.5}};
  const std::string text = json_for_script(data);
  EXPECT_EQ(text.find_first_of("<>&"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(text), data);
}

TEST(ReportHtml, JsonWithBytesThatAreNotUtf8IsStillWritten) {
  const std::string text = json_for_script({{"error", std::string("bad \xff byte")}});
  EXPECT_NE(text.find("bad "), std::string::npos);
  EXPECT_TRUE(nlohmann::json::parse(text).at("error").is_string());
}

TEST(ReportHtml, InlineScriptsCannotBeClosedFromInside) {
  EXPECT_EQ(inline_script("a = '</script>'; b = '</SCRIPT '"), "a = '<\\/script>'; b = '<\\/SCRIPT '");
  EXPECT_EQ(inline_script("x < y"), "x < y");
}

TEST(ReportHtml, FillsPlaceholdersOnceAndRefusesMissingOrUnusedValues) {
  EXPECT_EQ(fill_template("<{{A}}|{{B_2}}|{{ not }}|{x}>", {{"A", "{{B_2}}"}, {"B_2", "b"}}), "<{{B_2}}|b|{{ not }}|{x}>");
  EXPECT_THROW(fill_template("{{A}} {{B}}", {{"A", "a"}}), std::invalid_argument);
  EXPECT_THROW(fill_template("{{A}}", {{"A", "a"}, {"C", "c"}}), std::invalid_argument);
}

TEST(ReportHtml, ThePageCarriesTheLibraryTheDataAndTheEscapedTitle) {
  const std::string page = render_report_html({{"study", {{"name", "</script>"}}}}, "report: <study>");
  EXPECT_NE(page.find("<title>report: &lt;study&gt;</title>"), std::string::npos);
  EXPECT_NE(page.find(R"("name":"\u003c/script\u003e")"), std::string::npos);
  EXPECT_GT(report_charting_library().size(), 100000u);
  EXPECT_NE(page.find(report_charting_library().substr(0, 2000)), std::string::npos);
  // Only the template's own scripts end: the data and the library never close one.
  EXPECT_EQ(count(page, "</script"), count(std::string(report_template_html()), "</script"));
  // Nothing is fetched: no script or style sheet from elsewhere.
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
}

}  // namespace
}  // namespace gpu_tune::app
