#include "apps/report_html.h"

#include <nlohmann/json.hpp>  // dump

#include <cctype>
#include <set>
#include <stdexcept>

#include "apps/report_assets.h"

#ifndef GPU_TUNE_ECHARTS_VERSION
#define GPU_TUNE_ECHARTS_VERSION "unknown"  // set by cmake/ReportAssets.cmake
#endif

namespace gpu_tune::app {

std::string html_escape(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&#39;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

std::string json_for_script(const nlohmann::json& data) {
  // Outside strings JSON has none of these characters, so replacing them everywhere only
  // touches strings, where the \u form means the same character.
  const std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<': escaped += "\\u003c"; break;
      case '>': escaped += "\\u003e"; break;
      case '&': escaped += "\\u0026"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

std::string inline_script(std::string_view code) {
  static constexpr std::string_view kEnd = "</script";
  std::string safe;
  safe.reserve(code.size());
  for (size_t i = 0; i < code.size(); ++i) {
    bool end_tag = code.size() - i >= kEnd.size();
    for (size_t k = 0; end_tag && k < kEnd.size(); ++k)
      end_tag = std::tolower(static_cast<unsigned char>(code[i + k])) == kEnd[k];
    safe += code[i];
    if (end_tag) safe += '\\';  // "<" then "\/script"
  }
  return safe;
}

std::string fill_template(std::string_view page, const std::map<std::string, std::string>& values) {
  std::string filled;
  std::set<std::string> used;
  size_t at = 0;
  while (true) {
    const size_t open = page.find("{{", at);
    if (open == std::string_view::npos) break;
    const size_t close = page.find("}}", open + 2);
    std::string_view name = close == std::string_view::npos ? "" : page.substr(open + 2, close - open - 2);
    bool is_name = !name.empty();
    for (const unsigned char c : name) is_name = is_name && (std::isupper(c) || std::isdigit(c) || c == '_');
    if (!is_name) {  // not a placeholder: keep the braces as they are
      filled += page.substr(at, open + 2 - at);
      at = open + 2;
      continue;
    }
    const auto value = values.find(std::string(name));
    if (value == values.end()) throw std::invalid_argument("report template: no value for {{" + std::string(name) + "}}");
    filled += page.substr(at, open - at);
    filled += value->second;
    used.insert(value->first);
    at = close + 2;
  }
  filled += page.substr(at);
  for (const auto& [name, value] : values)
    if (!used.contains(name)) throw std::invalid_argument("report template: no {{" + name + "}} placeholder");
  return filled;
}

std::string render_report_html(const nlohmann::json& data, std::string_view title) {
  return fill_template(report_template_html(), {{"TITLE", html_escape(title)},
                                                {"DATA", json_for_script(data)},
                                                {"ECHARTS", inline_script(report_charting_library())},
                                                {"ECHARTS_VERSION", html_escape(GPU_TUNE_ECHARTS_VERSION)}});
}

}  // namespace gpu_tune::app
